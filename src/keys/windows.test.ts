import { expect, test } from "bun:test";
import { retryAfterSeconds } from "./refusal.ts";
import { nextUtcDay, nextUtcMonth, utcDay, utcMonth } from "./windows.ts";

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
