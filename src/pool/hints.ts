import { clampHint } from "./health.ts";

/*
 * How long an upstream asks to be left alone, from whatever it says: Retry-After (seconds or an
 * HTTP date), retry-after-ms, Anthropic's anthropic-ratelimit-*-reset (RFC 3339 times), OpenAI's
 * x-ratelimit-reset-* ("6m0s", "1.5s", "20ms"), or a delay the body gave (Gemini's RetryInfo).
 */

/** "1h2m3.5s", "6m0s", "20ms", "30s" as milliseconds. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  let total = 0;
  let matched = false;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    matched = true;
    total +=
      Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
  }
  return matched ? total : undefined;
}

function retryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The longest wait among the limits that are used up (remaining 0), so no exhausted limit is retried too soon. */
function exhaustedResets(headers: Headers, now: number): number | undefined {
  let longest: number | undefined;
  headers.forEach((value, name) => {
    const anthropic = /^anthropic-ratelimit-(.+)-reset$/.exec(name);
    const openai = /^x-ratelimit-reset-(.+)$/.exec(name);
    const kind = anthropic?.[1] ?? openai?.[1];
    if (!kind) return;
    const remaining = headers.get(
      anthropic ? `anthropic-ratelimit-${kind}-remaining` : `x-ratelimit-remaining-${kind}`,
    );
    if (remaining !== null && Number(remaining) > 0) return;
    const wait = anthropic ? Math.max(0, Date.parse(value) - now) : parseDuration(value);
    if (wait !== undefined && !Number.isNaN(wait)) longest = Math.max(longest ?? 0, wait);
  });
  return longest;
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

// The backoff policy and the clamp belong to the account's health; their old home still names them.
export {
  type Backoff,
  backoff,
  clampHint,
  ERROR_BACKOFF,
  MAX_HINT_MS,
  QUOTA_BACKOFF,
  RATE_LIMIT_BACKOFF,
} from "./health.ts";
