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
  const number = (key: string) => (typeof meta[key] === "number" ? (meta[key] as number) : 0);
  const thoughts = number("thoughtsTokenCount");
  return {
    input: number("promptTokenCount") + number("toolUsePromptTokenCount"),
    output: number("candidatesTokenCount") + thoughts,
    cached: number("cachedContentTokenCount"),
    reasoning: thoughts,
  };
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
  parts.forEach((part, i) => {
    const at = `${where}.parts[${i}]`;
    if (!isObject(part)) throw badRequest(`${at} must be an object.`, at);
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
        throw badRequest(`${at}.inlineData needs mimeType and data.`, at);
      out.push({ type: "media", source: { kind: "base64", mediaType, data: inline.data } });
    } else if (isObject(file)) {
      const uri = field(file, "fileUri", "file_uri");
      const mediaType = field(file, "mimeType", "mime_type");
      if (typeof uri !== "string") throw badRequest(`${at}.fileData needs fileUri.`, at);
      out.push({
        type: "media",
        source: {
          kind: "url",
          url: uri,
          mediaType: typeof mediaType === "string" ? mediaType : undefined,
        },
      });
    } else if (isObject(call)) {
      if (typeof call.name !== "string") throw badRequest(`${at}.functionCall needs a name.`, at);
      out.push({
        type: "tool_call",
        id: typeof call.id === "string" && call.id !== "" ? call.id : "",
        name: call.name,
        arguments: argumentsText(call.args),
        signature,
      });
    } else if (isObject(response)) {
      if (typeof response.name !== "string")
        throw badRequest(`${at}.functionResponse needs a name.`, at);
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
          `${at}.${known[0]} must be ${known[0] === "text" ? "a string" : "an object"}.`,
          `${at}.${known[0]}`,
        );
    }
    // executableCode and codeExecutionResult run at Google and have no counterpart elsewhere.
  });
  return mergeThinking(out);
}

/** Adjacent thought parts are one piece of thinking; its signature may arrive on any of them (often an empty last one). */
function mergeThinking(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const part of parts) {
    const last = out.at(-1);
    if (part.type === "thinking" && last?.type === "thinking") {
      out[out.length - 1] = {
        type: "thinking",
        text: last.text + part.text,
        signature: part.signature ?? last.signature,
      };
    } else out.push(part);
  }
  return out;
}

/**
 * Gives every call an id and every response the id of its call: Gemini's own ids where it sent
 * them, otherwise the next unanswered call of the same name, in order.
 */
export function pairCallIds(turns: { parts: Part[] }[]): void {
  const unanswered: { id: string; name: string }[] = [];
  for (const turn of turns) {
    for (const part of turn.parts) {
      if (part.type === "tool_call") {
        if (part.id === "") part.id = newCallId();
        unanswered.push({ id: part.id, name: part.name });
      } else if (part.type === "tool_result") {
        const index =
          part.callId !== ""
            ? unanswered.findIndex((c) => c.id === part.callId)
            : unanswered.findIndex((c) => c.name === part.name);
        if (index >= 0) {
          part.callId = unanswered[index]!.id;
          unanswered.splice(index, 1);
        } else if (part.callId === "") part.callId = newCallId();
      }
    }
  }
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
export function geminiParts(
  parts: Part[],
  options: {
    signature: (opaque: Opaque | undefined) => string | undefined;
    thinking: boolean;
    media: (part: MediaPart) => unknown;
    callNames: Map<string, string>;
  },
): unknown[] {
  const out: unknown[] = [];
  /*
   * What a tool returned besides text (Claude Code's Read of a picture): a function response holds
   * JSON only, so the pictures follow the turn's function responses as parts of their own, which
   * every Gemini model reads (a function response's own `parts` only Gemini 3 does).
   */
  const toolMedia: unknown[] = [];
  const signed = (body: Record<string, unknown>, opaque: Opaque | undefined) => {
    const value = options.signature(opaque);
    return value === undefined ? body : { ...body, thoughtSignature: value };
  };
  for (const part of parts) {
    switch (part.type) {
      // A part with no text may still carry a signature (Gemini often signs an empty last part): it is kept for the signature.
      case "text":
        if (part.text !== "" || options.signature(part.signature) !== undefined)
          out.push(signed({ text: part.text }, part.signature));
        break;
      case "thinking":
        if (
          options.thinking &&
          (part.text !== "" || options.signature(part.signature) !== undefined)
        )
          out.push(signed({ text: part.text, thought: true }, part.signature));
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
          if (content.type === "media") toolMedia.push(options.media(content));
        break;
      case "redacted_thinking":
      // Only Anthropic can read its redacted thinking.
    }
  }
  out.push(...toolMedia);
  return out;
}
