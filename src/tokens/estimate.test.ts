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
