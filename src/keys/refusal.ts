import type { ErrorFamily } from "../codecs/errors.ts";
import { GatewayError } from "../failure.ts";
import type { Refusal } from "./admission.ts";

/*
 * A key's limit, reached, in the words and headers its client's SDK reads. A rate limit (rpm, tpm,
 * concurrency) is a 429 with Retry-After from the window (a minute at most), which every SDK and
 * CLI waits out and retries. A spent budget (daily tokens, monthly spend) will not come back for
 * hours: it is a 429 in the form each family's clients read as "stop", measured with the real
 * clients (README, "What a refused request gets"), so a CLI neither sleeps through a long
 * Retry-After nor spends its retries, and its user sees when the budget resets.
 */

const iso = (ms: number) => new Date(ms).toISOString();

function limitWords(refusal: Refusal, key: string): string {
  switch (refusal.limit) {
    case "rpm":
      return `The client key "${key}" has sent ${refusal.used} requests in the last minute, its limit (rpm ${refusal.allowed}). Try again in ${refusal.retryAfterSeconds}s.`;
    case "tpm":
      return `The client key "${key}" has used ${refusal.used} tokens in the last minute, and this request needs about ${refusal.need} more, over its limit (tpm ${refusal.allowed}). Try again in ${refusal.retryAfterSeconds}s.`;
    case "concurrency":
      return `The client key "${key}" has ${refusal.used} requests in flight, its limit (concurrency ${refusal.allowed}). Try again when one has finished.`;
    case "daily_tokens":
      return `The client key "${key}" has used ${refusal.used} of its ${refusal.allowed} tokens for today (UTC), and this request needs about ${refusal.need} more. Its daily tokens reset at ${iso(refusal.resetsAt)}.`;
    case "monthly_usd":
      return `The client key "${key}" has spent $${refusal.used.toFixed(2)} of its $${refusal.allowed.toFixed(2)} budget for this month (UTC). Its budget resets at ${iso(refusal.resetsAt)}.`;
  }
}

function isBudget(refusal: Refusal): refusal is Extract<Refusal, { resetsAt: number }> {
  return refusal.limit === "daily_tokens" || refusal.limit === "monthly_usd";
}

/** Seconds until the refusal lifts, whole and at least 1. */
export function retryAfterSeconds(refusal: Refusal, now: number): number {
  return isBudget(refusal)
    ? Math.max(1, Math.ceil((refusal.resetsAt - now) / 1000))
    : refusal.retryAfterSeconds;
}

export function refusalError(
  refusal: Refusal,
  family: ErrorFamily,
  key: string,
  now: number,
): GatewayError {
  const message = limitWords(refusal, key);
  const wait = retryAfterSeconds(refusal, now);
  const headers: Record<string, string> = {
    "retry-after": String(wait),
    "x-levity-limit": refusal.limit,
  };
  if (isBudget(refusal)) {
    headers["x-levity-limit-resets-at"] = iso(refusal.resetsAt);
    // Honoured by the OpenAI and Anthropic SDKs (and the CLIs built on them): no retry of a 429
    // that cannot succeed for hours.
    headers["x-should-retry"] = "false";
  }
  switch (family) {
    case "openai":
      return new GatewayError(429, message, {
        ...(isBudget(refusal)
          ? // Codex reads this type as a usage limit and tells its user "Try again at <resets_at>";
            // the SDKs' users read OpenAI's code for a spent quota.
            {
              type: "usage_limit_reached",
              code: "insufficient_quota",
              openaiExtra: {
                resets_at: Math.floor(refusal.resetsAt / 1000),
                resets_in_seconds: wait,
              },
            }
          : {
              type: refusal.limit === "tpm" ? "tokens" : "requests",
              code: "rate_limit_exceeded",
            }),
        headers,
      });
    case "anthropic":
      return new GatewayError(429, message, { type: "rate_limit_error", headers });
    case "gemini":
      return new GatewayError(429, message, {
        headers,
        rpcDetails: [
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [
              {
                // Gemini CLI waits out a quota id naming a minute. One naming a day it reports with
                // words of its own instead of these, so a budget's names no day: its RetryInfo of
                // more than 300 s is what stops the CLI, with this message.
                quotaId: QUOTA_IDS[refusal.limit],
                quotaMetric: `levity/key/${refusal.limit}`,
                quotaDimensions: { key },
                quotaValue: String(refusal.allowed),
              },
            ],
          },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${wait}s` },
        ],
      });
  }
}

const QUOTA_IDS: Readonly<Record<Refusal["limit"], string>> = {
  rpm: "LevityKeyRequestsPerMinute",
  tpm: "LevityKeyTokensPerMinute",
  concurrency: "LevityKeyConcurrentRequestsPerMinute",
  daily_tokens: "LevityKeyTokenBudget",
  monthly_usd: "LevityKeySpendBudget",
};
