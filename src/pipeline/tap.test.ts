import { describe, expect, test } from "bun:test";
import { finalSpotter } from "./tap.ts";

describe("spotting where a forwarded stream's final event may be", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  test.each([
    ["in one chunk", ['data: {"a":1}\n\n', "data: [DONE]\n\n"], [false, true]],
    ["split across two chunks", ["data: {}\n\ndata: [DO", "NE]\n\n"], [false, true]],
    [
      "split one byte at a time",
      ["data: ", "[", "D", "O", "N", "E", "]", "\n\n"],
      [false, false, false, false, false, false, true, true],
    ],
    ["never", ['data: {"choices":[]}\n\n', 'data: {"choices":[{"x":"DONE"}]}\n\n'], [false, false]],
    [
      "from the marker on, every chunk (its blank line may come later)",
      ["data: [DONE]\n", "\n", ": trailing\n\n"],
      [true, true, true],
    ],
  ])("%s", (_name, chunks, expected) => {
    const spot = finalSpotter([bytes("[DONE]")]);
    expect(chunks.map((chunk) => spot(bytes(chunk)))).toEqual(expected);
  });
});
