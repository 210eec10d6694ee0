import { describe, expect, test } from "bun:test";
import picomatch from "picomatch";
import { mulberry32 } from "../../test/support/prng.ts";
import { BUILT_IN_PRICES } from "../cost/built-in-prices.ts";
import { literalHead, matchRule, priceRules } from "./prices.ts";

describe("literalHead", () => {
  const cases: [glob: string, head: string][] = [
    ["gpt-4o{,-2*}", "gpt-4o"],
    ["gpt-4.1-mini*", "gpt-4.1-mini"],
    ["claude-sonnet-4-5*", "claude-sonnet-4-5"],
    ["*mini*", ""],
    ["!gpt*", ""],
    ["a/**", "a"],
    ["x?y*", "x"],
    ["[ab]c*", ""],
    ["+(a|b)*", ""],
    ["foo\\*bar", "foo"],
    ["Gemini_2.5@(pro|flash)", "Gemini_2.5"],
    ["exact-name", "exact-name"],
    ["./gpt-4o*", ""],
    [".//gpt*", ""],
    [".hidden*", ".hidden"],
  ];
  for (const [glob, head] of cases)
    test(`${glob} -> "${head}"`, () => expect(literalHead(glob)).toBe(head));
});

describe("a price glob compiled only when a name could match it", () => {
  // Globs of every shape a gateway.yaml might hold, and the compiled-in table's.
  const globs = [
    ...BUILT_IN_PRICES.map((rule) => rule.glob),
    "gpt-4o{,-2*}",
    "*mini*",
    "!gpt*",
    "a/**",
    "x?y*",
    "[ab]c*",
    "+(a|b)*",
    "foo\\*bar",
    "Claude-*",
    "GEMINI-2.5-*",
    "s*",
    "k*",
    "i*",
    "ss*",
    "deepseek-chat",
    "./gpt-4o*",
    "./gpt-4o",
    "./*",
    ".//gpt*",
    ".hidden*",
  ];
  const pieces = [
    "gpt-4o",
    "GPT-4O",
    "gpt-4.1",
    "-mini",
    "-2024-08-06",
    "claude-",
    "Claude-Sonnet-4-5",
    "-20250929",
    "gemini-2.5-",
    "flash",
    "PRO",
    "o3",
    "a",
    "b",
    "c",
    "x",
    "y",
    "s",
    "k",
    "i",
    "/",
    "./",
    "\\",
    "*",
    ".",
    "ß",
    "ſ",
    "ı",
    "\u212a",
    "İ",
    "é",
    "deepseek-chat",
    "",
  ];
  const random = mulberry32(20);
  const names = new Set<string>(pieces);
  while (names.size < 3000) {
    let name = "";
    const parts = 1 + Math.floor(random() * 4);
    for (let i = 0; i < parts; i++) name += pieces[Math.floor(random() * pieces.length)];
    names.add(name);
  }
  // Names made from each glob's own text too, so that every glob has names it matches.
  for (const glob of globs) {
    const head = literalHead(glob);
    for (const tail of ["", "x", "-2", "-mini", "/b", "-preview"]) {
      names.add(head + tail);
      names.add((head + tail).toUpperCase());
    }
  }

  test("the same answer as the glob compiled at once, for every glob and name", () => {
    const rules = priceRules(
      Object.fromEntries(globs.map((glob) => [glob, { input: 1, output: 2 }])),
    );
    let matched = 0;
    for (const rule of rules) {
      const eager = picomatch(rule.glob, { nocase: true, dot: true });
      for (const name of names) {
        const expected = eager(name);
        if (rule.matches(name) !== expected)
          throw new Error(`${rule.glob} against ${JSON.stringify(name)}: expected ${expected}`);
        if (expected) matched++;
      }
    }
    // Not a vacuous agreement: many pairs match.
    expect(matched).toBeGreaterThan(500);
  });

  test("a glob is compiled only for a name that begins with its head", () => {
    // picomatch refuses to compile a glob over 65,536 characters: made at once, this one throws.
    const huge = `gpt-${"*".repeat(70_000)}`;
    expect(() => picomatch(huge)).toThrow();
    const [rule] = priceRules({ [huge]: { input: 1, output: 2 } });
    expect(rule!.matches("claude-sonnet-4-5")).toBe(false);
    // A name that could match compiles it, and a glob that cannot be compiled matches nothing.
    expect(rule!.matches("gpt-4o")).toBe(false);
  });

  test("the built-in table picks the same rule, and prices dated snapshots as their family", () => {
    expect(matchRule(BUILT_IN_PRICES, "gpt-4o-2024-08-06")?.glob).toBe(
      matchRule(BUILT_IN_PRICES, "gpt-4o")?.glob,
    );
    expect(matchRule(BUILT_IN_PRICES, "GPT-4O-MINI")?.glob).toBe(
      matchRule(BUILT_IN_PRICES, "gpt-4o-mini")?.glob,
    );
    expect(matchRule(BUILT_IN_PRICES, "gpt-4o-mini")?.glob).not.toBe(
      matchRule(BUILT_IN_PRICES, "gpt-4o")?.glob,
    );
    expect(matchRule(BUILT_IN_PRICES, "no-such-model")).toBeUndefined();
  });
});
