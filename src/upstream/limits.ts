import { broken, type UpstreamFailed } from "../failure.ts";
import type { Upstream } from "../config/snapshot.ts";

/*
 * How much of an upstream's answer levity will hold. An upstream's bytes are data from elsewhere:
 * a broken or hostile one can send a body that never ends, a gzip bomb, a line without an end, or
 * keep-alive comments for ever before its first content. Each limit is checked while reading,
 * never after, and passing one is the upstream's failure (broken, 502): another account is tried
 * before the commit point, and after it the client gets an error event in its own dialect.
 */
export interface UpstreamLimits {
  /** A whole (non-stream) answer or an error body, after decoding. */
  bodyBytes: number;
  /** A stream's bytes held back before its first content (the commit point). */
  heldBytes: number;
  /** One SSE line or event, or one element of Gemini's JSON array. */
  eventBytes: number;
  /** A streamed answer assembled for translation and storage. */
  answerBytes: number;
}

const MB = 1024 * 1024;

/**
 * Far above any real answer (the largest whole answers, 128k output tokens with their JSON, are a
 * few MB; the most held before the first content is a reasoning model's preamble events, kilobytes),
 * yet low enough that a few hostile answers at once do not take a small machine down.
 */
export const DEFAULT_UPSTREAM_LIMITS_MB = { body: 64, held: 8, event: 16, answer: 64 } as const;

export const DEFAULT_UPSTREAM_LIMITS: Readonly<UpstreamLimits> = {
  bodyBytes: DEFAULT_UPSTREAM_LIMITS_MB.body * MB,
  heldBytes: DEFAULT_UPSTREAM_LIMITS_MB.held * MB,
  eventBytes: DEFAULT_UPSTREAM_LIMITS_MB.event * MB,
  answerBytes: DEFAULT_UPSTREAM_LIMITS_MB.answer * MB,
};

export function limitsOf(upstream: Pick<Upstream, "limits">): UpstreamLimits {
  return upstream.limits ?? DEFAULT_UPSTREAM_LIMITS;
}

/** Megabytes for messages: "64 MB", "0.5 MB". */
export function inMb(bytes: number): string {
  return `${Math.round((bytes / MB) * 100) / 100} MB`;
}

/** Passing a limit: names the limit and the key that sets it. */
export function overLimit(
  upstream: string,
  what: string,
  limit: number,
  key: string,
): UpstreamFailed {
  return broken(
    `upstream "${upstream}" sent ${what} over ${inMb(limit)} (proxy.upstream_limits.${key}); levity stopped reading it`,
  );
}
