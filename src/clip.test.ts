import { expect, test } from "bun:test";
import { clipText } from "./clip.ts";

test.each([
  ["short enough", "a short message", 20, "a short message"],
  ["exactly the limit", "0123456789", 10, "0123456789"],
  [
    "cut at the last space in the final fifth",
    "one two three four five six",
    20,
    "one two three four…",
  ],
  [
    "a space too early: cut inside the word",
    "a bcdefghijklmnopqrstuvwxyz",
    20,
    "a bcdefghijklmnopqr…",
  ],
  ["no space at all", "abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"],
  ["spaces before the cut are not kept", "abcdefgh   ijklmnop", 12, "abcdefgh…"],
  ["never half of an emoji", "😀".repeat(10), 6, "😀😀…"],
] as const)("%s", (_, text, max, clipped) => {
  const result = clipText(text, max);
  expect(result).toBe(clipped);
  expect(result.length).toBeLessThanOrEqual(max);
});
