/*
 * The shared intermediate representation every codec parses into and renders from.
 * It carries what any dialect can say. Opaque things (signatures, ids) are carried, never invented.
 */

/**
 * Data only the upstream that produced it understands: Anthropic thinking signatures and
 * redacted thinking, Gemini thought signatures, OpenAI encrypted reasoning. `issuer` is the
 * upstream's name, or `protocol:<protocol>` when a client sent it back without saying which
 * upstream made it; it is returned only to a matching upstream.
 */
export interface Opaque {
  issuer: string;
  value: string;
}

/**
 * A prompt-cache breakpoint (Anthropic's `cache_control`): the prompt up to and including the
 * item it sits on may be cached. Only Anthropic upstreams are told; the others cache by prefix.
 */
export interface CacheMark {
  ttl?: "5m" | "1h";
}

export type MediaSource =
  | { kind: "base64"; mediaType: string; data: string }
  | { kind: "url"; url: string; mediaType?: string };

export interface TextPart {
  type: "text";
  text: string;
  /** Gemini may sign any part. */
  signature?: Opaque;
  cache?: CacheMark;
  /** Web sources this text rests on (a server tool's results): the whole part cites each. */
  citations?: Citation[];
}

/** A source cited by text, as web search results give them. */
export interface Citation {
  url: string;
  title?: string;
  /** The words of the source the text rests on, where the upstream says. */
  citedText?: string;
  /** Anthropic's encrypted_index: only the upstream that issued it can read it. */
  encryptedIndex?: Opaque;
}

/** An image, or a document such as a PDF: whatever the dialect carries inline or by URL. */
export interface MediaPart {
  type: "media";
  source: MediaSource;
  cache?: CacheMark;
}

export interface ToolCallPart {
  type: "tool_call";
  id: string;
  name: string;
  /** The arguments as JSON text (an object). */
  arguments: string;
  signature?: Opaque;
  cache?: CacheMark;
}

export interface ToolResultPart {
  type: "tool_result";
  callId: string;
  /** The tool's name where the dialect says it (Gemini); otherwise found from the call. */
  name?: string;
  content: (TextPart | MediaPart)[];
  isError: boolean;
  cache?: CacheMark;
}

export interface ThinkingPart {
  type: "thinking";
  text: string;
  signature?: Opaque;
}

export interface RedactedThinkingPart {
  type: "redacted_thinking";
  data: Opaque;
}

/**
 * A tool the provider runs itself (web search, web fetch): its call, already made at the upstream.
 * `input` is the JSON text of its arguments ({query} or {url}).
 */
export interface ServerToolCallPart {
  type: "server_tool_call";
  id: string;
  name: string;
  kind: ServerToolKind;
  input: string;
  /** The upstream that ran it: only it can take the call back as its own block. */
  issuer?: string;
}

/** One page a web search or fetch found. */
export interface WebResult {
  url: string;
  title?: string;
  /** How old the page is, in the upstream's words ("2 days ago", a date). */
  pageAge?: string;
  /** Anthropic's encrypted_content: the page as only that upstream can read it. */
  encrypted?: Opaque;
  /** The page's text, where the upstream gave it (web fetch). */
  text?: string;
}

/** What a server tool call found, or why it found nothing (`error`: the upstream's code). */
export interface ServerToolResultPart {
  type: "server_tool_result";
  callId: string;
  kind: ServerToolKind;
  results: WebResult[];
  error?: string;
  issuer?: string;
}

export type Part =
  | TextPart
  | ServerToolCallPart
  | ServerToolResultPart
  | MediaPart
  | ToolCallPart
  | ToolResultPart
  | ThinkingPart
  | RedactedThinkingPart;

export type Role = "user" | "assistant";

export interface Turn {
  role: Role;
  parts: Part[];
}

export interface Tool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /**
   * `custom`: an OpenAI freeform tool whose input is plain text. It travels as a function with one
   * string argument `input`, and is rendered back as a custom tool call.
   */
  kind: "function" | "custom";
  /** An OpenAI Responses namespace the tool was declared in; its calls go back with it. */
  namespace?: string;
  cache?: CacheMark;
}

export type ServerToolKind = "web_search" | "web_fetch";

/**
 * A tool the provider runs (Anthropic's web_search_*, web_fetch_*; the Responses API's web_search;
 * Gemini's googleSearch, urlContext). It is not a function: the upstream runs it and answers with
 * its results, so it goes to an upstream that has such a tool, or is refused or dropped by name.
 */
export interface ServerTool {
  kind: ServerToolKind;
  /** The name the client gave it (Anthropic's `name`), which its calls carry. */
  name: string;
  /** The client's own type (`web_search_20250305`, `web_search_preview`, `googleSearch`). */
  type: string;
  maxUses?: number;
  allowedDomains?: string[];
  blockedDomains?: string[];
  userLocation?: Record<string, unknown>;
}

export type ToolChoice =
  | { type: "auto" }
  | { type: "none" }
  | { type: "required" }
  | { type: "tool"; name: string };

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name?: string; schema: Record<string, unknown>; strict?: boolean };

export type Effort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh" | "max";

export interface Reasoning {
  effort?: Effort;
  budgetTokens?: number;
  /** The client asked to see the thinking, not just to have the model think. */
  include: boolean;
}

export interface ChatRequest {
  /** The model the upstream is asked for (after mapping). */
  model: string;
  /** System and developer prompts, in order. */
  system: string[];
  /** Cache breakpoints on system entries, by index into `system`. */
  systemCache?: (CacheMark | undefined)[];
  turns: Turn[];
  tools: Tool[];
  /** Tools the upstream runs itself; absent when there are none. */
  serverTools?: ServerTool[];
  /**
   * Hosted tools the client offered that levity cannot carry to another dialect (the Responses
   * API's file_search, code_interpreter, tool_search…): left out, and named in x-levity-warning.
   */
  unsupportedTools?: string[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  responseFormat?: ResponseFormat;
  reasoning?: Reasoning;
  /** End-user id (OpenAI `user`, Anthropic `metadata.user_id`). */
  user?: string;
  /**
   * OpenAI's `prompt_cache_key`: the client's own, or one levity derives from the session (hashed),
   * so that an OpenAI upstream routes the session's requests to the same cache.
   */
  cacheKey?: string;
}

/** Why generation stopped, in the IR's own words; each codec maps it to its dialect. */
export type StopReason =
  | "end"
  | "length"
  | "tool_use"
  | "content_filter"
  | "stop_sequence"
  | "pause";

export interface Usage {
  /** Every prompt token, cached ones included. */
  input: number;
  /** Every generated token, reasoning included. */
  output: number;
  /** Prompt tokens read from a cache (a subset of input). */
  cached?: number;
  /** Prompt tokens written to a cache (a subset of input). */
  cacheWrite?: number;
  /** Reasoning tokens (a subset of output). */
  reasoning?: number;
  /** Web searches a server tool ran for this answer. */
  webSearches?: number;
}

export interface ChatResponse {
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
  parts: Part[];
  stop: StopReason;
  stopSequence?: string;
  usage: Usage;
  /**
   * Output items only the upstream's own dialect can show (a Responses `compaction` item): no
   * part says them, but the answer is not empty. A client of that dialect gets them as they were.
   */
  opaqueOutput?: string[];
}

/**
 * The stream vocabulary. `start` comes first; blocks (thinking, text, tool calls) follow one at a
 * time: a block ends when the next begins or at `finish`, and a tool call also ends explicitly.
 * A text event with citations is a block of its own, whole: the cited text and its sources
 * together. `finish` or `error` is last.
 */
export type StreamEvent =
  | { type: "start"; id: string; model: string; created: number; usage: Usage }
  | { type: "text"; text: string; signature?: Opaque; citations?: Citation[] }
  /** An image the model made (Gemini's inlineData in an answer), whole: a block of its own. */
  | { type: "media"; source: MediaSource }
  /** A server tool's call or result, whole: a block of its own. */
  | { type: "server_tool"; part: ServerToolCallPart | ServerToolResultPart }
  | { type: "thinking"; text: string }
  | { type: "thinking_signature"; signature: Opaque }
  | { type: "redacted_thinking"; data: Opaque }
  | { type: "tool_call_start"; index: number; id: string; name: string; signature?: Opaque }
  | { type: "tool_call_delta"; index: number; arguments: string }
  | { type: "tool_call_end"; index: number }
  | { type: "usage"; usage: Usage }
  | { type: "finish"; stop: StopReason; stopSequence?: string; usage: Usage }
  /** An output item only the upstream's own dialect can show (see ChatResponse.opaqueOutput): content all the same. */
  | { type: "opaque_output"; itemType: string }
  | { type: "error"; status: number; message: string };

/** What a tool result may contain. */
export function isResultContent(part: Part): part is TextPart | MediaPart {
  return part.type === "text" || part.type === "media";
}

export function textOf(parts: Part[]): string {
  let out = "";
  for (const part of parts) if (part.type === "text") out += part.text;
  return out;
}

export function emptyUsage(): Usage {
  return { input: 0, output: 0 };
}
