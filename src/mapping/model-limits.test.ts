import { describe, expect, test } from "bun:test";
import { builtInLimits, modelLimits } from "./model-limits.ts";

/* The built-in table: each family's names, dated and prefixed forms, and the order of patterns. */

const KNOWN: [string, number, number | undefined, string[]][] = [
  ["claude-opus-4-7", 1_000_000, 128_000, ["text", "image", "pdf"]],
  ["claude-sonnet-4-6", 1_000_000, 64_000, ["text", "image", "pdf"]],
  ["claude-sonnet-4-5-20250929", 200_000, 64_000, ["text", "image", "pdf"]],
  ["claude-opus-4-5-20251101", 200_000, 64_000, ["text", "image", "pdf"]],
  ["claude-opus-4-1-20250805", 200_000, 32_000, ["text", "image", "pdf"]],
  ["claude-haiku-4-5", 200_000, 64_000, ["text", "image", "pdf"]],
  ["claude-3-5-haiku-latest", 200_000, 8_192, ["text", "image", "pdf"]],
  ["claude-3-haiku-20240307", 200_000, 4_096, ["text", "image"]],
  ["gpt-5", 272_000, 128_000, ["text", "image", "pdf"]],
  ["gpt-5.1-codex", 272_000, 128_000, ["text", "image", "pdf"]],
  ["gpt-5-chat-latest", 128_000, 16_384, ["text", "image", "pdf"]],
  ["gpt-4.1-mini", 1_047_576, 32_768, ["text", "image", "pdf"]],
  ["gpt-4o-2024-08-06", 128_000, 16_384, ["text", "image", "pdf"]],
  ["o1-mini", 128_000, 65_536, ["text"]],
  ["o3", 200_000, 100_000, ["text", "image", "pdf"]],
  ["o4-mini", 200_000, 100_000, ["text", "image", "pdf"]],
  ["openai/gpt-oss-120b", 131_072, 131_072, ["text"]],
  ["gemini-2.5-pro", 1_048_576, 65_536, ["text", "image", "pdf", "audio", "video"]],
  ["models/gemini-2.0-flash-001", 1_048_576, 8_192, ["text", "image", "pdf", "audio", "video"]],
  ["gemini-1.5-pro-002", 2_097_152, 8_192, ["text", "image", "pdf", "audio", "video"]],
  ["gemini-3-pro-preview", 1_048_576, 65_536, ["text", "image", "pdf", "audio", "video"]],
  ["deepseek-chat", 128_000, 8_192, ["text"]],
  ["deepseek-reasoner", 128_000, 65_536, ["text"]],
  ["deepseek-ai/DeepSeek-V3", 128_000, undefined, ["text"]],
  ["qwen3-coder-plus", 1_000_000, 65_536, ["text"]],
  ["Qwen/Qwen3-Coder-480B-A35B-Instruct", 262_144, 65_536, ["text"]],
  ["moonshotai/kimi-k2-instruct-0905", 131_072, undefined, ["text"]],
  ["kimi-k2-0905-preview", 262_144, undefined, ["text"]],
  ["glm-4.6", 200_000, 128_000, ["text"]],
  ["glm-4.5v", 65_536, 16_384, ["text", "image"]],
  ["glm-4.5-air", 128_000, 96_000, ["text"]],
  ["codestral-latest", 256_000, undefined, ["text"]],
  ["mistral-large-latest", 128_000, undefined, ["text"]],
  ["meta-llama/llama-4-scout-17b-16e-instruct", 131_072, 8_192, ["text", "image"]],
  ["llama-3.3-70b-versatile", 131_072, 32_768, ["text"]],
  ["grok-code-fast-1", 256_000, undefined, ["text"]],
];

describe("builtInLimits", () => {
  test.each(KNOWN)("%s: %d in, %p out", (model, window, output, modalities) => {
    const limits = builtInLimits(model);
    expect(limits?.contextWindow).toBe(window);
    expect(limits?.maxOutput).toBe(output);
    expect([...(limits?.modalities ?? [])] as string[]).toEqual(modalities);
  });

  test.each(["gpt-6-luna", "claude-sonnet-5-5", "gemini-3.8-flash".replace("3", "9"), "echo", ""])(
    "%p is not known: no limits, so nothing is refused on a guess",
    (model) => {
      expect(builtInLimits(model)).toBeUndefined();
    },
  );

  test("OpenAI's o200k models are marked, the others are not", () => {
    expect(builtInLimits("gpt-4o")?.o200k).toBe(true);
    expect(builtInLimits("o3-mini")?.o200k).toBe(true);
    expect(builtInLimits("claude-sonnet-4-5")?.o200k).toBeUndefined();
    expect(builtInLimits("gemini-2.5-flash")?.o200k).toBeUndefined();
  });
});

describe("modelLimits: a mapping's override over the table", () => {
  test("each field replaces the table's, the rest stay", () => {
    expect(modelLimits("gpt-4o", { contextWindow: 64_000 })).toEqual({
      contextWindow: 64_000,
      maxOutput: 16_384,
      modalities: ["text", "image", "pdf"],
      o200k: true,
    });
    expect(modelLimits("gpt-4o", { maxOutput: 1000, modalities: ["text"] })).toMatchObject({
      contextWindow: 128_000,
      maxOutput: 1000,
      modalities: ["text"],
    });
  });

  test("a model the table does not know has the override's window, or none", () => {
    expect(modelLimits("my-local-model", { contextWindow: 32_768 })).toEqual({
      contextWindow: 32_768,
      maxOutput: undefined,
      modalities: ["text"],
      o200k: undefined,
    });
    expect(modelLimits("my-local-model", { maxOutput: 100 })).toBeUndefined();
    expect(modelLimits("my-local-model")).toBeUndefined();
  });
});
