import { describe, expect, test } from "bun:test";
import { FAMILIES } from "./families.ts";
import type { Family } from "./names.ts";
import { parseDuration } from "./openai-compatible/rate-limit-headers.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");

/* Which headers each family reads for a rate limit's reset, and how; a fixed clock for RFC 3339 times. */
const CASES: [string, Family, Record<string, string>, number | undefined][] = [
  [
    "openai: a used-up limit's duration",
    "openai",
    { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s" },
    360_000,
  ],
  [
    "openai: the longest used-up limit",
    "openai",
    {
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "1s",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "20ms",
    },
    1_000,
  ],
  [
    "openai: a limit with room left is no wait",
    "openai",
    { "x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "30s" },
    undefined,
  ],
  [
    "openai: a reset without its remaining counts",
    "openai",
    { "x-ratelimit-reset-tokens": "1.5s" },
    1_500,
  ],
  [
    "openai: ignores Anthropic's headers",
    "openai",
    {
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
    },
    undefined,
  ],
  [
    "anthropic: an RFC 3339 reset",
    "anthropic",
    {
      "anthropic-ratelimit-tokens-remaining": "0",
      "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:30Z",
    },
    30_000,
  ],
  [
    "anthropic: a reset in the past is no wait",
    "anthropic",
    {
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2025-12-31T23:59:00Z",
    },
    0,
  ],
  [
    "anthropic: an unreadable time is no hint",
    "anthropic",
    { "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "soon" },
    undefined,
  ],
  [
    "anthropic: ignores OpenAI's headers",
    "anthropic",
    { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s" },
    undefined,
  ],
  [
    "gemini: no rate-limit headers",
    "gemini",
    { "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s" },
    undefined,
  ],
];

describe("rateLimitResetMs", () => {
  test.each(CASES)("%s", (_, family, headers, expected) => {
    expect(FAMILIES[family].rateLimitResetMs(new Headers(headers), NOW)).toBe(expected);
  });
});

describe("parseDuration", () => {
  test.each([
    ["6m0s", 360_000],
    ["1h2m3.5s", 3_723_500],
    ["20ms", 20],
    ["30", 30_000],
    ["soon", undefined],
  ] as const)("%s → %p", (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});
