import { longestExhaustedReset } from "../family.ts";

/** Anthropic's `anthropic-ratelimit-<kind>-reset` RFC 3339 times, for the kinds whose `-remaining` is 0. */
export function anthropicRateLimitResetMs(headers: Headers, now: number): number | undefined {
  return longestExhaustedReset(
    headers,
    /^anthropic-ratelimit-(.+)-reset$/,
    (kind) => `anthropic-ratelimit-${kind}-remaining`,
    (value) => Math.max(0, Date.parse(value) - now),
  );
}
