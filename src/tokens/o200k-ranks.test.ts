import { describe, expect, test } from "bun:test";
import packageRanks from "gpt-tokenizer/bpeRanks/o200k_base";
import { countTokens as packageCount } from "gpt-tokenizer/encoding/o200k_base";
import { o200kCounter, ranksFromTiktoken } from "./o200k-ranks.ts";

/*
 * The tokenizer levity builds from the embedded tiktoken file must be gpt-tokenizer's own o200k_base:
 * the same rank for every one of its 199,998 tokens (as a string or as bytes, as the package has
 * it), and the same counts.
 */
describe("o200k_base from the tiktoken file", () => {
  test("every rank is the package's own, string or bytes alike", async () => {
    const file = Bun.file(
      new URL("../../node_modules/gpt-tokenizer/data/o200k_base.tiktoken", import.meta.url),
    );
    const ours = ranksFromTiktoken(await file.text());
    const theirs = packageRanks as (string | number[])[];
    expect(ours.length).toBe(theirs.length);
    const differing: number[] = [];
    let asBytes = 0;
    for (let rank = 0; rank < theirs.length; rank++) {
      if (typeof theirs[rank] !== "string") asBytes++;
      if (JSON.stringify(ours[rank]) !== JSON.stringify(theirs[rank])) differing.push(rank);
    }
    expect(differing).toEqual([]);
    // Both kinds are there to compare: tokens that are not UTF-8, and those after a byte-order mark.
    expect(asBytes).toBeGreaterThan(0);
  });

  test.each([
    "",
    "Hello, world!",
    "\uFEFFusing System;\n\nnamespace Demo {}",
    "naïve café — 你好，世界 🌍🚀 مرحبا",
    "    indented\tcode();\r\n// comment",
    "\u00ff\u0000\u{10ffff}",
  ])("counts %j as the package does", async (text) => {
    const count = await o200kCounter();
    expect(count(text)).toBe(packageCount(text));
  });
});
