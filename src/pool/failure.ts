import { FAMILY_LIST } from "../codecs/families.ts";

/*
 * What went wrong with one attempt, and what it means for the account: try another account (and
 * cool this one), disable it, or pass the answer to the client because no account would do better.
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
  /** A stream cut, or unreadable, before its first content. */
  | "broken";

export interface Failure {
  kind: FailureKind;
  /** The status the client sees if this is the last word: the upstream's, or 502/504 for the gateway's own findings. */
  status: number;
  message: string;
  /** How long the upstream asked to be left alone. */
  hintMs?: number;
  /** The upstream's error body and headers, when it answered; a same-dialect client may get them as they were. */
  upstream?: { body: string; headers: Headers };
}

/** A key the upstream rejects, even where its status says 400 (Gemini answers a bad key with 400 API_KEY_INVALID). */
function rejectsKey(status: number, body: string): boolean {
  if (status === 401 || status === 403) return true;
  // Any family's words count: the status does not say which family answered, and relays pass on others' words.
  return FAMILY_LIST.some((family) => family.rejectsKey(status, body));
}

/** An account with no credit left: Anthropic says 402 billing_error, OpenAI a 429 with insufficient_quota. */
function outOfCredit(status: number, body: string): boolean {
  return FAMILY_LIST.some((family) => family.outOfCredit(status, body));
}

/**
 * The kind of failure an upstream status is, or "final" when the client must fix the request
 * (400, 404, 413, 422, …): another account would answer the same.
 */
export function classifyStatus(status: number, body: string): FailureKind | "final" {
  if (rejectsKey(status, body)) return "auth";
  if (outOfCredit(status, body)) return "quota";
  if (status === 429) return "rate_limit";
  if (status === 408) return "timeout";
  if (status >= 500 && status !== 501 && status !== 505) return "server";
  return "final";
}
