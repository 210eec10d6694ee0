import type { Outcome } from "./lease.ts";
import { describe, expect, test } from "bun:test";
import type { Failure } from "../failure.ts";
import {
  ADMIN_DISABLED,
  backoff,
  clampHint,
  disable,
  ERROR_BACKOFF,
  type Effect,
  enable,
  HEALTHY,
  type Health,
  MAX_HINT_MS,
  prune,
  QUOTA_BACKOFF,
  RATE_LIMIT_BACKOFF,
  readyAt,
  reset,
  restore,
  settle,
} from "./health.ts";

const NOW = 1_700_000_000_000;
/** Jitter at its middle: the wait is exactly the exponential one. */
const MIDDLE = () => 0.5;

const fail = (kind: Failure["kind"], extra: Partial<Failure> = {}): Outcome => ({
  ok: false,
  failure: { kind, status: 500, message: "boom", ...extra },
});

const health = (over: Partial<Health> = {}): Health => ({ ...HEALTHY, ...over });

describe("settle: what one attempt does to an account's health", () => {
  const cases: {
    name: string;
    before: Health;
    settled: Outcome;
    random?: () => number;
    after: Health;
    effect?: Effect;
  }[] = [
    {
      name: "a success after failures in a row heals the count, and leaves running cooldowns",
      before: health({ consecutiveFailures: 3, modelCooldowns: { n: NOW + 9 } }),
      settled: { ok: true },
      after: health({ consecutiveFailures: 0, modelCooldowns: { n: NOW + 9 } }),
    },
    {
      name: "a rate limit with a hint cools that model for exactly the hint",
      before: health(),
      settled: fail("rate_limit", { status: 429, hintMs: 30_000 }),
      after: health({ consecutiveFailures: 1, modelCooldowns: { m: NOW + 30_000 } }),
      effect: { kind: "cooling", waitMs: 30_000, model: "m" },
    },
    {
      name: "a rate limit without a hint backs off from 5 s",
      before: health(),
      settled: fail("rate_limit", { status: 429 }),
      after: health({ consecutiveFailures: 1, modelCooldowns: { m: NOW + 5_000 } }),
      effect: { kind: "cooling", waitMs: 5_000, model: "m" },
    },
    {
      name: "the third rate limit in a row waits four times the first",
      before: health({ consecutiveFailures: 2 }),
      settled: fail("rate_limit", { status: 429 }),
      after: health({ consecutiveFailures: 3, modelCooldowns: { m: NOW + 20_000 } }),
      effect: { kind: "cooling", waitMs: 20_000, model: "m" },
    },
    {
      name: "a rate limit keeps the other models' cooldowns",
      before: health({ modelCooldowns: { n: NOW + 7 } }),
      settled: fail("rate_limit", { status: 429, hintMs: 1_000 }),
      after: health({ consecutiveFailures: 1, modelCooldowns: { n: NOW + 7, m: NOW + 1_000 } }),
      effect: { kind: "cooling", waitMs: 1_000, model: "m" },
    },
    {
      name: "an absurd hint is cut to a day",
      before: health(),
      settled: fail("rate_limit", { status: 429, hintMs: 1e13 }),
      after: health({ consecutiveFailures: 1, modelCooldowns: { m: NOW + MAX_HINT_MS } }),
      effect: { kind: "cooling", waitMs: MAX_HINT_MS, model: "m" },
    },
    {
      name: "a negative hint is no hint: the backoff applies",
      before: health(),
      settled: fail("rate_limit", { status: 429, hintMs: -5 }),
      after: health({ consecutiveFailures: 1, modelCooldowns: { m: NOW + 5_000 } }),
      effect: { kind: "cooling", waitMs: 5_000, model: "m" },
    },
    {
      name: "the backoff's jitter is at most 20% each way",
      before: health(),
      settled: fail("rate_limit", { status: 429 }),
      random: () => 0,
      after: health({ consecutiveFailures: 1, modelCooldowns: { m: NOW + 4_000 } }),
      effect: { kind: "cooling", waitMs: 4_000, model: "m" },
    },
    {
      name: "spent credit cools the whole account, from 5 min",
      before: health(),
      settled: fail("quota", { status: 402 }),
      after: health({ consecutiveFailures: 1, cooldownUntil: NOW + 300_000 }),
      effect: { kind: "cooling", waitMs: 300_000 },
    },
    {
      name: "spent credit follows the upstream's hint when it gives one",
      before: health(),
      settled: fail("quota", { status: 429, hintMs: 3_600_000 }),
      after: health({ consecutiveFailures: 1, cooldownUntil: NOW + 3_600_000 }),
      effect: { kind: "cooling", waitMs: 3_600_000 },
    },
    {
      name: "a server error cools the whole account, from 2 s",
      before: health(),
      settled: fail("server"),
      after: health({ consecutiveFailures: 1, cooldownUntil: NOW + 2_000 }),
      effect: { kind: "cooling", waitMs: 2_000 },
    },
    {
      name: "errors in a long run wait no more than a minute",
      before: health({ consecutiveFailures: 20 }),
      settled: fail("timeout"),
      after: health({ consecutiveFailures: 21, cooldownUntil: NOW + 60_000 }),
      effect: { kind: "cooling", waitMs: 60_000 },
    },
    {
      name: "a refused key disables the account, with the upstream's words",
      before: health({ consecutiveFailures: 1 }),
      settled: fail("auth", { status: 401, message: "invalid x-api-key" }),
      after: health({
        consecutiveFailures: 2,
        disabledReason: "the upstream refused its key (401: invalid x-api-key)",
      }),
      effect: {
        kind: "disabled",
        reason: "the upstream refused its key (401: invalid x-api-key)",
      },
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const { health: after, effect } = settle(c.before, c.settled, "m", NOW, c.random ?? MIDDLE);
      expect(after).toEqual(c.after);
      expect(effect).toEqual(c.effect);
    });

  test("a neutral outcome (the client left) changes nothing, not even the failure count", () => {
    const before = health({ consecutiveFailures: 2, cooldownUntil: NOW - 1 });
    const settled = settle(before, { neutral: true }, "m", NOW, MIDDLE);
    expect(settled.health).toBe(before);
    expect(settled.effect).toBeUndefined();
  });

  test("a final failure (the client must fix its request) leaves the account as it was", () => {
    const before = health({ consecutiveFailures: 1 });
    const settled = settle(before, fail("final", { status: 400 }), "m", NOW, MIDDLE);
    expect(settled.health).toBe(before);
    expect(settled.effect).toBeUndefined();
  });

  test("a success on a healthy account returns the same state, so nothing is saved", () => {
    const before = health();
    expect(settle(before, { ok: true }, "m", NOW, MIDDLE).health).toBe(before);
  });

  test("a long message is cut in the disable reason", () => {
    const { health: after } = settle(
      health(),
      fail("auth", { message: "x".repeat(500) }),
      "m",
      NOW,
    );
    // Cut to 200 characters, the cut marked, so it is not read as the upstream's own words.
    expect(after.disabledReason).toBe(`the upstream refused its key (500: ${"x".repeat(199)}…)`);
  });
});

describe("readyAt: when an account may next serve a model", () => {
  const cases: { name: string; health: Health; model: string; at: number }[] = [
    { name: "healthy: now", health: health(), model: "m", at: NOW },
    {
      name: "the whole account cooling: its end, for any model",
      health: health({ cooldownUntil: NOW + 10 }),
      model: "any",
      at: NOW + 10,
    },
    {
      name: "that model cooling: its end",
      health: health({ modelCooldowns: { m: NOW + 20 } }),
      model: "m",
      at: NOW + 20,
    },
    {
      name: "another model cooling: now",
      health: health({ modelCooldowns: { n: NOW + 20 } }),
      model: "m",
      at: NOW,
    },
    {
      name: "both: the later",
      health: health({ cooldownUntil: NOW + 30, modelCooldowns: { m: NOW + 20 } }),
      model: "m",
      at: NOW + 30,
    },
    {
      name: "a cooldown that has run out: now",
      health: health({ cooldownUntil: NOW - 1, modelCooldowns: { m: NOW - 1 } }),
      model: "m",
      at: NOW,
    },
    {
      name: "disabled: never",
      health: health({ disabledReason: "refused" }),
      model: "m",
      at: Infinity,
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      expect(readyAt(c.health, c.model, NOW)).toBe(c.at);
    });

  test("spent credit keeps every model off until the cooldown ends, then every model is back", () => {
    const { health: after } = settle(health(), fail("quota", { status: 402 }), "m", NOW, MIDDLE);
    for (const model of ["m", "n", "other"]) {
      expect(readyAt(after, model, NOW)).toBe(NOW + 300_000);
      expect(readyAt(after, model, NOW + 300_000)).toBe(NOW + 300_000);
    }
  });

  test("a refused key stays off however long one waits", () => {
    const { health: after } = settle(health(), fail("auth", { status: 401 }), "m", NOW, MIDDLE);
    expect(readyAt(after, "m", NOW + 365 * 86_400_000)).toBe(Infinity);
  });
});

describe("admin edits", () => {
  const cooling = health({
    cooldownUntil: NOW + 5,
    modelCooldowns: { m: NOW + 5 },
    consecutiveFailures: 4,
    disabledReason: "the upstream refused its key (401: no)",
  });
  const cases: { name: string; edit: (h: Health) => Health; after: Health }[] = [
    {
      name: "enable ends any disable and the failure count, keeps cooldowns",
      edit: enable,
      after: health({ cooldownUntil: NOW + 5, modelCooldowns: { m: NOW + 5 } }),
    },
    {
      name: "disable names the admin, keeps the rest",
      edit: disable,
      after: { ...cooling, disabledReason: ADMIN_DISABLED },
    },
    { name: "reset clears everything", edit: reset, after: HEALTHY },
  ];
  for (const c of cases)
    test(c.name, () => {
      expect(c.edit(cooling)).toEqual(c.after);
    });
});

describe("prune and restore", () => {
  test("prune drops only the model cooldowns that have run out", () => {
    const before = health({ modelCooldowns: { gone: NOW, left: NOW + 1 } });
    expect(prune(before, NOW).modelCooldowns).toEqual({ left: NOW + 1 });
    const live = health({ modelCooldowns: { left: NOW + 1 } });
    expect(prune(live, NOW)).toBe(live);
  });

  const cases: { name: string; saved: Partial<Health>; health: Health }[] = [
    {
      name: "a record within limits comes back as it was",
      saved: {
        cooldownUntil: NOW + 60_000,
        modelCooldowns: { m: NOW + 1_000 },
        consecutiveFailures: 2,
        disabledReason: "refused",
      },
      health: health({
        cooldownUntil: NOW + 60_000,
        modelCooldowns: { m: NOW + 1_000 },
        consecutiveFailures: 2,
        disabledReason: "refused",
      }),
    },
    {
      name: "an absurd expiry an older levity saved is cut to a day from now",
      saved: { cooldownUntil: NOW + 1e16, modelCooldowns: { m: 8.64e15 + 1 } },
      health: health({
        cooldownUntil: NOW + MAX_HINT_MS,
        modelCooldowns: { m: NOW + MAX_HINT_MS },
      }),
    },
    {
      name: "expired model cooldowns and unreadable expiries are dropped",
      saved: {
        cooldownUntil: Number.NaN,
        modelCooldowns: { old: NOW - 1, odd: "soon" as unknown as number },
      },
      health: health(),
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      expect(restore(c.saved, NOW)).toEqual(c.health);
    });
});

describe("backoff and hints", () => {
  const cases: { kind: typeof ERROR_BACKOFF; failures: number; random: number; ms: number }[] = [
    { kind: RATE_LIMIT_BACKOFF, failures: 1, random: 0.5, ms: 5_000 },
    { kind: RATE_LIMIT_BACKOFF, failures: 2, random: 0.5, ms: 10_000 },
    { kind: RATE_LIMIT_BACKOFF, failures: 99, random: 0.5, ms: 300_000 },
    { kind: RATE_LIMIT_BACKOFF, failures: 1, random: 1, ms: 6_000 },
    { kind: QUOTA_BACKOFF, failures: 2, random: 0.5, ms: 600_000 },
    { kind: QUOTA_BACKOFF, failures: 9, random: 0.5, ms: 3_600_000 },
    { kind: ERROR_BACKOFF, failures: 0, random: 0.5, ms: 2_000 },
    { kind: ERROR_BACKOFF, failures: 3, random: 0, ms: 6_400 },
  ];
  for (const c of cases)
    test(`base ${c.kind.baseMs} ms, ${c.failures} in a row, jitter ${c.random}: ${c.ms} ms`, () => {
      expect(backoff(c.kind, c.failures, () => c.random)).toBe(c.ms);
    });

  test("clampHint keeps finite, non-negative waits up to a day", () => {
    expect([0, 1_500, 1e13, -1, Number.NaN, Infinity, undefined].map(clampHint)).toEqual([
      0,
      1_500,
      MAX_HINT_MS,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
