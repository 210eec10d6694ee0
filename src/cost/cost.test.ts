import { describe, expect, test } from "bun:test";
import { priceRules, type PriceEntry } from "../config/prices.ts";
import { costOf, createPricer, priceFor, type TokenCounts } from "./cost.ts";
import { loadConfig } from "../config/load.ts";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import type { RequestRecord } from "../observe/record.ts";

const tokens = (t: Partial<TokenCounts>): TokenCounts => ({
  input: 0,
  output: 0,
  cached: 0,
  cacheWrite: 0,
  reasoning: 0,
  ...t,
});

const builtIn = (model: string) => priceFor({ gateway: [] }, model);

describe("the arithmetic", () => {
  const price = {
    input: 3,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    output: 15,
    reasoning: 20,
  };
  const cases: [string, Partial<TokenCounts>, number][] = [
    ["nothing", {}, 0],
    ["plain input", { input: 1_000_000 }, 3],
    ["plain output", { output: 1_000_000 }, 15],
    // 1,000 input of which 600 cached and 100 written: 300 plain.
    [
      "cached and written input",
      { input: 1000, cached: 600, cacheWrite: 100 },
      (300 * 3 + 600 * 0.3 + 100 * 3.75) / 1e6,
    ],
    ["reasoning inside output", { output: 500, reasoning: 200 }, (300 * 15 + 200 * 20) / 1e6],
    [
      "all five",
      { input: 12_000, cached: 8_000, cacheWrite: 2_000, output: 900, reasoning: 400 },
      (2_000 * 3 + 8_000 * 0.3 + 2_000 * 3.75 + 500 * 15 + 400 * 20) / 1e6,
    ],
    // An upstream that reports more cached than input is not charged a negative amount.
    ["cached above input", { input: 10, cached: 20 }, (20 * 0.3) / 1e6],
  ];
  for (const [name, counts, expected] of cases)
    test(name, () => expect(costOf(price, tokens(counts))).toBeCloseTo(expected, 12));
});

describe("the compiled-in table", () => {
  const cases: [string, number | undefined, number | undefined, number | undefined][] = [
    // model, input, cached input, output
    ["claude-sonnet-4-5-20250929", 3, 0.3, 15],
    ["claude-sonnet-4-5", 3, 0.3, 15],
    ["claude-sonnet-4-20250514", 3, 0.3, 15],
    ["claude-opus-4-5-20251101", 5, 0.5, 25],
    ["claude-opus-4-1-20250805", 15, 1.5, 75],
    ["claude-opus-4-20250514", 15, 1.5, 75],
    ["claude-haiku-4-5-20251001", 1, 0.1, 5],
    ["gpt-4o", 2.5, 1.25, 10],
    ["gpt-4o-2024-08-06", 2.5, 1.25, 10],
    ["gpt-4o-2024-05-13", 5, 5, 15],
    ["gpt-4o-mini-2024-07-18", 0.15, 0.075, 0.6],
    ["gpt-5", 1.25, 0.125, 10],
    ["gpt-5-mini-2025-08-07", 0.25, 0.025, 2],
    ["gpt-5-nano", 0.05, 0.005, 0.4],
    ["gpt-4.1-2025-04-14", 2, 0.5, 8],
    ["gpt-4.1-mini", 0.4, 0.1, 1.6],
    ["o3", 2, 0.5, 8],
    ["o4-mini-2025-04-16", 1.1, 0.275, 4.4],
    ["gemini-2.5-pro", 1.25, 0.125, 10],
    ["gemini-2.5-flash", 0.3, 0.03, 2.5],
    ["gemini-2.5-flash-lite", 0.1, 0.01, 0.4],
    ["gemini-2.0-flash-001", 0.1, 0.025, 0.4],
    // A sibling priced differently is not its family's.
    ["gpt-4o-audio-preview", undefined, undefined, undefined],
    ["gemini-2.5-flash-image", undefined, undefined, undefined],
    ["my-local-model", undefined, undefined, undefined],
  ];
  for (const [model, input, cached, output] of cases)
    test(model, () => {
      const price = builtIn(model);
      expect(price?.input).toBe(input);
      expect(price?.cachedInput).toBe(cached);
      expect(price?.output).toBe(output);
      // All three providers bill reasoning as output.
      expect(price?.reasoning).toBe(output);
    });
  test("Anthropic's cache writes cost 1.25 times input", () => {
    expect(builtIn("claude-sonnet-4-5")?.cacheWrite).toBe(3.75);
    expect(builtIn("gpt-4o")?.cacheWrite).toBe(2.5);
  });
});

describe("globs and precedence", () => {
  const rules = (entries: Record<string, PriceEntry>) => priceRules(entries);
  test("the most specific glob wins, whatever the written order", () => {
    const table = rules({
      "*": { input: 1, output: 1 },
      "claude-*": { input: 2, output: 2 },
      "claude-sonnet-*": { input: 3, output: 3 },
    });
    expect(priceFor({ gateway: table }, "claude-sonnet-9")?.input).toBe(3);
    expect(priceFor({ gateway: table }, "claude-opus-9")?.input).toBe(2);
    expect(priceFor({ gateway: table }, "llama")?.input).toBe(1);
  });
  test("upstream over gateway.yaml over compiled-in", () => {
    const gateway = rules({ "claude-sonnet-4*": { input: 7, output: 8 } });
    const upstream = rules({ "claude-*": { input: 0, output: 0 } });
    expect(priceFor({ upstream, gateway }, "claude-sonnet-4-5")?.input).toBe(0);
    expect(priceFor({ gateway }, "claude-sonnet-4-5")?.input).toBe(7);
    expect(priceFor({ gateway: [] }, "claude-sonnet-4-5")?.input).toBe(3);
    // A table without a match passes the model on to the next.
    expect(priceFor({ upstream, gateway }, "gpt-4o")?.input).toBe(2.5);
  });
  test("defaults: cached_input and cache_write are input, reasoning is output", () => {
    const [rule] = rules({ m: { input: 2, output: 9 } });
    expect(rule!.price).toEqual({
      input: 2,
      cachedInput: 2,
      cacheWrite: 2,
      output: 9,
      reasoning: 9,
    });
    const [given] = rules({
      m: { input: 2, output: 9, cached_input: 0, cache_write: 4, reasoning: 1 },
    });
    expect(given!.price).toEqual({
      input: 2,
      cachedInput: 0,
      cacheWrite: 4,
      output: 9,
      reasoning: 1,
    });
  });
});

describe("prices: in gateway.yaml", () => {
  const load = (yaml: string) => {
    const dir = mkdtempSync(join(tmpdir(), "levity-prices-"));
    try {
      writeFileSync(join(dir, "gateway.yaml"), yaml);
      return loadConfig({ dir, env: {} });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const upstreams = `upstreams:
  - name: local
    protocol: openai
    base_url: http://127.0.0.1:9/v1
    prices: { "*": { input: 0, output: 0 } }
    accounts: [{ name: a, key: sk-local-0000 }]
  - name: resell
    protocol: anthropic
    base_url: http://127.0.0.1:9
    accounts: [{ name: a, key: sk-resell-000 }]
  - name: e
    protocol: echo
`;
  test("top-level and per-upstream tables reach the snapshot", () => {
    const snapshot = load(
      `prices:\n  "claude-sonnet-4*": { input: 2, output: 10, cached_input: 0.2 }\n${upstreams}`,
    );
    const tables = (name: string) => ({
      upstream: snapshot.upstreamByName.get(name)?.prices,
      gateway: snapshot.prices,
    });
    expect(priceFor(tables("resell"), "claude-sonnet-4-5")).toEqual({
      input: 2,
      cachedInput: 0.2,
      cacheWrite: 2,
      output: 10,
      reasoning: 10,
    });
    expect(priceFor(tables("local"), "claude-sonnet-4-5")?.input).toBe(0);
    // Echo answers from levity itself: free.
    expect(priceFor(tables("e"), "anything")?.output).toBe(0);
  });
  test("mistakes are problems with friendly words", () => {
    const errorOf = (yaml: string) => {
      try {
        load(yaml);
      } catch (error) {
        return (error as Error).message;
      }
      return "";
    };
    expect(errorOf(`prices:\n  gpt-x: { input: -1, output: 1 }\n${upstreams}`)).toContain(
      "must be 0 or more",
    );
    expect(errorOf(`prices:\n  gpt-x: { input: 1 }\n${upstreams}`)).toContain(
      "prices.gpt-x.output: must be a map with input and output at least",
    );
    expect(errorOf(`prices:\n  gpt-x: { input: 1, output: 2, cache: 1 }\n${upstreams}`)).toContain(
      "cache",
    );
    expect(errorOf(`prices: 3\n${upstreams}`)).toContain("must be a map from model names");
    const glob = (length: number) => `gpt-${"x".repeat(length - 5)}*`;
    expect(errorOf(`prices:\n  "${glob(1001)}": { input: 1, output: 2 }\n${upstreams}`)).toContain(
      "must be at most 1000 characters",
    );
    // One picomatch would refuse to compile is told the same way, not left to price nothing
    // (written as an explicit key: YAML allows an implicit one 1,024 characters at most).
    const long = errorOf(
      `prices:\n  ? "${glob(70_000)}"\n  : { input: 1, output: 2 }\n${upstreams}`,
    );
    expect(long).toContain("must be at most 1000 characters");
    // Named by its beginning and its length, not written out whole.
    expect(long).toContain("prices.gpt-xxx");
    expect(long).toContain("… (70000 characters): must be at most 1000 characters");
    expect(long.length).toBeLessThan(300);
    expect(errorOf(`prices:\n  "${glob(1000)}": { input: 1, output: 2 }\n${upstreams}`)).toBe("");
  });
});

describe("the pricer", () => {
  const record = (model: string, upstream?: string): RequestRecord => ({
    time: 0,
    requestId: "r",
    method: "POST",
    route: "/v1/chat/completions",
    requestedModel: model,
    upstream,
    attempts: 1,
    status: 200,
    stream: false,
    latencyMs: 1,
    ttfbMs: 1,
    inputTokens: 1000,
    outputTokens: 10,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
  });
  const snapshot = {
    prices: [],
    upstreamByName: new Map([["u", {}]]),
  } as unknown as Parameters<ReturnType<typeof createPricer>>[0];
  test("warns once per upstream and model with no price, naming prices:", () => {
    const warnings: string[] = [];
    const price = createPricer({ warn: (m) => warnings.push(m) });
    expect(price(snapshot, record("gpt-4o", "u"))).toBeCloseTo((1000 * 2.5 + 10 * 10) / 1e6, 12);
    expect(price(snapshot, record("mystery\nWARN forged", "u"))).toBeUndefined();
    expect(price(snapshot, record("mystery\nWARN forged", "u"))).toBeUndefined();
    expect(price(snapshot, record("mystery\nWARN forged", "v"))).toBeUndefined();
    // Refused before any upstream: nothing was spent, nothing to say.
    expect(price(snapshot, record("other"))).toBe(0);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain("prices:");
    expect(warnings[0]).toContain('"mystery\\nWARN forged"');
    expect(warnings[0]).not.toContain("\n");
  });
  test("warns about at most 1,000 pairs, and prices stay right past the 4,096 it remembers", () => {
    const warnings: string[] = [];
    const price = createPricer({ warn: (m) => warnings.push(m) });
    // Client-chosen names are unbounded: past 1,000 unpriced pairs, no more warnings are kept.
    for (let i = 0; i < 1200; i++)
      expect(price(snapshot, record(`unpriced-${i}`, "u"))).toBeUndefined();
    expect(warnings).toHaveLength(1000);
    expect(warnings[999]).toContain('"unpriced-999"');
    // More pairs than the cache holds: it starts again, and a priced model is still priced.
    for (let i = 0; i < 5000; i++) price(snapshot, record(`churn-${i}`, i % 2 ? "u" : "v"));
    expect(price(snapshot, record("gpt-4o", "u"))).toBeCloseTo((1000 * 2.5 + 10 * 10) / 1e6, 12);
    expect(price(snapshot, record("unpriced-5", "u"))).toBeUndefined();
    expect(warnings).toHaveLength(1000);
  });
});
