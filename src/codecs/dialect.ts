import type { StreamFraming } from "./codec.ts";
import type { FamilyModule } from "./family.ts";
import type { Dialect, Operation } from "./names.ts";
import type { JsonObject } from "./json.ts";
import type { ClientCodec, UpstreamCodec } from "./codec.ts";

/** One call to an upstream endpoint, as much as its path depends on. */
export interface EndpointCall {
  operation: Operation;
  model: string;
  stream: boolean;
  /** The upstream's API version segment, where its family keeps one (Gemini). */
  apiVersion?: string;
  /** A forwarded client's query string, where the dialect carries meaning in it (Gemini's `alt`). */
  query?: URLSearchParams;
}

/**
 * Everything levity knows about one dialect, asked for by the rest of the code: both codec halves,
 * where an upstream serves it, how a stream in it says it broke, and what in its requests names a
 * conversation. What it shares with its siblings (error shape, key header, …) is its family's.
 */
/** Where a dialect's raw request keeps the lists levity caps before parsing it (proxy.limits). */
export interface RequestLists {
  /** The conversation. */
  messages?: string;
  /** Each message's parts. */
  parts?: string;
  tools?: string;
  /** A field in each tool that holds a group of functions (Gemini's functionDeclarations). */
  toolGroups?: string;
  /** An older field for tools, capped on its own (OpenAI's functions). */
  legacyTools?: string;
}

export interface DialectModule {
  readonly name: Dialect;
  readonly family: FamilyModule;
  /** Its requests in, its responses and streams out. */
  readonly client: ClientCodec;
  /** IR requests out, its responses and streams in. */
  readonly upstream: UpstreamCodec;
  /** The path (with query) under an upstream's base URL that serves this dialect. */
  endpointPath(call: EndpointCall): string;
  /**
   * How a client of this dialect learns, mid-stream, that the upstream broke off after the commit
   * point. `jsonArray`: Gemini's stream without `alt=sse`, one JSON array written as it goes.
   * `opened` false: nothing of the answer was written yet (only keep-alives), so a JSON array
   * has not begun.
   */
  streamErrorBytes(
    status: number,
    message: string,
    jsonArray: boolean,
    opened?: boolean,
  ): Uint8Array;
  /**
   * What a stream committed before its first content sends while it waits (proxy.timeouts
   * keepalive_interval): bytes every client of the dialect skips, whole, between two events.
   */
  keepAliveBytes(jsonArray: boolean): Uint8Array;
  /**
   * The start of the prompt's cacheable prefix as the dialect writes it: the tools, the system
   * prompt and the first user turn, which every later turn of the conversation repeats.
   */
  sessionOpening(body: JsonObject): unknown[];
  readonly requestLists: Readonly<RequestLists>;
  /** How a stream is framed for this client, from its query string (read only by the dialect that has one in it, Gemini). */
  streamFraming(request: { readonly url: URL }): StreamFraming;
  /**
   * A conversation or user name the dialect's own request carries, tagged with what it is
   * (Anthropic's `metadata.user_id`, OpenAI's `prompt_cache_key` or `user`).
   */
  sessionName?(body: JsonObject): string | undefined;
}
