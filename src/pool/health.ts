import type { Outcome } from "./lease.ts";
import type { Failure } from "../failure.ts";
import { clipText } from "../clip.ts";

/*
 * An account's health and the failure policy that changes it, as pure functions of the state, what
 * happened and the time: no clock, no store, no log. The pool keeps the state, saves it and tells
 * its listener what `settle` did; here is only what a failure means for the account.
 */

export interface Health {
  /** The whole account cools until then (spent credit, server errors): 0 when it does not. */
  readonly cooldownUntil: number;
  /** Rate limits are often per model: cooling one model leaves the others served. */
  readonly modelCooldowns: Readonly<Record<string, number>>;
  /** Failures since the last success: each doubles the next backoff. */
  readonly consecutiveFailures: number;
  /** Set, the account serves nothing until an admin or a new key ends it. */
  readonly disabledReason?: string;
}

// Frozen: every account starts from this one object, so an edit in place would reach them all.
export const HEALTHY: Health = Object.freeze({
  cooldownUntil: 0,
  modelCooldowns: Object.freeze({}),
  consecutiveFailures: 0,
});

/** What `settle` did to the account, for whoever logs or counts it. */
export type Effect =
  | { kind: "disabled"; reason: string }
  /** `model` set: only that model cools (a rate limit); absent: the whole account. */
  | { kind: "cooling"; waitMs: number; model?: string };

/**
 * The longest cooldown an upstream may ask for. Its hints are data from elsewhere: an absurd one
 * (Retry-After: 10000000000000) would otherwise cool an account for ever, be saved across
 * restarts, and make every view of the time an Invalid Date. A day covers every real quota reset.
 */
export const MAX_HINT_MS = 24 * 3_600_000;

export interface Backoff {
  baseMs: number;
  capMs: number;
}

/** Without a hint: rate limits back off from 5 s, errors from 2 s, an empty balance from 5 min, doubling per consecutive failure. */
export const RATE_LIMIT_BACKOFF: Readonly<Backoff> = { baseMs: 5_000, capMs: 300_000 };
export const QUOTA_BACKOFF: Readonly<Backoff> = { baseMs: 300_000, capMs: 3_600_000 };
export const ERROR_BACKOFF: Readonly<Backoff> = { baseMs: 2_000, capMs: 60_000 };

/** Exponential, capped, with ±20% jitter so accounts that failed together do not return together. */
export function backoff(kind: Backoff, consecutiveFailures: number, random = Math.random): number {
  const exponential = Math.min(kind.capMs, kind.baseMs * 2 ** Math.max(0, consecutiveFailures - 1));
  return Math.round(exponential * (0.8 + random() * 0.4));
}

/** A wait as levity keeps it: finite, not negative, at most MAX_HINT_MS; anything else is no hint. */
export function clampHint(ms: number | undefined): number | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_HINT_MS);
}

/** The upstream's hint when it gave a usable one: it knows when its limit resets; else a backoff. */
function wait(failure: Failure, kind: Backoff, consecutiveFailures: number, random: () => number) {
  return clampHint(failure.hintMs) ?? backoff(kind, consecutiveFailures, random);
}

/** The new health after one attempt, and what changed that anyone should hear of. */
export function settle(
  health: Health,
  settled: Outcome,
  model: string,
  now: number,
  random: () => number = Math.random,
): { health: Health; effect?: Effect } {
  // A request the client must fix says nothing about the account, whoever reports it.
  if ("neutral" in settled || (!settled.ok && settled.failure.kind === "final")) return { health };
  if (settled.ok)
    // One success heals the account: failures in a row start again from zero. The same object
    // back when nothing changed, so the caller saves only a change.
    return {
      health: health.consecutiveFailures === 0 ? health : { ...health, consecutiveFailures: 0 },
    };
  const { failure } = settled;
  const failures = health.consecutiveFailures + 1;
  const failed = { ...health, consecutiveFailures: failures };
  switch (failure.kind) {
    case "auth": {
      // Another try with the same key gets the same answer; a new key in the config may be the fix.
      const reason = `the upstream refused its key (${failure.status}: ${clipText(failure.message, 200)})`;
      return {
        health: { ...failed, disabledReason: reason },
        effect: { kind: "disabled", reason },
      };
    }
    case "rate_limit": {
      const waitMs = wait(failure, RATE_LIMIT_BACKOFF, failures, random);
      return {
        health: { ...failed, modelCooldowns: { ...health.modelCooldowns, [model]: now + waitMs } },
        effect: { kind: "cooling", waitMs, model },
      };
    }
    case "quota": {
      // Spent credit is the whole account's and does not come back in seconds; a top-up plus `levity accounts reset` ends it early.
      const waitMs = wait(failure, QUOTA_BACKOFF, failures, random);
      return {
        health: { ...failed, cooldownUntil: now + waitMs },
        effect: { kind: "cooling", waitMs },
      };
    }
    default: {
      const waitMs = wait(failure, ERROR_BACKOFF, failures, random);
      return {
        health: { ...failed, cooldownUntil: now + waitMs },
        effect: { kind: "cooling", waitMs },
      };
    }
  }
}

/** When the account may next serve `model` as far as its health goes: now, a time, or never (disabled). */
export function readyAt(health: Health, model: string, now: number): number {
  if (health.disabledReason) return Infinity;
  return Math.max(now, health.cooldownUntil, health.modelCooldowns[model] ?? 0);
}

export const ADMIN_DISABLED = "disabled by an admin (levity accounts enable puts it back)";

/** An admin puts the account back: this also ends a disable levity made itself (a refused key). */
export function enable(health: Health): Health {
  return { ...health, disabledReason: undefined, consecutiveFailures: 0 };
}

/** An admin takes the account out of rotation; its cooldowns stay for when it comes back. */
export function disable(health: Health): Health {
  return { ...health, disabledReason: ADMIN_DISABLED };
}

/** Clears cooldowns, failure counts and disables: after a top-up, or a fix levity cannot see. */
export function reset(_health: Health): Health {
  return { ...HEALTHY, modelCooldowns: {} };
}

/** Without the model cooldowns that have run out, so the saved record stays small. */
export function prune(health: Health, now: number): Health {
  const live = Object.entries(health.modelCooldowns).filter(([, until]) => until > now);
  if (live.length === Object.keys(health.modelCooldowns).length) return health;
  return { ...health, modelCooldowns: Object.fromEntries(live) };
}

/**
 * Health as saved by this or an older levity, made safe to use: expiries no later than
 * MAX_HINT_MS from now. An older levity saved hints unclamped (Retry-After: 1e13 became a cooldown
 * past the year 275760, which no Date can show); such a record is cut to the longest wait levity
 * now allows, and expired model cooldowns are dropped.
 */
export function restore(saved: Partial<Health>, now: number): Health {
  const modelCooldowns: Record<string, number> = {};
  for (const [model, until] of Object.entries(saved.modelCooldowns ?? {})) {
    const clamped = clampUntil(until, now);
    if (clamped > now) modelCooldowns[model] = clamped;
  }
  return {
    cooldownUntil: clampUntil(saved.cooldownUntil ?? 0, now),
    modelCooldowns,
    consecutiveFailures: saved.consecutiveFailures ?? 0,
    disabledReason: saved.disabledReason,
  };
}

function clampUntil(until: unknown, now: number): number {
  if (typeof until !== "number" || Number.isNaN(until)) return 0;
  return Math.min(until, now + MAX_HINT_MS);
}
