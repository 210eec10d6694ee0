import { cutShort, offProtocol } from "../../failure.ts";
import { geminiEndpointPath } from "./endpoint.ts";
import type {
  ChatRequest,
  ChatResponse,
  MediaPart,
  Part,
  StopReason,
  StreamEvent,
  Usage,
} from "../../ir.ts";
import { issue, issuedBy } from "../opaque.ts";
import { withCallSignature } from "./reasoning-history.ts";
import { readJsonArray, readSse } from "../sse.ts";
import {
  clamp,
  EFFORT_BUDGET,
  failureFromBody,
  markers,
  mergeSameRoleTurns,
  newCallId,
  parseStreamJson,
  streamError,
} from "../shared.ts";
import { isObject } from "../json.ts";
import type { UpstreamCodec, ErrorBodyReading, UpstreamTarget } from "../codec.ts";
import { geminiMediaParts } from "./inline-media.ts";
import { hasParameters, schemaBudget, toGeminiSchema } from "./schema.ts";
import { groundedEvents, groundedParts, groundingOf } from "./grounding.ts";
import {
  fromGeminiFinish,
  fromGeminiUsage,
  geminiParts,
  pairAnswerCallIds,
  partsFromGemini,
} from "./wire.ts";

async function contentsFor(request: ChatRequest, target: UpstreamTarget) {
  const callNames = new Map<string, string>();
  const urlMedia: MediaPart[] = [];
  for (const turn of request.turns) {
    for (const part of turn.parts) {
      if (part.type === "tool_call") callNames.set(part.id, part.name);
      if (part.type === "media") urlMedia.push(part);
      if (part.type === "tool_result")
        for (const c of part.content) if (c.type === "media") urlMedia.push(c);
    }
  }
  const media = await geminiMediaParts(urlMedia, target.fetchMedia);
  const options = {
    signature: (opaque: Parameters<typeof issuedBy>[0]) =>
      issuedBy(opaque, target) ? opaque.value : undefined,
    thinking: true,
    media: (part: MediaPart) => media.get(part),
    callNames,
  };
  return (
    mergeSameRoleTurns(request.turns)
      .map((turn) => ({
        role: turn.role === "assistant" ? "model" : "user",
        // Thought parts go back only to the upstream that signed them.
        parts: geminiParts(
          turn.parts.filter((p) => p.type !== "thinking" || issuedBy(p.signature, target)),
          options,
        ),
      }))
      .filter((content) => content.parts.length > 0)
      // A call another upstream, model or account group made has no signature Gemini can verify.
      .map(withCallSignature)
  );
}

function generationConfig(request: ChatRequest): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (request.temperature !== undefined) config.temperature = clamp(request.temperature, 0, 2);
  if (request.topP !== undefined) config.topP = request.topP;
  if (request.topK !== undefined) config.topK = request.topK;
  if (request.maxTokens !== undefined) config.maxOutputTokens = request.maxTokens;
  if (request.stop?.length) config.stopSequences = request.stop.slice(0, 5);
  const format = request.responseFormat;
  if (format?.type === "json_object" || format?.type === "json_schema")
    config.responseMimeType = "application/json";
  if (format?.type === "json_schema")
    config.responseSchema = toGeminiSchema(format.schema, schemaBudget(), "the response format");
  const reasoning = request.reasoning;
  if (reasoning) {
    const budget =
      reasoning.effort === "none"
        ? 0
        : (reasoning.budgetTokens ??
          (reasoning.effort ? EFFORT_BUDGET[reasoning.effort] : undefined));
    config.thinkingConfig = {
      ...(budget !== undefined ? { thinkingBudget: budget } : {}),
      includeThoughts: reasoning.include && budget !== 0,
    };
  }
  return config;
}

/** Gemini's own search and fetch for the client's server tools (their domain and location filters it has no field for). */
function serverToolEntries(request: ChatRequest): Record<string, unknown>[] {
  const kinds = new Set((request.serverTools ?? []).map((tool) => tool.kind));
  return [
    ...(kinds.has("web_search") ? [{ googleSearch: {} }] : []),
    ...(kinds.has("web_fetch") ? [{ urlContext: {} }] : []),
  ];
}

function toolFields(request: ChatRequest): Record<string, unknown> {
  const server = serverToolEntries(request);
  if (request.tools.length === 0) return server.length > 0 ? { tools: server } : {};
  // One budget for all of them: the cap is on what the request as a whole makes levity build.
  const budget = schemaBudget();
  const declarations = request.tools.map((tool) => {
    const parameters = toGeminiSchema(tool.parameters, budget, `tool "${tool.name.slice(0, 64)}"`);
    return {
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      ...(hasParameters(parameters) ? { parameters } : {}),
    };
  });
  const fields: Record<string, unknown> = {
    tools: [{ functionDeclarations: declarations }, ...server],
  };
  const choice = request.toolChoice;
  // Gemini cannot be made to search: a choice of a server tool leaves the model to decide.
  if (choice?.type === "tool" && request.serverTools?.some((t) => t.name === choice.name))
    return fields;
  if (choice?.type === "none") fields.toolConfig = { functionCallingConfig: { mode: "NONE" } };
  else if (choice?.type === "required")
    fields.toolConfig = { functionCallingConfig: { mode: "ANY" } };
  else if (choice?.type === "tool")
    fields.toolConfig = {
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.name] },
    };
  return fields;
}

function systemInstruction(request: ChatRequest): Record<string, unknown> {
  const text = request.system.filter((s) => s !== "").join("\n\n");
  return text === "" ? {} : { systemInstruction: { parts: [{ text }] } };
}

/** Signatures in an upstream's answer belong to this attempt's issuer: upstream, account group, model family. */
// A function of the module's, not an arrow made for every answer.
function isToolCall(part: Part): boolean {
  return part.type === "tool_call";
}

function stampIssuer(parts: Part[], target: UpstreamTarget): Part[] {
  for (const part of parts) {
    if (
      (part.type === "thinking" || part.type === "text" || part.type === "tool_call") &&
      part.signature
    )
      part.signature = issue(target, part.signature.value);
  }
  return parts;
}

const FINISH_REASON = markers("finishReason");
const ARRAY_END = markers("]");

export const geminiUpstream: Readonly<UpstreamCodec> = {
  async buildRequest(request: ChatRequest, target: UpstreamTarget) {
    const body = {
      contents: await contentsFor(request, target),
      ...systemInstruction(request),
      ...toolFields(request),
      generationConfig: generationConfig(request),
    };
    const path = geminiEndpointPath({
      operation: "generate",
      model: request.model,
      stream: request.stream,
      apiVersion: target.apiVersion,
      // levity reads Gemini's streams as SSE; without alt=sse it would send one JSON array.
      query: request.stream ? new URLSearchParams({ alt: "sse" }) : undefined,
    });
    return { path, body };
  },

  async buildCountRequest(request: ChatRequest, target: UpstreamTarget) {
    const generateContentRequest = {
      model: `models/${request.model}`,
      contents: await contentsFor(request, target),
      ...systemInstruction(request),
      ...toolFields(request),
    };
    return {
      path: geminiEndpointPath({
        operation: "count-tokens",
        model: request.model,
        stream: false,
        apiVersion: target.apiVersion,
      }),
      body: { generateContentRequest },
    };
  },

  parseCount(body: unknown): number {
    return isObject(body) && typeof body.totalTokens === "number" ? body.totalTokens : 0;
  },

  parseResponse(body: unknown, target: UpstreamTarget): ChatResponse {
    if (!isObject(body)) throw offProtocol("the upstream's answer is not a JSON object");
    const candidate =
      Array.isArray(body.candidates) && isObject(body.candidates[0])
        ? body.candidates[0]
        : undefined;
    const content = candidate && isObject(candidate.content) ? candidate.content : {};
    const read = stampIssuer(
      partsFromGemini(content.parts ?? [], "candidates[0].content", "gemini"),
      target,
    );
    pairAnswerCallIds(read);
    const found = groundingOf(candidate);
    const parts = found ? groundedParts(read, found) : read;
    const blocked = !candidate && isObject(body.promptFeedback) && body.promptFeedback.blockReason;
    return {
      id: typeof body.responseId === "string" ? body.responseId : "gemini-response",
      model: typeof body.modelVersion === "string" ? body.modelVersion : "",
      created: Math.floor(Date.now() / 1000),
      parts,
      stop: blocked
        ? "content_filter"
        : fromGeminiFinish(candidate?.finishReason, parts.some(isToolCall)),
      usage: fromGeminiUsage(body.usageMetadata) ?? { input: 0, output: 0 },
    };
  },

  // The SSE form ends on the chunk with finishReason (and usage), the JSON array at its closing bracket.
  finalMarkers: (contentType) => (contentType.includes("json") ? ARRAY_END : FINISH_REASON),
  serverTools: ["web_search", "web_fetch"],
  serverToolsBesideFunctions: false,

  parseStream(
    body: AsyncIterable<Uint8Array>,
    target: UpstreamTarget,
    contentType: string,
    request?: ChatRequest,
  ) {
    return parseGeminiStream(body, target, contentType, (request?.serverTools?.length ?? 0) > 0);
  },

  parseError(text: string): ErrorBodyReading {
    return failureFromBody(text, (json) => {
      const error = isObject(json) ? json.error : undefined;
      if (!isObject(error) || typeof error.message !== "string") return undefined;
      // RetryInfo says how long the quota needs, e.g. "retryDelay": "30s".
      const retry = Array.isArray(error.details)
        ? error.details.find((d) => isObject(d) && typeof d.retryDelay === "string")
        : undefined;
      const seconds = isObject(retry) ? Number.parseFloat(String(retry.retryDelay)) : Number.NaN;
      return {
        message: error.message,
        retryAfter: Number.isFinite(seconds) ? Math.ceil(seconds) : undefined,
      };
    });
  },
};

async function* streamChunks(
  body: AsyncIterable<Uint8Array>,
  contentType: string,
): AsyncGenerator<unknown> {
  // Asked for ?alt=sse, but a Gemini-compatible upstream may still answer with the JSON-array form.
  if (contentType.includes("json")) {
    yield* readJsonArray(body);
    return;
  }
  for await (const sse of readSse(body)) yield parseStreamJson(sse.data);
}

/**
 * `grounded`: the request gave Gemini its search or fetch tool. Gemini says what it found only
 * after the text (groundingMetadata, on the last chunks), and a citation must arrive with the
 * text it cites, so the answer past its thinking is held and sent whole at the end.
 */
async function* parseGeminiStream(
  body: AsyncIterable<Uint8Array>,
  target: UpstreamTarget,
  contentType: string,
  grounded = false,
): AsyncGenerator<StreamEvent> {
  const held: Part[] = [];
  let found: ReturnType<typeof groundingOf>;
  const heldCalls = { next: 0 };
  let started = false;
  let usage: Usage = { input: 0, output: 0 };
  let finish: unknown;
  let calls = 0;
  let blocked = false;
  // The JSON-array form ends with its closing bracket, which a forwarded stream must still pass on.
  const framedAsArray = contentType.includes("json");
  for await (const chunk of streamChunks(body, contentType)) {
    if (!isObject(chunk)) continue;
    if (isObject(chunk.error)) {
      yield streamError(chunk.error);
      return;
    }
    if (!started) {
      started = true;
      yield {
        type: "start",
        id: String(chunk.responseId ?? "gemini-response"),
        model: String(chunk.modelVersion ?? ""),
        created: Math.floor(Date.now() / 1000),
        usage,
      };
    }
    const reported = fromGeminiUsage(chunk.usageMetadata);
    if (reported) {
      usage = reported;
      yield { type: "usage", usage };
    }
    const candidate =
      Array.isArray(chunk.candidates) && isObject(chunk.candidates[0])
        ? chunk.candidates[0]
        : undefined;
    if (!candidate && isObject(chunk.promptFeedback) && chunk.promptFeedback.blockReason)
      blocked = true;
    if (!candidate) continue;
    const content = isObject(candidate.content) ? candidate.content : {};
    const chunkGrounding = groundingOf(candidate);
    // Each chunk's metadata so far: the last one that says it wins.
    if (chunkGrounding)
      found = {
        grounding: chunkGrounding.grounding ?? found?.grounding,
        urlContext: chunkGrounding.urlContext ?? found?.urlContext,
      };
    for (const part of stampIssuer(
      partsFromGemini(content.parts ?? [], "candidates[0].content", "gemini"),
      target,
    )) {
      if (grounded && part.type !== "thinking") {
        if (part.type === "tool_call") {
          calls++;
          if (part.id === "") part.id = newCallId();
        }
        held.push(part);
      } else if (part.type === "thinking") {
        if (part.text !== "") yield { type: "thinking", text: part.text };
        if (part.signature) yield { type: "thinking_signature", signature: part.signature };
      } else if (part.type === "text") {
        if (part.text !== "" || part.signature)
          yield { type: "text", text: part.text, signature: part.signature };
      } else if (part.type === "media") {
        yield { type: "media", source: part.source };
      } else if (part.type === "tool_call") {
        const index = calls++;
        yield {
          type: "tool_call_start",
          index,
          id: part.id === "" ? newCallId() : part.id,
          name: part.name,
          signature: part.signature,
        };
        yield { type: "tool_call_delta", index, arguments: part.arguments };
        yield { type: "tool_call_end", index };
      }
    }
    if (candidate.finishReason) finish = candidate.finishReason;
    // Gemini has no end marker: the finishReason with the usage is its last chunk, and a body
    // that stays open after it (a proxy, an HTTP/2 hop) must not hold the answer back.
    if (finish !== undefined && reported && !framedAsArray) break;
  }
  if (!started || (finish === undefined && !blocked))
    throw cutShort("the upstream's stream ended before its finishReason");
  if (grounded) yield* groundedEvents(found ? groundedParts(held, found) : held, heldCalls);
  const stop: StopReason = blocked ? "content_filter" : fromGeminiFinish(finish, calls > 0);
  yield { type: "finish", stop, usage };
}
