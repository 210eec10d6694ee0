import type { SkippableData } from "./sse-skim.ts";
import type { Emit, EventLimit, StreamParser } from "./sse.ts";
import type { StreamRenderer, Write } from "./stream-render.ts";
import type { FetchMedia } from "./gemini/inline-media.ts";
import type { ChatRequest, ChatResponse, Opaque, ServerToolKind } from "../ir.ts";
import type { UpstreamProtocol } from "./names.ts";
import type { ChatCompat } from "./openai-compatible/profiles.ts";
import type { JsonObject } from "./json.ts";

/*
 * The two halves every dialect implements over the one IR: the client half (its requests in, its
 * answers out) and the upstream half (IR requests out, its answers in).
 */

/** What rendering to the client needs besides the response itself. */
/** Server-Sent Events, or (Gemini without ?alt=sse) one incrementally written JSON array. */
export type StreamFraming = "sse" | "json-array";

export interface ClientContext {
  /** The client's request, parsed: which tools were custom, whether thinking was asked for, … */
  request: ChatRequest;
  /** OpenAI `stream_options.include_usage`: a final usage-only chunk. */
  includeUsage: boolean;
  /** How the client asked its stream to be framed (the dialect's streamFraming). */
  framing: StreamFraming;
  /** Responses API: the response's own id and the request's settings the response object reports. */
  responses?: ResponsesSettings;
}

/** What a Responses request asked for beyond the IR, as the Response object must echo it back. */
export interface ResponsesSettings {
  /** levity's own `resp_` id, minted per request: the id the client sees is the id the store keeps. */
  id: string;
  previousResponseId: string | null;
  store: boolean;
  instructions: string | null;
  includeEncryptedReasoning: boolean;
  presencePenalty: number;
  frequencyPenalty: number;
  topLogprobs: number;
  maxToolCalls: number | null;
  serviceTier: string;
  safetyIdentifier: string | null;
  promptCacheKey: string | null;
  user: string | null;
  metadata: Record<string, string>;
  truncation: "auto" | "disabled";
  /** reasoning.summary as asked ("auto", "concise", "detailed"); null when none was. */
  reasoningSummary: string | null;
  verbosity?: string;
}

/** The client side of a dialect: its requests in, its responses and streams out. */
export interface ClientCodec {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest;
  renderResponse(response: ChatResponse, ctx: ClientContext): unknown;
  /** The client's stream rendered event by event, each event's text written at once (stream-render.ts). */
  streamRenderer(ctx: ClientContext, write: Write): StreamRenderer;
  /** A count of the request's input tokens, as the dialect's count endpoint answers. */
  renderCount(tokens: number): unknown;
}

/** The upstream a request is built for: signatures go back only to the upstream that issued them. */
export interface UpstreamTarget {
  name: string;
  /** Who this attempt's signatures come from and go to: upstream, account group, model family (opaque.ts issuerOf). */
  issuer: string;
  /** Told of each signature the upstream's answer holds, for a same-dialect answer levity does not rewrap. */
  onIssued?: (opaque: Opaque) => void;
  protocol: UpstreamProtocol;
  baseUrl: string;
  /** Gemini's API version segment. */
  apiVersion?: string;
  /** How an OpenAI-compatible upstream's chat dialect differs from OpenAI's. */
  compat?: ChatCompat;
  /** What levity adds for the upstream's prompt cache (gateway.yaml's prompt_cache). */
  promptCache?: PromptCacheSettings;
  /** How a codec that inlines media URLs (Gemini) gets their bytes: the caller's I/O, not the codec's. */
  fetchMedia?: FetchMedia;
}

export interface PromptCacheSettings {
  /** Anthropic: breakpoints for a request that carries none (a client that cannot say them). */
  autoBreakpoints: boolean;
  /** OpenAI: send the request's prompt_cache_key (only upstreams that accept the field). */
  cacheKey: boolean;
}

/** What an upstream's error body says, as its dialect writes it: not a failure yet (see pipeline/answer-failure.ts). */
export interface ErrorBodyReading {
  message: string;
  /** Seconds, from the body where the dialect puts it there (Gemini's RetryInfo). */
  retryAfter?: number;
}

/** The upstream side of a dialect: IR requests out, its responses and streams in. */
export interface UpstreamCodec {
  /**
   * The path under the upstream's base URL (with query) and the JSON body. A promise only where
   * building it waits for something (Gemini's media fetches): an async function that awaits
   * nothing cost every request a promise and its generator.
   */
  buildRequest(
    request: ChatRequest,
    target: UpstreamTarget,
  ): { path: string; body: unknown } | Promise<{ path: string; body: unknown }>;
  parseResponse(body: unknown, target: UpstreamTarget): ChatResponse;
  /**
   * A parser for the upstream's stream, pushed each chunk as it arrives, handing its events to
   * `emit` as it reads them (sse.ts). Its push says where the dialect's final event ended, so a
   * forwarded stream stops there.
   */
  streamParser(
    emit: Emit,
    target: UpstreamTarget,
    contentType: string,
    limit?: Readonly<EventLimit>,
    /** The request the stream answers (what it asked for may change how the answer is read). */
    request?: ChatRequest,
  ): StreamParser;
  /**
   * After the commit point of a same-dialect SSE stream, whether an event whose one data line
   * holds these bytes may go unread (sse-skim.ts): a plain delta that carries no usage, error,
   * end or value the answer issues, and is valid JSON. Only for a dialect whose parser reads
   * nothing from an event's `event:` line. Absent: every event is read.
   */
  skippableData?: SkippableData;
  parseError(text: string): ErrorBodyReading;
  /** The dialect's own token-count endpoint, where it has one. */
  buildCountRequest?(
    request: ChatRequest,
    target: UpstreamTarget,
  ): Promise<{ path: string; body: unknown }>;
  parseCount?(body: unknown): number;
  /** The server tools (web search, web fetch) the upstream runs itself; absent: none. */
  serverTools?: readonly ServerToolKind[];
  /**
   * false: it runs them only in a request with no function tools (Gemini refuses googleSearch
   * beside functionDeclarations, "Tool use with function calling is unsupported by the model").
   */
  serverToolsBesideFunctions?: boolean;
  /**
   * Whether the upstream takes back, as its own blocks, the server tool calls and results it
   * issued (Anthropic's server_tool_use, with encrypted content); other upstreams read them as text.
   */
  takesServerBlocks?: boolean;
  /**
   * Whether its requests are built with the target's fetchMedia (Gemini inlines media URLs);
   * absent: it never calls it, and an attempt makes none.
   */
  fetchesMedia?: boolean;
}
