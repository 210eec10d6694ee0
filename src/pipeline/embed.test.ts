import { describe, expect, test } from "bun:test";
import type { EmbedInput } from "../codecs/embedding.ts";
import { batchesOf } from "./embed.ts";

describe("batchesOf: calls within an upstream's limits, inputs in order", () => {
  const inputs = (weights: number[]): EmbedInput[] => weights.map((w) => ({ tokens: Array(w) }));
  const weigh = (input: EmbedInput) => input.tokens?.length ?? 0;
  const cases: [string, number[], number, number, number[][]][] = [
    ["by count", [1, 1, 1, 1, 1], 2, 100, [[1, 1], [1, 1], [1]]],
    [
      "by tokens",
      [40, 40, 40, 10],
      10,
      100,
      [
        [40, 40],
        [40, 10],
      ],
    ],
    ["exactly the cap fits", [50, 50, 1], 10, 100, [[50, 50], [1]]],
    ["an input over the cap goes alone", [10, 150, 10], 10, 100, [[10], [150], [10]]],
    ["one input", [5], 100, 100, [[5]]],
  ];
  for (const [name, weights, size, cap, expected] of cases)
    test(name, () => {
      const batches = batchesOf(inputs(weights), size, cap, weigh);
      expect(batches.map((batch) => batch.map(weigh))).toEqual(expected);
      expect(batches.flat()).toEqual(inputs(weights));
    });
});
