import type { MediaPart, Opaque, Part, StopReason, ToolResultPart, Usage } from "../../ir.ts";
import { decodeOpaque } from "../opaque.ts";
import { argumentsObject, argumentsText, badRequest, newCallId } from "../shared.ts";
import { isObject } from "../json.ts";

/* What the Gemini client and upstream halves share: parts, finish reasons, usage. */

export const TO_GEMINI_FINISH: Readonly<Record<StopReason, string>> = {
  end: "STOP",
  stop_sequence: "STOP",
  tool_use: "STOP",
  pause: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
};

const FILTERED: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION",
  "IMAGE_OTHER",
]);

/** Gemini has no tool-use reason: a function call ends with STOP and carries functionCall parts. */
export function fromGeminiFinish(reason: unknown, calledTools: boolean): StopReason {
  if (reason === "MAX_TOKENS") return "length";
  if (typeof reason === "string" && FILTERED.has(reason)) return "content_filter";
  return calledTools ? "tool_use" : "end";
}

/** Proto3 JSON: requests may use lowerCamelCase or snake_case field names. */
export function field(object: Record<string, unknown>, camel: string, snake: string): unknown {
  return object[camel] !== undefined ? object[camel] : object[snake];
}

export function toGeminiUsage(usage: Usage) {
  const reasoning = usage.reasoning ?? 0;
  return {
    promptTokenCount: usage.input,
    candidatesTokenCount: Math.max(0, usage.output - reasoning),
    ...(reasoning > 0 ? { thoughtsTokenCount: reasoning } : {}),
    ...(usage.cached ? { cachedContentTokenCount: usage.cached } : {}),
    totalTokenCount: usage.input + usage.output,
  };
}

/** Gemini's candidatesTokenCount excludes thoughts; the IR's output includes them. */
export function fromGeminiUsage(meta: unknown): Usage | undefined {
  if (!isObject(meta)) return undefined;
  const thoughts = count(meta, "thoughtsTokenCount");
  return {
    input: count(meta, "promptTokenCount") + count(meta, "toolUsePromptTokenCount"),
    output: count(meta, "candidatesTokenCount") + thoughts,
    cached: count(meta, "cachedContentTokenCount"),
    reasoning: thoughts,
  };
}

/** A usage count, 0 where absent (a function of the module's: a closure was a function and scope per answer). */
function count(meta: Record<string, unknown>, key: string): number {
  const value = meta[key];
  return typeof value === "number" ? value : 0;
}

/** A function's response as tool-result content: plain text stays text, anything else is its JSON. */
export function resultFromResponse(response: unknown): {
  content: ToolResultPart["content"];
  isError: boolean;
} {
  if (isObject(response)) {
    const keys = Object.keys(response);
    if (keys.length === 1 && typeof response.error === "string")
      return { content: [{ type: "text", text: response.error }], isError: true };
    for (const key of ["result", "output", "content"]) {
      if (keys.length === 1 && typeof response[key] === "string")
        return { content: [{ type: "text", text: response[key] as string }], isError: false };
    }
  }
  return { content: [{ type: "text", text: JSON.stringify(response ?? {}) }], isError: false };
}

/** Tool-result content as a function response: Gemini wants an object, so text is wrapped unless it is a JSON object. */
export function responseFromResult(part: ToolResultPart): Record<string, unknown> {
  // Its pictures are parts of their own (see geminiParts): the response holds the text.
  const text = part.content
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
  if (!part.isError) {
    try {
      const parsed = JSON.parse(text);
      if (isObject(parsed)) return parsed;
    } catch {
      // plain text
    }
  }
  return part.isError ? { error: text } : { result: text };
}

/**
 * Gemini parts as IR parts. Calls without an id get one; the caller pairs function responses
 * with calls by name and order where Gemini gave no ids.
 */
export function partsFromGemini(parts: unknown, where: string, signatureProtocol: string): Part[] {
  if (!Array.isArray(parts))
    throw badRequest(`${where}.parts must be a list of parts.`, `${where}.parts`);
  const out: Part[] = [];
  // A loop, and the part's place named only in an error: a closure and its scope for each list,
  // and a string for each part, were made for nothing on every answer and request.
  for (let i = 0; i < parts.length; i++) {
    const part: unknown = parts[i];
    if (!isObject(part))
      throw badRequest(`${partAt(where, i)} must be an object.`, partAt(where, i));
    const rawSignature = field(part, "thoughtSignature", "thought_signature");
    const signature: Opaque | undefined =
      typeof rawSignature === "string" && rawSignature !== ""
        ? decodeOpaque(rawSignature, signatureProtocol)
        : undefined;
    const inline = field(part, "inlineData", "inline_data");
    const file = field(part, "fileData", "file_data");
    const call = field(part, "functionCall", "function_call");
    const response = field(part, "functionResponse", "function_response");
    if (typeof part.text === "string") {
      if (part.thought === true) out.push({ type: "thinking", text: part.text, signature });
      else out.push({ type: "text", text: part.text, signature });
    } else if (isObject(inline)) {
      const mediaType = field(inline, "mimeType", "mime_type");
      if (typeof mediaType !== "string" || typeof inline.data !== "string")
        throw badRequest(
          `${partAt(where, i)}.inlineData needs mimeType and data.`,
          partAt(where, i),
        );
      out.push({ type: "media", source: { kind: "base64", mediaType, data: inline.data } });
    } else if (isObject(file)) {
      const uri = field(file, "fileUri", "file_uri");
      const mediaType = field(file, "mimeType", "mime_type");
      if (typeof uri !== "string")
        throw badRequest(`${partAt(where, i)}.fileData needs fileUri.`, partAt(where, i));
      out.push({
        type: "media",
        source: {
          kind: "url",
          url: uri,
          mediaType: typeof mediaType === "string" ? mediaType : undefined,
        },
      });
    } else if (isObject(call)) {
      if (typeof call.name !== "string")
        throw badRequest(`${partAt(where, i)}.functionCall needs a name.`, partAt(where, i));
      out.push({
        type: "tool_call",
        id: typeof call.id === "string" && call.id !== "" ? call.id : "",
        name: call.name,
        arguments: argumentsText(call.args),
        signature,
      });
    } else if (isObject(response)) {
      if (typeof response.name !== "string")
        throw badRequest(`${partAt(where, i)}.functionResponse needs a name.`, partAt(where, i));
      const result = resultFromResponse(response.response);
      out.push({
        type: "tool_result",
        callId: typeof response.id === "string" ? response.id : "",
        name: response.name,
        ...result,
      });
    } else {
      // A part this gateway knows, of the wrong type, is the client's mistake, not an empty part.
      const known = Object.entries({
        text: part.text,
        inlineData: inline,
        fileData: file,
        functionCall: call,
        functionResponse: response,
      }).find(([, value]) => value !== undefined && value !== null);
      if (known)
        throw badRequest(
          `${partAt(where, i)}.${known[0]} must be ${known[0] === "text" ? "a string" : "an object"}.`,
          `${partAt(where, i)}.${known[0]}`,
        );
    }
    // executableCode and codeExecutionResult run at Google and have no counterpart elsewhere.
  }
  return mergeThinking(out);
}

function partAt(where: string, i: number): string {
  return `${where}.parts[${i}]`;
}

/** Adjacent thought parts are one piece of thinking; its signature may arrive on any of them (often an empty last one). */
function mergeThinking(parts: Part[]): Part[] {
  // In place (the list is partsFromGemini's own): a second list for every answer was an array for nothing.
  let kept = 0;
  for (const part of parts) {
    const last = kept > 0 ? parts[kept - 1] : undefined;
    if (part.type === "thinking" && last?.type === "thinking") {
      parts[kept - 1] = {
        type: "thinking",
        text: last.text + part.text,
        signature: part.signature ?? last.signature,
      };
    } else parts[kept++] = part;
  }
  parts.length = kept;
  return parts;
}

/**
 * Gives every call an id and every response the id of its call: Gemini's own ids where it sent
 * them, otherwise the next unanswered call of the same name, in order.
 */
export function pairCallIds(turns: { parts: Part[] }[]): void {
  const unanswered: Unanswered[] = [];
  for (const turn of turns) pairIn(turn.parts, unanswered);
}

/** As pairCallIds, for one answer's parts (no list of one turn made around them). */
export function pairAnswerCallIds(parts: Part[]): void {
  // An answer without calls or results (most) has nothing to pair: no list made for it.
  for (const part of parts)
    if (part.type === "tool_call" || part.type === "tool_result") {
      pairIn(parts, []);
      return;
    }
}

interface Unanswered {
  id: string;
  name: string;
}

// No closure over the part: one capturing it gave every part of every turn a scope of its own.
function pairIn(parts: Part[], unanswered: Unanswered[]): void {
  for (const part of parts) {
    if (part.type === "tool_call") {
      if (part.id === "") part.id = newCallId();
      unanswered.push({ id: part.id, name: part.name });
    } else if (part.type === "tool_result") {
      const index = unansweredIndex(unanswered, part);
      if (index >= 0) {
        part.callId = unanswered[index]!.id;
        unanswered.splice(index, 1);
      } else if (part.callId === "") part.callId = newCallId();
    }
  }
}

/** The first unanswered call with the result's id, or with its name where it has no id; -1 if none. */
function unansweredIndex(unanswered: Unanswered[], part: ToolResultPart): number {
  for (let i = 0; i < unanswered.length; i++) {
    const call = unanswered[i]!;
    if (part.callId !== "" ? call.id === part.callId : call.name === part.name) return i;
  }
  return -1;
}

/** Media as a client sees it from Gemini: inline data, or a file reference. */
export function clientMediaPart(part: MediaPart): unknown {
  const source = part.source;
  return source.kind === "base64"
    ? { inlineData: { mimeType: source.mediaType, data: source.data } }
    : { fileData: { mimeType: source.mediaType, fileUri: source.url } };
}

/**
 * IR parts as Gemini parts. `signature` decides what becomes of opaque values: encoded for a
 * client, passed raw to the upstream that issued them, or dropped (undefined).
 */
export function geminiParts(parts: Part[], options: GeminiPartOptions): unknown[] {
  const out: unknown[] = [];
  /*
   * What a tool returned besides text (Claude Code's Read of a picture): a function response holds
   * JSON only, so the pictures follow the turn's function responses as parts of their own, which
   * every Gemini model reads (a function response's own `parts` only Gemini 3 does). Made only
   * for a turn that has some: a list a turn was made for nothing.
   */
  let toolMedia: unknown[] | undefined;
  for (const part of parts) {
    switch (part.type) {
      // A part with no text may still carry a signature (Gemini often signs an empty last part): it is kept for the signature.
      case "text":
        if (part.text !== "" || options.signature(part.signature) !== undefined)
          out.push(signed({ text: part.text }, part.signature, options));
        break;
      case "thinking":
        if (
          options.thinking &&
          (part.text !== "" || options.signature(part.signature) !== undefined)
        )
          out.push(signed({ text: part.text, thought: true }, part.signature, options));
        break;
      case "media":
        out.push(options.media(part));
        break;
      case "tool_call":
        out.push(
          signed(
            {
              functionCall: { id: part.id, name: part.name, args: argumentsObject(part.arguments) },
            },
            part.signature,
            options,
          ),
        );
        break;
      case "tool_result":
        out.push({
          functionResponse: {
            id: part.callId,
            name: part.name ?? options.callNames.get(part.callId) ?? "unknown_function",
            response: responseFromResult(part),
          },
        });
        for (const content of part.content)
          if (content.type === "media") {
            toolMedia ??= [];
            toolMedia.push(options.media(content));
          }
        break;
      case "redacted_thinking":
      // Only Anthropic can read its redacted thinking.
    }
  }
  if (toolMedia) out.push(...toolMedia);
  return out;
}

/** How geminiParts writes a turn's parts, for a client or for an upstream. */
export interface GeminiPartOptions {
  signature(opaque: Opaque | undefined): string | undefined;
  thinking: boolean;
  media(part: MediaPart): unknown;
  callNames: ReadonlyMap<string, string>;
}

/** A part with the signature it may carry (a function of the module's, not a closure a turn). */
function signed(
  body: Record<string, unknown>,
  opaque: Opaque | undefined,
  options: GeminiPartOptions,
): Record<string, unknown> {
  const value = options.signature(opaque);
  return value === undefined ? body : { ...body, thoughtSignature: value };
}
