import { expect, test } from "bun:test";
import { parseExpiry } from "./key-limits-input.ts";

const NOW = Date.UTC(2026, 10, 26, 12);

// A time past JavaScript's last date was accepted and then broke every answer that wrote it out (a 500).
const cases: [string | number, number | undefined][] = [
  ["2026-12-31", Date.UTC(2027, 0, 1)],
  ["2026-12-31T18:00:00Z", Date.UTC(2026, 11, 31, 18)],
  ["30d", NOW + 30 * 86_400_000],
  [Date.UTC(2030, 0, 1), Date.UTC(2030, 0, 1)],
  [1e17, undefined],
  [8.64e15 + 1, undefined],
  ["99999999999d", undefined],
  ["275760-09-13", undefined],
  [Number.NaN, undefined],
  [-1, undefined],
  ["tomorrow", undefined],
];

for (const [input, expected] of cases)
  test(`expires ${JSON.stringify(input)} is ${expected === undefined ? "refused" : new Date(expected).toISOString()}`, () => {
    const at = parseExpiry(input, NOW);
    expect(at).toBe(expected);
    if (at !== undefined) expect(() => new Date(at).toISOString()).not.toThrow();
  });
