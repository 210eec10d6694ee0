import {
  isResultContent,
  type MediaPart,
  type Opaque,
  type Part,
  type StopReason,
  type TextPart,
  type ToolResultPart,
  type Usage,
} from "../../ir.ts";
import { decodeOpaque } from "../opaque.ts";
import { cacheControl, markPart } from "../cache-marks.ts";
import { argumentsObject, argumentsText, badRequest } from "../shared.ts";
import { isObject } from "../json.ts";
import {
  citationBlock,
  citationsFrom,
  clientIssuer,
  type Issuer,
  serverBlock,
  serverPartFrom,
} from "./server-tools.ts";

/* What the Anthropic client and upstream halves share: content blocks, stop reasons, usage. */

export const TO_ANTHROPIC_STOP: Readonly<Record<StopReason, string>> = {
  end: "end_turn",
  stop_sequence: "stop_sequence",
  length: "max_tokens",
  tool_use: "tool_use",
  content_filter: "refusal",
  pause: "pause_turn",
};

export function fromAnthropicStop(reason: unknown): StopReason {
  switch (reason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_use";
    case "stop_sequence":
      return "stop_sequence";
    case "refusal":
      return "content_filter";
    case "pause_turn":
      return "pause";
    default:
      return "end";
  }
}

/** Anthropic's input_tokens excludes cache reads and writes; the IR's input includes them. */
export function toAnthropicUsage(usage: Usage) {
  const cached = usage.cached ?? 0;
  const written = usage.cacheWrite ?? 0;
  return {
    input_tokens: Math.max(0, usage.input - cached - written),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
    output_tokens: usage.output,
  };
}

export function fromAnthropicUsage(usage: unknown, previous?: Usage): Usage {
  if (!isObject(usage)) return previous ?? { input: 0, output: 0 };
  const cached = numberAt(usage, "cache_read_input_tokens") ?? previous?.cached ?? 0;
  const written = numberAt(usage, "cache_creation_input_tokens") ?? previous?.cacheWrite ?? 0;
  const input = numberAt(usage, "input_tokens");
  const server = isObject(usage.server_tool_use) ? usage.server_tool_use : undefined;
  const searches =
    typeof server?.web_search_requests === "number"
      ? server.web_search_requests
      : previous?.webSearches;
  // Fields set, not spread from an object made for it; no closure or empty object per answer either.
  const read: Usage = {
    input: input !== undefined ? input + cached + written : (previous?.input ?? 0),
    output: numberAt(usage, "output_tokens") ?? previous?.output ?? 0,
    cached,
    cacheWrite: written,
  };
  if (searches !== undefined) read.webSearches = searches;
  return read;
}

function numberAt(usage: Record<string, unknown>, key: string): number | undefined {
  const value = usage[key];
  return typeof value === "number" ? value : undefined;
}

function mediaFromSource(source: unknown, where: string): MediaPart {
  if (!isObject(source)) throw badRequest(`${where}.source must be an object.`, `${where}.source`);
  if (
    source.type === "base64" &&
    typeof source.data === "string" &&
    typeof source.media_type === "string"
  ) {
    return {
      type: "media",
      source: { kind: "base64", mediaType: source.media_type, data: source.data },
    };
  }
  if (source.type === "url" && typeof source.url === "string")
    return { type: "media", source: { kind: "url", url: source.url } };
  throw badRequest(
    `${where}.source: levity accepts base64 and url sources (files uploaded to Anthropic stay there).`,
    `${where}.source`,
  );
}

/**
 * Content blocks (a request's or a response's) as IR parts. `upstream` names the upstream whose
 * answer they are, which issued their opaque values; a client's are read as the client sent them.
 */
export function partsFromBlocks(content: unknown, where: string, upstream?: string): Part[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) throw badRequest(`${where}: Input should be a valid list`, where);
  const parts: Part[] = [];
  // A loop, each block's place named only where it is needed, and the issuer made only for a block
  // that carries opaque values: a closure and scope per list, and a string and closure per call,
  // were made for nothing for every message of every request and every answer.
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i];
    if (!isObject(block))
      throw badRequest(`${blockAt(where, i)}: Input should be an object`, blockAt(where, i));
    const before = parts.length;
    switch (block.type) {
      case "text":
        if (typeof block.text !== "string")
          throw badRequest(
            `${blockAt(where, i)}.text: Field required`,
            `${blockAt(where, i)}.text`,
          );
        parts.push(textPart(block.text, block.citations, upstream));
        break;
      case "image":
      case "document":
        parts.push(mediaFromSource(block.source, blockAt(where, i)));
        break;
      case "tool_use":
        if (typeof block.id !== "string" || typeof block.name !== "string")
          throw badRequest(`${blockAt(where, i)}: tool_use needs id and name`, blockAt(where, i));
        parts.push({
          type: "tool_call",
          id: block.id,
          name: block.name,
          arguments: argumentsText(block.input),
        });
        break;
      case "tool_result": {
        if (typeof block.tool_use_id !== "string")
          throw badRequest(
            `${blockAt(where, i)}.tool_use_id: Field required`,
            `${blockAt(where, i)}.tool_use_id`,
          );
        const inner =
          block.content === undefined
            ? []
            : partsFromBlocks(block.content, `${blockAt(where, i)}.content`);
        const result: ToolResultPart = {
          type: "tool_result",
          callId: block.tool_use_id,
          content: inner.filter(isResultContent),
          isError: block.is_error === true,
        };
        parts.push(result);
        break;
      }
      case "thinking":
        parts.push({
          type: "thinking",
          text: typeof block.thinking === "string" ? block.thinking : "",
          signature:
            typeof block.signature === "string" && block.signature !== ""
              ? decodeOpaque(block.signature, "anthropic")
              : undefined,
        });
        break;
      case "redacted_thinking":
        if (typeof block.data === "string")
          parts.push({ type: "redacted_thinking", data: decodeOpaque(block.data, "anthropic") });
        break;
      default: {
        // Server tools' calls and results (web search, web fetch); other unknown blocks carry nothing.
        const server = serverPartFrom(block, issuerFor(upstream), upstream);
        if (server) parts.push(server);
      }
    }
    markPart(parts[before], block.cache_control);
  }
  return parts;
}

function blockAt(where: string, i: number): string {
  return `${where}.${i}`;
}

/** Who an opaque value in the blocks comes from: the upstream that answered, or (unset) as the client wrapped it. */
function issuerFor(upstream: string | undefined): Issuer {
  return upstream ? (value) => ({ issuer: upstream, value }) : clientIssuer;
}

/** A text block's part, its citations (web search's) only where it has some. */
function textPart(text: string, citations: unknown, upstream: string | undefined): Part {
  const cited = citations === undefined ? undefined : citationsFrom(citations, issuerFor(upstream));
  return cited ? { type: "text", text, citations: cited } : { type: "text", text };
}

export function mediaBlock(part: MediaPart) {
  const source = part.source;
  const document =
    (source.kind === "base64" ? source.mediaType : (source.mediaType ?? "")) === "application/pdf";
  const type = document ? "document" : "image";
  if (source.kind === "base64")
    return { type, source: { type: "base64", media_type: source.mediaType, data: source.data } };
  return { type, source: { type: "url", url: source.url } };
}

/** A text part's block, with its citations where it has any the receiver can read. */
function textBlock(
  part: TextPart,
  signature: (opaque: Opaque | undefined) => string | undefined,
): Record<string, unknown> {
  const citations = part.citations;
  // No empty object to spread, nor a closure, for a text without citations (nearly every one):
  // the closures live in citedBlock, where here they took `signature`, a scope every text block.
  return (
    (citations && citedBlock(part.text, citations, signature)) ?? {
      type: "text",
      text: part.text,
    }
  );
}

/** A cited text's block; undefined unless the receiver can read every citation's encrypted index (an upstream refuses others). */
function citedBlock(
  text: string,
  citations: NonNullable<TextPart["citations"]>,
  signature: (opaque: Opaque | undefined) => string | undefined,
): Record<string, unknown> | undefined {
  if (!citations.every((c) => signature(c.encryptedIndex) !== undefined)) return undefined;
  const encode = encoderOf(signature);
  return { type: "text", text, citations: citations.map((c) => citationBlock(c, encode)) };
}

/** `signature`, writing "" for a value it drops: made only for the blocks that take one. */
function encoderOf(
  signature: (opaque: Opaque | undefined) => string | undefined,
): (opaque: Opaque | undefined) => string {
  return (opaque) => signature(opaque) ?? "";
}

/**
 * IR parts as content blocks. `signature` decides what becomes of opaque values: encoded for a
 * client, passed raw to the upstream that issued them, or dropped (undefined) with their block.
 */
export function blocksFromParts(
  parts: Part[],
  signature: (opaque: Opaque | undefined) => string | undefined,
  options: { thinking: boolean },
): unknown[] {
  const blocks: unknown[] = [];
  for (const part of parts) {
    const before = blocks.length;
    switch (part.type) {
      case "text":
        if (part.text !== "") blocks.push(textBlock(part, signature));
        break;
      case "media":
        blocks.push(mediaBlock(part));
        break;
      case "server_tool_call":
      case "server_tool_result":
        blocks.push(serverBlock(part, encoderOf(signature)));
        break;
      case "tool_call":
        blocks.push({
          type: "tool_use",
          id: part.id,
          name: part.name,
          input: argumentsObject(part.arguments),
        });
        break;
      case "tool_result": {
        const content = part.content
          .map((c) => (c.type === "text" ? { type: "text", text: c.text } : mediaBlock(c)))
          .filter((c) => c.type !== "text" || (c as { text: string }).text !== "");
        blocks.push({
          type: "tool_result",
          tool_use_id: part.callId,
          content,
          ...(part.isError ? { is_error: true } : {}),
        });
        break;
      }
      case "thinking": {
        if (!options.thinking) break;
        const value = signature(part.signature);
        if (value !== undefined)
          blocks.push({ type: "thinking", thinking: part.text, signature: value });
        break;
      }
      case "redacted_thinking": {
        if (!options.thinking) break;
        const value = signature(part.data);
        if (value !== undefined) blocks.push({ type: "redacted_thinking", data: value });
        break;
      }
    }
    const block = blocks[before] as Record<string, unknown> | undefined;
    if (block && "cache" in part && part.cache) block.cache_control = cacheControl(part.cache);
  }
  return blocks;
}
