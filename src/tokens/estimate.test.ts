import { expect, test } from "bun:test";
import type { ChatRequest } from "../ir.ts";
import { TokenCounter } from "./estimate.ts";

const TEXT = "The quick brown fox jumps over the lazy dog, again and again.";
const HUGE = "word ".repeat(20_000); // 100,000 characters: over the exact-estimate limit

function request(text: string): ChatRequest {
  return {
    model: "m",
    system: [],
    tools: [],
    stream: false,
    turns: [{ role: "user", parts: [{ type: "text", text }] }],
  };
}

test.each([
  ["before the tokenizer loads, any text", TEXT, false, Math.ceil(TEXT.length / 4)],
  ["after it loads, a text over 64K characters", HUGE, true, Math.ceil(HUGE.length / 4)],
])("estimate is the rough count (four characters a token) %s", async (_, text, load, rough) => {
  const counter = new TokenCounter();
  if (load) await counter.load();
  expect(counter.estimate(text)).toBe(rough);
});

test("once loaded, estimates are the tokenizer's, and countRequest agrees with estimateRequest", async () => {
  const counter = new TokenCounter();
  const rough = counter.estimate(TEXT);
  await counter.load();
  const exact = counter.estimate(TEXT);
  expect(exact).not.toBe(rough);
  expect(exact).toBeGreaterThan(10);
  expect(await counter.countRequest(request(TEXT))).toBe(counter.estimateRequest(request(TEXT)));
});

test("countRequest counts a huge text exactly, not roughly", async () => {
  const counter = new TokenCounter();
  const counted = await counter.countRequest(request(HUGE));
  expect(counted).not.toBe(counter.estimateRequest(request(HUGE)));
});

test("a counter's tokenizer is its own: another counter still estimates roughly until it loads", async () => {
  const loaded = new TokenCounter();
  await loaded.load();
  expect(new TokenCounter().estimate(TEXT)).toBe(Math.ceil(TEXT.length / 4));
});

test("a history counted once counts the same when it comes again, with a turn more", async () => {
  const history = Array.from(
    { length: 50 },
    (_, i) => `turn ${i}: ${"some code(x) => y; ".repeat(40)}`,
  );
  const build = (texts: string[]): ChatRequest => ({
    ...request(""),
    turns: texts.map((text) => ({
      role: "user" as const,
      parts: [{ type: "text" as const, text }],
    })),
  });
  const warm = new TokenCounter();
  const first = await warm.countRequest(build(history));
  const longer = [...history, "one more question"];
  const again = await warm.countRequest(build(longer));
  const fresh = await new TokenCounter().countRequest(build(longer));
  expect(again).toBe(fresh);
  expect(again).toBeGreaterThan(first);
  // The same text twice in one request counts twice.
  expect(await warm.countRequest(build([history[0]!, history[0]!]))).toBe(
    2 * (await warm.countRequest(build([history[0]!]))),
  );
});
