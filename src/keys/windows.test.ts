import { expect, test } from "bun:test";
import { retryAfterSeconds } from "./refusal.ts";
import { freshCounters } from "./admission.ts";
import { counterText, countersFrom } from "./counter-store.ts";
import {
  addToWindow,
  emptyWindow,
  nextUtcDay,
  nextUtcMonth,
  type SlidingWindow,
  utcDay,
  utcMonth,
  WINDOW_SECONDS,
  windowTotal,
} from "./windows.ts";

// Reset times at the edges a budget meets: the last millisecond of a day, a month, a leap February, a year.
const at = (text: string) => Date.parse(text);
const cases: [string, string, string][] = [
  ["2026-11-26T23:59:59.999Z", "2026-11-27T00:00:00.000Z", "2026-12-01T00:00:00.000Z"],
  ["2026-11-30T23:59:59.999Z", "2026-12-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"],
  ["2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
  ["2028-02-28T12:00:00.000Z", "2028-02-29T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
  ["2027-01-31T00:00:00.000Z", "2027-02-01T00:00:00.000Z", "2027-02-01T00:00:00.000Z"],
  ["2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
];

for (const [now, day, month] of cases)
  test(`at ${now}: the day resets at ${day}, the month at ${month}`, () => {
    expect(new Date(nextUtcDay(at(now))).toISOString()).toBe(day);
    expect(new Date(nextUtcMonth(at(now))).toISOString()).toBe(month);
    // The reset starts a new count: the day and month it falls in are not the ones before it.
    expect(utcDay(nextUtcDay(at(now)))).not.toBe(utcDay(at(now)));
    expect(utcMonth(nextUtcMonth(at(now)))).not.toBe(utcMonth(at(now)));
  });

test("a budget's Retry-After a millisecond before midnight is 1 second, never 0", () => {
  const now = at("2026-12-31T23:59:59.999Z");
  const refusal = {
    limit: "daily_tokens" as const,
    allowed: 10,
    used: 10,
    need: 1,
    resetsAt: nextUtcDay(now),
  };
  expect(retryAfterSeconds(refusal, now)).toBe(1);
  expect(retryAfterSeconds({ ...refusal, resetsAt: nextUtcMonth(now) }, now)).toBe(1);
  expect(retryAfterSeconds(refusal, at("2026-12-31T00:00:00.000Z"))).toBe(86_400);
});

// The kept total against the buckets summed one by one, over a seeded run of what the limits do:
// requests counted now, estimates corrected later in the second they were counted in (or now,
// once that second has left), tickets timed by a shared store whose clock is ahead of this one,
// windows read back from the state database mid-run, and time standing, stepping, jumping past
// the window, and going back.
test("a window's kept total is always the sum of its buckets in the window", () => {
  let seed = 20261126;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const bucketSum = (window: SlidingWindow, now: number) => {
    let sum = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++)
      if (window.seconds[i]! > now - WINDOW_SECONDS && window.seconds[i]! <= now)
        sum += window.amounts[i]!;
    return sum;
  };
  let window = emptyWindow();
  const admitted: number[] = [];
  let now = 1_800_000_000;
  let checks = 0;
  for (let step = 0; step < 20_000; step++) {
    const move = random();
    if (move < 0.3) now += 1;
    else if (move < 0.33) now += 1 + Math.floor(random() * 90);
    else if (move < 0.34) now -= Math.floor(random() * 5);
    const action = random();
    if (action < 0.5) {
      addToWindow(window, now, 1 + Math.floor(random() * 100));
      admitted.push(now);
    } else if (action < 0.8 && admitted.length > 0) {
      const second = admitted[Math.floor(random() * admitted.length)]!;
      const change = Math.floor(random() * 200) - 100;
      if (!addToWindow(window, second, change, now)) addToWindow(window, now, Math.max(0, change));
    } else if (action < 0.9) {
      // Settled against a ticket from a clock a few seconds ahead.
      const ahead = now + 1 + Math.floor(random() * 3);
      addToWindow(window, ahead, Math.floor(random() * 100), now);
      admitted.push(ahead);
    } else if (action < 0.91) {
      window = countersFrom(counterText({ ...freshCounters(now * 1000), tokens: window })).tokens;
    }
    expect(windowTotal(window, now)).toBe(bucketSum(window, now));
    checks++;
  }
  expect(checks).toBe(20_000);
  for (const later of [1, 2, 59, 60, 61])
    expect(windowTotal(window, now + later)).toBe(bucketSum(window, now + later));
  // What the state database gives back counts the same.
  const restored = countersFrom(counterText({ ...freshCounters(now * 1000), tokens: window }));
  expect(windowTotal(restored.tokens, now)).toBe(bucketSum(window, now));
});

test("a second before 1970 is counted in no bucket", () => {
  const window = emptyWindow();
  expect(addToWindow(window, -5, 7)).toBe(false);
  expect(addToWindow(window, -1, 7, 0)).toBe(false);
  expect(windowTotal(window, 0)).toBe(0);
});
