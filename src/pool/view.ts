import type { Health } from "./health.ts";

/*
 * An account as the admin API, the CLI and the metrics show it: its state in one word, its
 * cooldowns as times, and what it has done since levity started.
 */

export interface AccountView {
  upstream: string;
  account: string;
  state: "healthy" | "cooling" | "disabled";
  coolingUntil?: string;
  modelCooldowns: Record<string, string>;
  disabledReason?: string;
  consecutiveFailures: number;
  inFlight: number;
  requests: number;
  failures: number;
  /** Since levity started; cached and cacheWrite are the prompt-cache reads and writes within input. */
  tokens: { input: number; output: number; cached: number; cacheWrite: number };
  lastError?: string;
}

/** What the pool counts of an account's work since levity started (never saved). */
export interface Activity {
  inFlight: number;
  requests: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  lastError?: string;
}

/** A time for a view: an ISO string, or nothing for a value no Date can hold (never an exception). */
function isoTime(ms: number): string | undefined {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** The view of one account; `health` should be pruned of expired model cooldowns first. */
export function viewAccount(
  upstream: string,
  account: string,
  health: Health,
  activity: Activity,
  now: number,
): AccountView {
  const cooling = health.cooldownUntil > now;
  return {
    upstream,
    account,
    state: health.disabledReason
      ? "disabled"
      : cooling || Object.keys(health.modelCooldowns).length > 0
        ? "cooling"
        : "healthy",
    ...(cooling ? { coolingUntil: isoTime(health.cooldownUntil) } : {}),
    modelCooldowns: Object.fromEntries(
      Object.entries(health.modelCooldowns).flatMap(([model, until]) => {
        const at = isoTime(until);
        return at ? [[model, at]] : [];
      }),
    ),
    ...(health.disabledReason ? { disabledReason: health.disabledReason } : {}),
    consecutiveFailures: health.consecutiveFailures,
    inFlight: activity.inFlight,
    requests: activity.requests,
    failures: activity.failures,
    tokens: {
      input: activity.inputTokens,
      output: activity.outputTokens,
      cached: activity.cachedTokens,
      cacheWrite: activity.cacheWriteTokens,
    },
    ...(activity.lastError ? { lastError: activity.lastError } : {}),
  };
}
