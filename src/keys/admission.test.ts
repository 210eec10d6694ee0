import { describe, expect, test } from "bun:test";
import type { KeyLimits } from "../config/key-record.ts";
import {
  admit,
  freshCounters,
  isRefusal,
  type KeyCounters,
  settle,
  type Ticket,
} from "./admission.ts";

// 2026-11-26T10:00:00Z, whole second.
const T0 = Date.UTC(2026, 10, 26, 10, 0, 0);

function run(
  limits: KeyLimits,
  steps: { at: number; estimate?: number; settle?: { tokens: number; usd?: number } }[],
  counters: KeyCounters = freshCounters(T0),
): (string | number)[] {
  const outcomes: (string | number)[] = [];
  for (const step of steps) {
    const verdict = admit(counters, limits, step.estimate ?? 0, step.at);
    if (isRefusal(verdict)) {
      outcomes.push(
        `${verdict.limit}${"retryAfterSeconds" in verdict ? ` ${verdict.retryAfterSeconds}s` : ` until ${new Date(verdict.resetsAt).toISOString()}`}`,
      );
      continue;
    }
    outcomes.push("ok");
    if (step.settle)
      settle(counters, verdict as Ticket, step.settle.tokens, step.settle.usd ?? 0, step.at);
  }
  return outcomes;
}

const s = (seconds: number) => T0 + seconds * 1000;

describe("admission", () => {
  test("rpm: the 61st request in a minute waits until the first one's second leaves the window", () => {
    const steps = Array.from({ length: 60 }, (_, i) => ({
      at: s(i < 30 ? 0 : 10),
      settle: { tokens: 0 },
    }));
    const outcomes = run({ rpm: 60 }, [...steps, { at: s(20) }, { at: s(59.9) }, { at: s(60) }]);
    expect(outcomes.slice(0, 60).every((o) => o === "ok")).toBe(true);
    // At 20 s the 30 of second 0 leave at 60 s: 40 s to wait; at 59.9 s (second 59), 1 s.
    expect(outcomes.slice(60)).toEqual(["rpm 40s", "rpm 1s", "ok"]);
  });

  test("concurrency counts until settled, whatever the rate", () => {
    const counters = freshCounters(T0);
    const limits = { concurrency: 2 };
    const a = admit(counters, limits, 0, s(0));
    const b = admit(counters, limits, 0, s(0));
    const c = admit(counters, limits, 0, s(0));
    expect([isRefusal(a), isRefusal(b), isRefusal(c)]).toEqual([false, false, true]);
    expect(c).toMatchObject({ limit: "concurrency", allowed: 2, used: 2, retryAfterSeconds: 1 });
    settle(counters, a as Ticket, 0, 0, s(1));
    expect(isRefusal(admit(counters, limits, 0, s(1)))).toBe(false);
  });

  const tpmCases: {
    name: string;
    steps: Parameters<typeof run>[1];
    expected: (string | number)[];
  }[] = [
    {
      name: "the estimate counts until the answer's usage replaces it",
      steps: [
        { at: s(0), estimate: 600 },
        { at: s(1), estimate: 500 },
      ],
      expected: ["ok", "tpm 59s"],
    },
    {
      name: "usage smaller than the estimate frees room",
      steps: [
        { at: s(0), estimate: 600, settle: { tokens: 100 } },
        { at: s(1), estimate: 500 },
      ],
      expected: ["ok", "ok"],
    },
    {
      name: "usage larger than the estimate takes room",
      steps: [
        { at: s(0), estimate: 10, settle: { tokens: 990 } },
        { at: s(1), estimate: 20 },
      ],
      expected: ["ok", "tpm 59s"],
    },
    {
      name: "a request larger than the limit goes through an empty window, alone",
      steps: [
        { at: s(0), estimate: 5000, settle: { tokens: 5000 } },
        { at: s(30), estimate: 1 },
        { at: s(60), estimate: 1 },
      ],
      expected: ["ok", "tpm 30s", "ok"],
    },
  ];
  for (const c of tpmCases)
    test(`tpm: ${c.name}`, () => expect(run({ tpm: 1000 }, c.steps)).toEqual(c.expected));

  test("daily tokens: refused once spent, with the next UTC midnight, and counted afresh the next day", () => {
    const outcomes = run({ dailyTokens: 1000 }, [
      { at: s(0), estimate: 10, settle: { tokens: 900 } },
      { at: s(100), estimate: 50, settle: { tokens: 60 } },
      { at: s(200), estimate: 100 },
      { at: Date.UTC(2026, 10, 27, 0, 0, 1), estimate: 100 },
    ]);
    expect(outcomes).toEqual(["ok", "ok", "daily_tokens until 2026-11-27T00:00:00.000Z", "ok"]);
  });

  test("monthly spend: refused once the budget is reached, until the 1st of next month", () => {
    const outcomes = run({ monthlyUsd: 1 }, [
      { at: s(0), settle: { tokens: 10, usd: 0.6 } },
      { at: s(1), settle: { tokens: 10, usd: 0.6 } },
      { at: s(2) },
      { at: Date.UTC(2026, 11, 1, 0, 0, 0) },
    ]);
    expect(outcomes).toEqual(["ok", "ok", "monthly_usd until 2026-12-01T00:00:00.000Z", "ok"]);
  });

  test("a budget is told before a rate: its wait is the longer", () => {
    const counters = freshCounters(T0);
    counters.monthUsd = 5;
    const verdict = admit(counters, { rpm: 1, monthlyUsd: 5 }, 0, s(0));
    expect(verdict).toMatchObject({ limit: "monthly_usd" });
  });

  test("a refused request counts nothing", () => {
    const counters = freshCounters(T0);
    run({ rpm: 1 }, [{ at: s(0) }, { at: s(1) }, { at: s(2) }], counters);
    expect(counters.inFlight).toBe(1);
    expect(counters.requests.amounts.reduce((a, b) => a + b, 0)).toBe(1);
  });
});
