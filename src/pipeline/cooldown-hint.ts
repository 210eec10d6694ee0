import { clampHint } from "../pool/health.ts";

/*
 * How long an upstream asks to be left alone, from whatever it says: Retry-After (seconds or an
 * HTTP date), retry-after-ms, Anthropic's anthropic-ratelimit-*-reset (RFC 3339 times), OpenAI's
 * x-ratelimit-reset-* ("6m0s", "1.5s", "20ms"), or a delay the body gave (Gemini's RetryInfo).
 */

import { FAMILY_LIST } from "../codecs/families.ts";

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
