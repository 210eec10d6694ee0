import { expect, test } from "bun:test";
import type { ChatRequest } from "../ir.ts";
import { roughRequestTokens, TokenCounter } from "./estimate.ts";

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

// The densest texts a conversation holds: the rough count must never fall under a quarter of the
// tokenizer's, or the window check would skip counting a request that could be over.
test.each([
  ["prose", "The quick brown fox jumps over the lazy dog, and then it runs away. ".repeat(50)],
  ["code", "export function f(b: number[]) {\n  return b.map((x) => x * 2);\n}\n".repeat(50)],
  ["JSON", JSON.stringify({ a: [1, 2, 3], nested: { key: "value", n: 123.456 } }).repeat(50)],
  ["CJK", "人工智能是计算机科学的一个分支，它企图了解智能的实质。".repeat(50)],
  ["emoji", "😀🎉🚀👍🏽".repeat(100)],
  ["hex", "3f9a7c2e1b0d4f8a6c5e".repeat(100)],
  ["base64", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ".repeat(30)],
  ["digits", "12345678901234567890 ".repeat(100)],
  ["a diff", "@@ -1,5 +1,5 @@\n-  const x = 1;\n+  const x = 2;\n   return x;\n".repeat(50)],
  ["Cyrillic", "Искусственный интеллект — это область информатики. ".repeat(50)],
])("the rough count of %s is at least a quarter of the tokenizer's", async (_name, text) => {
  const exact = await new TokenCounter().countRequest(request(text));
  expect(roughRequestTokens(request(text)) * 4).toBeGreaterThanOrEqual(exact);
});
