import { describe, expect, test } from "bun:test";
import { FAMILIES } from "./families.ts";
import type { Family } from "./names.ts";

/* Each provider's words for a prompt over the window, read by every family (relays pass them on). */

const READ: [string, Family, number, string, { tokens?: number; limit?: number } | undefined][] = [
  [
    "Anthropic",
    "anthropic",
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}',
    { tokens: 208_310, limit: 200_000 },
  ],
  [
    "Anthropic, output counted",
    "anthropic",
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again"}}',
    { tokens: 209_573, limit: 200_000 },
  ],
  [
    "OpenAI chat",
    "openai",
    400,
    `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130217 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
    { tokens: 130_217, limit: 128_000 },
  ],
  [
    "OpenAI Responses",
    "openai",
    400,
    '{"error":{"message":"Your input exceeds the context window of this model. Please adjust your input and try again.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}',
    {},
  ],
  [
    "vLLM / DeepSeek",
    "openai",
    400,
    `{"object":"error","message":"This model's maximum context length is 32768 tokens. However, you requested 40000 tokens (39000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","code":400}`,
    { tokens: 40_000, limit: 32_768 },
  ],
  [
    "Mistral",
    "openai",
    400,
    '{"object":"error","message":"Prompt contains 140000 tokens and 0 draft tokens, too large for model with 131072 maximum context length","type":"invalid_request_error","code":"3051"}',
    { tokens: 140_000, limit: 131_072 },
  ],
  [
    "Gemini",
    "gemini",
    400,
    '{"error":{"code":400,"message":"The input token count (1250000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}',
    { tokens: 1_250_000, limit: 1_048_576 },
  ],
  ["another 400", "openai", 400, '{"error":{"message":"messages is required"}}', undefined],
  [
    "a 429 that mentions tokens",
    "anthropic",
    429,
    "prompt is too long: 5 tokens > 1 maximum",
    undefined,
  ],
];

describe("contextTooLong.read", () => {
  test.each(READ)("%s", (_name, family, status, body, expected) => {
    expect(FAMILIES[family].contextTooLong.read(status, body)).toEqual(expected);
  });
});

describe("contextTooLong.error round-trips through its own reader", () => {
  test.each(["anthropic", "openai", "gemini"] as const)("%s", (family) => {
    const words = FAMILIES[family].contextTooLong;
    const { message } = words.error(300_000, 200_000);
    expect(words.read(400, message)).toEqual({ tokens: 300_000, limit: 200_000 });
    // Without the numbers it still says it, so a client still recognises it.
    expect(words.read(400, words.error(undefined, undefined).message)).toEqual({});
  });

  test("Claude Code's own pattern reads levity's Anthropic message", () => {
    const { message } = FAMILIES.anthropic.contextTooLong.error(210_000, 200_000);
    // The expression Claude Code 2.1.197 uses (its bundle, function t3t).
    const match = message.match(/prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)/i);
    expect(match?.slice(1)).toEqual(["210000", "200000"]);
  });
});
