import { describe, expect, test } from "bun:test";
import { GatewayError } from "../failure.ts";
import type { ModelLimits } from "../mapping/model-limits.ts";
import {
  fittingTargets,
  MARGIN,
  mayExceed,
  refusalThreshold,
  targetWindow,
  worthCounting,
} from "./context-fit.ts";

const limits = (contextWindow: number, o200k?: boolean): ModelLimits => ({
  contextWindow,
  modalities: ["text"],
  o200k,
});

describe("refusalThreshold: how far over the window an estimate must be", () => {
  test.each([
    [limits(128_000, true), 128_000],
    [limits(200_000), Math.floor(200_000 * (1 + MARGIN))],
    [limits(1_048_576), Math.floor(1_048_576 * (1 + MARGIN))],
  ])("%p: %d", (model, threshold) => {
    expect(refusalThreshold(model)).toBe(threshold);
  });
});

describe("mayExceed: the tokenizer runs only near a window", () => {
  test.each([
    [1000, [limits(128_000)], false],
    [42_667, [limits(128_000)], true],
    [42_666, [limits(128_000)], false],
    [100_000, [limits(1_000_000), limits(200_000)], true],
    [1_000_000, [], false],
  ])("%d characters against %p: %p", (chars, windows, expected) => {
    expect(mayExceed(chars, windows)).toBe(expected);
  });
});

describe("targetWindow", () => {
  const none = new Headers();
  test("the table's window, the override's, or none", () => {
    expect(targetWindow({ upstream: "a", model: "claude-sonnet-4-5" }, none)?.contextWindow).toBe(
      200_000,
    );
    expect(
      targetWindow({ upstream: "a", model: "x", limits: { contextWindow: 9 } }, none)
        ?.contextWindow,
    ).toBe(9);
    expect(targetWindow({ upstream: "a", model: "x" }, none)).toBeUndefined();
  });

  test("Anthropic's 1M context beta widens a Claude model's window, no other", () => {
    const beta = new Headers({
      "anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07",
    });
    expect(targetWindow({ upstream: "a", model: "claude-sonnet-4-5" }, beta)?.contextWindow).toBe(
      1_000_000,
    );
    expect(targetWindow({ upstream: "a", model: "gpt-4o" }, beta)?.contextWindow).toBe(128_000);
  });
});

describe("fittingTargets", () => {
  const small = { upstream: "a", model: "gpt-4o" };
  const large = { upstream: "b", model: "gemini-2.5-pro" };
  const unknown = { upstream: "c", model: "local" };
  const none = new Headers();

  test("a target over its window is skipped for the next", () => {
    expect(fittingTargets([small, large], 150_000, none, "openai")).toEqual([large]);
    expect(fittingTargets([small, large], 100_000, none, "openai")).toEqual([small, large]);
  });

  test("a model with no known window is never refused", () => {
    expect(fittingTargets([small, unknown], 10_000_000, none, "openai")).toEqual([unknown]);
  });

  test.each([
    ["anthropic", "prompt is too long: 130000 tokens > 128000 maximum", undefined],
    [
      "openai",
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
      "context_length_exceeded",
    ],
    [
      "gemini",
      "The input token count (130000) exceeds the maximum number of tokens allowed (128000).",
      undefined,
    ],
  ] as const)("none fits: %s's own words, both numbers", (family, message, code) => {
    let thrown: unknown;
    try {
      fittingTargets([small], 130_000, none, family);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GatewayError);
    const error = thrown as GatewayError;
    expect(error.status).toBe(400);
    expect(error.message).toBe(message);
    expect(error.details.code).toBe(code);
    expect(error.details.headers).toEqual({ "x-levity-context-check": "estimate" });
  });
});

describe("worthCounting: the tokenizer runs only within reach of a window", () => {
  test.each([
    [10_000, [limits(200_000)], false],
    [55_000, [limits(200_000)], true],
    [54_999, [limits(200_000)], false],
    [32_000, [limits(128_000, true)], true],
    [31_999, [limits(128_000, true), limits(1_000_000)], false],
  ])("a rough %d against %p: %p", (rough, windows, expected) => {
    expect(worthCounting(rough, windows)).toBe(expected);
  });
});
