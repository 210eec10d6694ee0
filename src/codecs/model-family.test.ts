import { describe, expect, test } from "bun:test";
import { modelFamily } from "./model-family.ts";

const CASES: [string, string][] = [
  ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
  ["claude-sonnet-4-5", "claude-sonnet-4-5"],
  ["claude-3-5-sonnet-latest", "claude-3-5-sonnet"],
  ["claude-3-5-sonnet@20240620", "claude-3-5-sonnet"],
  ["anthropic.claude-3-sonnet-20240229-v1:0", "anthropic.claude-3-sonnet"],
  ["claude-opus-4-1", "claude-opus-4-1"],
  ["claude-haiku-4-5", "claude-haiku-4-5"],
  ["gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"],
  ["gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"],
  ["gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"],
  ["gemini-1.5-pro-001", "gemini-1.5-pro"],
  ["gemini-2.0-flash-exp", "gemini-2.0-flash"],
  ["gemini-3-pro-preview", "gemini-3-pro"],
  ["models/gemini-2.5-flash", "gemini-2.5-flash"],
  ["gemini-2.5-flash-lite", "gemini-2.5-flash-lite"],
  ["gemini-2.5-flash", "gemini-2.5-flash"],
  ["gpt-4o-2024-08-06", "gpt-4o"],
  ["gpt-4o", "gpt-4o"],
  ["o3-mini-2025-01-31", "o3-mini"],
  ["gpt-5.1-codex", "gpt-5.1-codex"],
  ["gpt-5.1", "gpt-5.1"],
  ["GPT-5-Latest", "gpt-5"],
  ["deepseek-chat", "deepseek-chat"],
  ["gemini-real", "gemini-real"],
  ["gpt-4-0613", "gpt-4"],
  ["mistral-large-2407", "mistral-large"],
  ["llama-3.1-405", "llama-3.1-405"],
  ["latest", "latest"],
  ["20250929", "20250929"],
];

describe("modelFamily", () => {
  test.each(CASES)("%s → %s", (model, family) => {
    expect(modelFamily(model)).toBe(family);
  });

  test("different models stay different families", () => {
    expect(modelFamily("claude-sonnet-4-5")).not.toBe(modelFamily("claude-opus-4-5"));
    expect(modelFamily("gemini-2.5-flash")).not.toBe(modelFamily("gemini-2.5-flash-lite"));
    expect(modelFamily("gpt-5.1")).not.toBe(modelFamily("gpt-5.1-codex"));
  });
});
