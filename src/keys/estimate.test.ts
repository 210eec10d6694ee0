import { describe, expect, test } from "bun:test";
import { estimateBodyTokens } from "./estimate.ts";

describe("estimateBodyTokens", () => {
  const cases: [string, string, number][] = [
    ["empty", "", 0],
    ["English: four characters a token", "a".repeat(4) + " ".repeat(4), 2],
    ["other scripts: a token a character", "日本語", 3],
    [
      "a long base64 run is one picture",
      `{"data":"${"QUJD".repeat(100_000)}"}`,
      1000 + Math.ceil(11 / 4),
    ],
    ["two pictures", `["${"A".repeat(300)}","${"B".repeat(300)}"]`, 2000 + Math.ceil(7 / 4)],
    ["a run just short of it counts as text", "A".repeat(255), 64],
  ];
  for (const [name, text, expected] of cases)
    test(name, () => expect(estimateBodyTokens(text)).toBe(expected));
});
