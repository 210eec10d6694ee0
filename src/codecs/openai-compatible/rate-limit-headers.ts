import { longestExhaustedReset } from "../family.ts";

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

/** OpenAI's `x-ratelimit-reset-<kind>` durations, for the kinds whose `x-ratelimit-remaining-<kind>` is 0. */
export function openaiRateLimitResetMs(headers: Headers): number | undefined {
  return longestExhaustedReset(
    headers,
    /^x-ratelimit-reset-(.+)$/,
    (kind) => `x-ratelimit-remaining-${kind}`,
    parseDuration,
  );
}
