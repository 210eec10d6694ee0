/*
 * How long an upstream asks to be left alone, from whatever it says: Retry-After (seconds or an
 * HTTP date), retry-after-ms, Anthropic's anthropic-ratelimit-*-reset (RFC 3339 times), OpenAI's
 * x-ratelimit-reset-* ("6m0s", "1.5s", "20ms"), or a delay the body gave (Gemini's RetryInfo).
 */

import { FAMILY_LIST } from "../codecs/families.ts";
import { parseDuration } from "../codecs/openai-compatible/rate-limit-headers.ts";

export { parseDuration };

function retryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The longest wait among the limits that are used up, by each family's own rate-limit headers. */
function exhaustedResets(headers: Headers, now: number): number | undefined {
  const waits = FAMILY_LIST.map((family) => family.rateLimitResetMs(headers, now)).filter(
    (wait): wait is number => wait !== undefined,
  );
  return waits.length === 0 ? undefined : Math.max(...waits);
}

/**
 * The longest cooldown an upstream may ask for. Its hints are data from elsewhere: an absurd one
 * (Retry-After: 10000000000000) would otherwise cool an account for ever, be saved across
 * restarts, and make every view of the time an Invalid Date. A day covers every real quota reset.
 */
export const MAX_HINT_MS = 24 * 3_600_000;

/** A wait as levity keeps it: finite, not negative, at most MAX_HINT_MS; anything else is no hint. */
export function clampHint(ms: number | undefined): number | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_HINT_MS);
}

/** Milliseconds the upstream asked for (at most MAX_HINT_MS), or undefined if it gave no usable hint. */
export function cooldownHint(
  headers: Headers | undefined,
  bodyHintSeconds: number | undefined,
  now = Date.now(),
): number | undefined {
  const hints = [
    headers && Number(headers.get("retry-after-ms")) > 0
      ? Number(headers.get("retry-after-ms"))
      : undefined,
    headers ? retryAfter(headers.get("retry-after"), now) : undefined,
    headers ? exhaustedResets(headers, now) : undefined,
    bodyHintSeconds !== undefined ? bodyHintSeconds * 1000 : undefined,
  ]
    .map(clampHint)
    .filter((hint): hint is number => hint !== undefined);
  return hints.length === 0 ? undefined : Math.max(...hints);
}

export interface Backoff {
  baseMs: number;
  capMs: number;
}

/** Without a hint: rate limits back off from 5 s, errors from 2 s, an empty balance from 5 min, doubling per consecutive failure. */
export const RATE_LIMIT_BACKOFF: Backoff = { baseMs: 5_000, capMs: 300_000 };
export const QUOTA_BACKOFF: Backoff = { baseMs: 300_000, capMs: 3_600_000 };
export const ERROR_BACKOFF: Backoff = { baseMs: 2_000, capMs: 60_000 };

/** Exponential, capped, with ±20% jitter so accounts that failed together do not return together. */
export function backoff(kind: Backoff, consecutiveFailures: number, random = Math.random): number {
  const exponential = Math.min(kind.capMs, kind.baseMs * 2 ** Math.max(0, consecutiveFailures - 1));
  return Math.round(exponential * (0.8 + random() * 0.4));
}
