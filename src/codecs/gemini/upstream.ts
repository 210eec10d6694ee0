import { cutShort, offProtocol } from "../../failure.ts";
import { geminiEndpointPath } from "./endpoint.ts";
import { GEMINI_DEFAULT_API_VERSION } from "./base-url.ts";
import type {
  ChatRequest,
  ChatResponse,
  MediaPart,
  Opaque,
  Part,
  StopReason,
  Usage,
} from "../../ir.ts";
import { issue, issuedBy } from "../opaque.ts";
import { withCallSignature } from "./reasoning-history.ts";
import {
  type ElementHandler,
  type Emit,
  type EventLimit,
  JsonArrayParser,
  type SseHandler,
  SseParser,
  type StreamParser,
} from "../sse.ts";
import {
  clamp,
  EFFORT_BUDGET,
  failureFromBody,
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

/** What contentsFor gives where a request has no media: one map, shared, never written. */
const NO_MEDIA: ReadonlyMap<MediaPart, unknown> = new Map();

/**
 * The request's turns as Gemini's contents, its media URLs fetched first where it has any. No
 * promise where it has none (most requests): buildRequest awaits the contents either way.
 */
function contentsFor(request: ChatRequest, target: UpstreamTarget): unknown[] | Promise<unknown[]> {
  // Made at the first call or media part: a map and a list a request without either (most).
  let callNames: Map<string, string> | undefined;
  let urlMedia: MediaPart[] | undefined;
  for (const turn of request.turns) {
    for (const part of turn.parts) {
      if (part.type === "tool_call") {
        callNames ??= new Map();
        callNames.set(part.id, part.name);
      }
      if (part.type === "media") {
        urlMedia ??= [];
        urlMedia.push(part);
      }
      if (part.type === "tool_result")
        for (const c of part.content)
          if (c.type === "media") {
            urlMedia ??= [];
            urlMedia.push(c);
          }
    }
  }
  const names = callNames ?? NO_CALL_NAMES;
  if (urlMedia === undefined) return contentsWith(request, target, NO_MEDIA, names);
  return contentsAfterMedia(urlMedia, request, target, names);
}

/**
 * contentsWith once the media is fetched. Its closure made here: in contentsFor, the variables it
 * took cost every request a scope, media or not.
 */
function contentsAfterMedia(
  urlMedia: MediaPart[],
  request: ChatRequest,
  target: UpstreamTarget,
  names: ReadonlyMap<string, string>,
): Promise<unknown[]> {
  return geminiMediaParts(urlMedia, target.fetchMedia).then((media) =>
    contentsWith(request, target, media, names),
  );
}

/** The call names of a request without calls: one map, shared, never written. */
const NO_CALL_NAMES: ReadonlyMap<string, string> = new Map();

function contentsWith(
  request: ChatRequest,
  target: UpstreamTarget,
  media: ReadonlyMap<MediaPart, unknown>,
  callNames: ReadonlyMap<string, string>,
): unknown[] {
  const options = new UpstreamParts(target, media, callNames);
  // One loop, not map, filter and map: three lists and three closures a request. Consecutive
  // turns of one role are one content (Gemini prefers alternation); a turn alone is read as it
  // is, where mergeSameRoleTurns made a list, a turn and a copy of its parts for every one.
  const contents: unknown[] = [];
  const turns = request.turns;
  for (let i = 0; i < turns.length; ) {
    const role = turns[i]!.role;
    let parts = turns[i]!.parts;
    let next = i + 1;
    if (next < turns.length && turns[next]!.role === role) {
      parts = [...parts];
      // Appended in place, one part at a time: N consecutive turns must not cost N^2.
      for (; next < turns.length && turns[next]!.role === role; next++)
        for (const part of turns[next]!.parts) parts.push(part);
    }
    i = next;
    const written = geminiParts(issuedThinking(parts, target), options);
    // A call another upstream, model or account group made has no signature Gemini can verify.
    if (written.length > 0)
      contents.push(
        withCallSignature({ role: role === "assistant" ? "model" : "user", parts: written }),
      );
  }
  return contents;
}

/**
 * Thought parts go back only to the upstream that signed them: the list as it is where none is
 * left out (most), a copy without them otherwise (the list may be the request's own).
 */
function issuedThinking(parts: Part[], target: UpstreamTarget): Part[] {
  let kept: Part[] | undefined;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const keep = part.type !== "thinking" || issuedBy(part.signature, target);
    if (kept) {
      if (keep) kept.push(part);
    } else if (!keep) kept = parts.slice(0, i);
  }
  return kept ?? parts;
}

/**
 * How geminiParts writes an upstream's parts: the signatures this attempt's issuer may send, and
 * the media as contentsFor made them. A class: its methods are made once, where an object of
 * closures made two functions and their scope for every request.
 */
class UpstreamParts {
  readonly thinking = true;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly mediaParts: ReadonlyMap<MediaPart, unknown>,
    readonly callNames: ReadonlyMap<string, string>,
  ) {}

  signature(opaque: Opaque | undefined): string | undefined {
    return issuedBy(opaque, this.target) ? opaque.value : undefined;
  }

  media(part: MediaPart): unknown {
    return this.mediaParts.get(part);
  }
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

/** What toolFields and systemInstruction give a request without any: one object, shared, never written. */
const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

function toolFields(request: ChatRequest): Readonly<Record<string, unknown>> {
  // Most requests have no tools: no set and lists made to find none.
  if (request.tools.length === 0 && !request.serverTools?.length) return NO_FIELDS;
  const server = serverToolEntries(request);
  if (request.tools.length === 0) return server.length > 0 ? { tools: server } : {};
  // One budget for all of them: the cap is on what the request as a whole makes levity build.
  const budget = schemaBudget();
  // A loop, not map: its closure took the budget, a scope for every request, tools or not.
  const declarations: unknown[] = [];
  for (const tool of request.tools) {
    const parameters = toGeminiSchema(tool.parameters, budget, `tool "${tool.name.slice(0, 64)}"`);
    declarations.push({
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      ...(hasParameters(parameters) ? { parameters } : {}),
    });
  }
  const fields: Record<string, unknown> = {
    tools: [{ functionDeclarations: declarations }, ...server],
  };
  const choice = request.toolChoice;
  // Gemini cannot be made to search: a choice of a server tool leaves the model to decide.
  if (choice?.type === "tool" && namesServerTool(request, choice.name)) return fields;
  if (choice?.type === "none") fields.toolConfig = { functionCallingConfig: { mode: "NONE" } };
  else if (choice?.type === "required")
    fields.toolConfig = { functionCallingConfig: { mode: "ANY" } };
  else if (choice?.type === "tool")
    fields.toolConfig = {
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.name] },
    };
  return fields;
}

/** Whether a server tool has the name (a loop: some's closure took the choice, a scope a request). */
function namesServerTool(request: ChatRequest, name: string): boolean {
  for (const tool of request.serverTools ?? []) if (tool.name === name) return true;
  return false;
}

function systemInstruction(request: ChatRequest): Readonly<Record<string, unknown>> {
  // The non-empty ones joined in a loop: filter made a list and a closure a request.
  let text = "";
  for (const part of request.system)
    if (part !== "") text = text === "" ? part : `${text}\n\n${part}`;
  return text === "" ? NO_FIELDS : { systemInstruction: { parts: [{ text }] } };
}

/** A generate request: its contents made (and any media fetched) already. */
function generateRequest(
  request: ChatRequest,
  target: UpstreamTarget,
  contents: unknown[],
): { path: string; body: unknown } {
  const body = {
    contents,
    ...systemInstruction(request),
    ...toolFields(request),
    generationConfig: generationConfig(request),
  };
  return { path: generatePath(request, target), body };
}

/**
 * geminiEndpointPath's path for a generate request, in three pieces: its call object and query,
 * the model's encoding where nothing in it needs one, and the joins of six pieces were six
 * objects and strings a request.
 */
function generatePath(request: ChatRequest, target: UpstreamTarget): string {
  const models =
    target.apiVersion === undefined ? DEFAULT_MODELS_PATH : `/${target.apiVersion}/models/`;
  const model = URI_SAFE.test(request.model) ? request.model : encodeURIComponent(request.model);
  // levity reads Gemini's streams as SSE; without alt=sse it would send one JSON array.
  return `${models}${model}${request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent"}`;
}

const DEFAULT_MODELS_PATH = `/${GEMINI_DEFAULT_API_VERSION}/models/`;
/** Characters encodeURIComponent leaves as they are (some of them). */
const URI_SAFE = /^[\w.~-]*$/;

/** generateRequest once the media is fetched: its closure here, not a scope every buildRequest. */
function requestAfterMedia(
  contents: Promise<unknown[]>,
  request: ChatRequest,
  target: UpstreamTarget,
): Promise<{ path: string; body: unknown }> {
  return contents.then((fetched) => generateRequest(request, target, fetched));
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

export const geminiUpstream: Readonly<UpstreamCodec> = {
  buildRequest(request: ChatRequest, target: UpstreamTarget) {
    const contents = contentsFor(request, target);
    // A promise only where media URLs are fetched first (UpstreamCodec.buildRequest).
    return Array.isArray(contents)
      ? generateRequest(request, target, contents)
      : requestAfterMedia(contents, request, target);
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

  serverTools: ["web_search", "web_fetch"],
  serverToolsBesideFunctions: false,
  fetchesMedia: true,

  streamParser(
    emit: Emit,
    target: UpstreamTarget,
    contentType: string,
    limit?: EventLimit,
    request?: ChatRequest,
  ): StreamParser {
    const grounded = (request?.serverTools?.length ?? 0) > 0;
    // Asked for ?alt=sse, but a Gemini-compatible upstream may still answer with the JSON-array form.
    if (contentType.includes("json"))
      return new JsonArrayParser(new GeminiStreamReading(emit, target, true, grounded), limit);
    return new SseParser(new GeminiStreamReading(emit, target, false, grounded), limit);
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

/**
 * `grounded`: the request gave Gemini its search or fetch tool. Gemini says what it found only
 * after the text (groundingMetadata, on the last chunks), and a citation must arrive with the
 * text it cites, so the answer past its thinking is held and sent whole at the end.
 */
class GeminiStreamReading implements SseHandler, ElementHandler {
  private readonly held: Part[] = [];
  private found: ReturnType<typeof groundingOf>;
  private readonly heldCalls = { next: 0 };
  private started = false;
  private usage: Usage = { input: 0, output: 0 };
  private finish: unknown;
  private calls = 0;
  private blocked = false;

  constructor(
    private readonly emit: Emit,
    private readonly target: UpstreamTarget,
    /** The JSON-array form ends with its closing bracket, which a forwarded stream must still pass on. */
    private readonly framedAsArray: boolean,
    private readonly grounded: boolean,
  ) {}

  event(data: string): boolean {
    return this.element(parseStreamJson(data));
  }

  element(chunk: unknown): boolean {
    const emit = this.emit;
    if (!isObject(chunk)) return false;
    if (isObject(chunk.error)) {
      emit(streamError(chunk.error));
      return true;
    }
    if (!this.started) {
      this.started = true;
      emit({
        type: "start",
        id: String(chunk.responseId ?? "gemini-response"),
        model: String(chunk.modelVersion ?? ""),
        created: Math.floor(Date.now() / 1000),
        usage: this.usage,
      });
    }
    const reported = fromGeminiUsage(chunk.usageMetadata);
    if (reported) {
      this.usage = reported;
      emit({ type: "usage", usage: reported });
    }
    const candidate =
      Array.isArray(chunk.candidates) && isObject(chunk.candidates[0])
        ? chunk.candidates[0]
        : undefined;
    if (!candidate && isObject(chunk.promptFeedback) && chunk.promptFeedback.blockReason)
      this.blocked = true;
    if (!candidate) return false;
    const content = isObject(candidate.content) ? candidate.content : {};
    const chunkGrounding = groundingOf(candidate);
    // Each chunk's metadata so far: the last one that says it wins.
    if (chunkGrounding)
      this.found = {
        grounding: chunkGrounding.grounding ?? this.found?.grounding,
        urlContext: chunkGrounding.urlContext ?? this.found?.urlContext,
      };
    for (const part of stampIssuer(
      partsFromGemini(content.parts ?? [], "candidates[0].content", "gemini"),
      this.target,
    )) {
      if (this.grounded && part.type !== "thinking") {
        if (part.type === "tool_call") {
          this.calls++;
          if (part.id === "") part.id = newCallId();
        }
        this.held.push(part);
      } else if (part.type === "thinking") {
        if (part.text !== "") emit({ type: "thinking", text: part.text });
        if (part.signature) emit({ type: "thinking_signature", signature: part.signature });
      } else if (part.type === "text") {
        if (part.text !== "" || part.signature)
          emit({ type: "text", text: part.text, signature: part.signature });
      } else if (part.type === "media") {
        emit({ type: "media", source: part.source });
      } else if (part.type === "tool_call") {
        const index = this.calls++;
        emit({
          type: "tool_call_start",
          index,
          id: part.id === "" ? newCallId() : part.id,
          name: part.name,
          signature: part.signature,
        });
        emit({ type: "tool_call_delta", index, arguments: part.arguments });
        emit({ type: "tool_call_end", index });
      }
    }
    if (candidate.finishReason) this.finish = candidate.finishReason;
    // Gemini has no end marker: the finishReason with the usage is its last chunk, and a body
    // that stays open after it (a proxy, an HTTP/2 hop) must not hold the answer back.
    if (this.finish !== undefined && reported && !this.framedAsArray) {
      this.ended();
      return true;
    }
    return false;
  }

  ended(): void {
    if (!this.started || (this.finish === undefined && !this.blocked))
      throw cutShort("the upstream's stream ended before its finishReason");
    if (this.grounded)
      for (const event of groundedEvents(
        this.found ? groundedParts(this.held, this.found) : this.held,
        this.heldCalls,
      ))
        this.emit(event);
    const stop: StopReason = this.blocked
      ? "content_filter"
      : fromGeminiFinish(this.finish, this.calls > 0);
    this.emit({ type: "finish", stop, usage: this.usage });
  }
}
