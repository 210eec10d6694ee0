/*
 * Two things go wrong while serving a request, and each has one type:
 * - the client's request is refused (a bad body, a missing key, an unknown model): GatewayError,
 *   thrown from anywhere and rendered once, in the client's own error shape;
 * - an upstream attempt fails: a Failure, returned from wherever levity reads the upstream's
 *   answer. Code that can only throw (a stream being read, a body being decoded) throws an
 *   UpstreamFailed that carries one, and the runner turns it back into a returned Failure.
 */

export type FailureKind =
  /** 429: cool this account for this model, by the upstream's hint or a backoff. */
  | "rate_limit"
  /** 402, or OpenAI's 429 insufficient_quota: the account's balance is spent, for every model, until someone pays. */
  | "quota"
  /** 5xx, 529: cool the account for seconds, longer each time in a row. */
  | "server"
  /** Connection refused or reset, DNS. */
  | "network"
  /** No connection, headers, chunk or end in time. */
  | "timeout"
  /** 401, 403, or a key the upstream calls invalid: the account is disabled until its key changes. */
  | "auth"
  /** A complete answer with nothing in it (the "0 token" answer). */
  | "empty"
  /** A stream cut, or unreadable, before its first content; an answer over a limit. */
  | "broken"
  /**
   * The client must fix the request (400, 404, 413, 422, …): another account would answer the
   * same, so it goes to the client at once, and the account is not blamed.
   */
  | "final";

export interface Failure {
  kind: FailureKind;
  /** The status the client sees if this is the last word: the upstream's, or 502/504 for the gateway's own findings. */
  status: number;
  message: string;
  /** How long the upstream asked to be left alone. */
  hintMs?: number;
  /** The upstream's error body and headers, when it answered; a same-dialect client may get them as they were. */
  upstream?: { body: string; headers: Headers };
  /** The upstream said the prompt is over the model's context window, with the numbers it named. */
  tooLong?: { tokens?: number; limit?: number };
  /** The upstream refused a signature or encrypted reasoning in the history: tried once more without them. */
  signatureRefused?: boolean;
}

/** A Failure thrown through code that cannot return one: a stream's reader, a body's decoder. */
export class UpstreamFailed extends Error {
  constructor(
    readonly failure: Failure,
    /**
     * Found by a codec, which does not know the upstream's name: what the upstream did, for
     * failureOf to put after the name ("broke off its stream").
     */
    readonly unnamedDeed?: string,
  ) {
    super(failure.message);
    this.name = "UpstreamFailed";
  }
}

/** The upstream's answer does not follow its own protocol (an event out of order, a stream without its end): 502, broken. */
export function offProtocol(what: string): UpstreamFailed {
  return new UpstreamFailed(
    { kind: "broken", status: 502, message: what },
    "answered outside its protocol",
  );
}

/** The upstream's stream ended before the event that finishes its answer: 502, broken. */
export function cutShort(what: string): UpstreamFailed {
  return new UpstreamFailed({ kind: "broken", status: 502, message: what }, "broke off its stream");
}

/** The upstream's answer was cut or cannot be used: 502, broken. */
export function broken(message: string): UpstreamFailed {
  return new UpstreamFailed({ kind: "broken", status: 502, message });
}

/** The upstream could not be reached, or did not keep time: another account (or later) may do better. */
export function unreachable(kind: "network" | "timeout", message: string): UpstreamFailed {
  return new UpstreamFailed({ kind, status: kind === "timeout" ? 504 : 502, message });
}

/** The answer that finished with nothing in it, worded once for both runners. */
export function emptyAnswer(upstream: string, detail?: string): Failure {
  const why = detail ? ` (${detail})` : "";
  return {
    kind: "empty",
    status: 502,
    message: `upstream "${upstream}" answered with no content${why}`,
  };
}

/**
 * The Failure in what a stream or a call threw. levity's own verdicts (a client that went away,
 * an image URL that cannot be fetched) are not the account's failures: they are thrown on.
 */
export function failureOf(error: unknown, upstream: string): Failure {
  if (error instanceof GatewayError) throw error;
  if (error instanceof UpstreamFailed) {
    if (!error.unnamedDeed) return error.failure;
    return {
      ...error.failure,
      message: `upstream "${upstream}" ${error.unnamedDeed}: ${error.message}`,
    };
  }
  return {
    kind: "broken",
    status: 502,
    message: `upstream "${upstream}" broke off its stream: ${(error as Error).message}`,
  };
}

export interface ErrorDetails {
  /** Overrides the type (OpenAI `type`, Anthropic `error.type`) implied by the status. */
  type?: string;
  code?: string | null;
  param?: string | null;
  headers?: Record<string, string>;
  /** google.rpc details for a Gemini client (RetryInfo, QuotaFailure); the other shapes have no place for them. */
  rpcDetails?: unknown[];
  /** Fields beside OpenAI's four in its error object (a usage limit's resets_at). */
  openaiExtra?: Record<string, unknown>;
}

/** A refusal of the client's request; the gateway renders it in the client's own error shape. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

/** What in an error body says a refused key or a spent balance; each family has its own words. */
export interface FailureWords {
  /** A key the upstream rejects even where its status says 400 (Gemini's API_KEY_INVALID). */
  rejectsKey(status: number, body: string): boolean;
  /** A spent balance behind a 429 (OpenAI's insufficient_quota). */
  outOfCredit(status: number, body: string): boolean;
}

/**
 * The kind of failure an upstream status is, reading the family's words where the status alone
 * does not tell: "final" when the client must fix the request (another account would answer the same).
 */
export function classifyStatus(status: number, body: string, words?: FailureWords): FailureKind {
  if (status === 401 || status === 403 || words?.rejectsKey(status, body)) return "auth";
  if (status === 402 || words?.outOfCredit(status, body)) return "quota";
  if (status === 429) return "rate_limit";
  if (status === 408) return "timeout";
  if (status >= 500 && status !== 501 && status !== 505) return "server";
  return "final";
}
