import { describe, expect, test } from "bun:test";
import { FAMILIES } from "./families.ts";
import type { Family } from "./names.ts";

/* Each family's own words for "the key is bad" and "the balance is spent", and only its own. */

const REJECTS_KEY: [Family, number, string, boolean][] = [
  [
    "gemini",
    400,
    '{"error":{"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}',
    true,
  ],
  ["gemini", 400, "API key not valid. Please pass a valid API key.", true],
  ["gemini", 400, "Invalid JSON payload received.", false],
  ["gemini", 403, "API_KEY_INVALID", false],
  ["openai", 400, '{"error":{"code":"invalid_api_key"}}', true],
  ["openai", 400, "Invalid API key provided", true],
  ["openai", 400, "API_KEY_INVALID", false],
  ["openai", 429, "invalid_api_key", false],
  ["anthropic", 400, "invalid api key", false],
];

const OUT_OF_CREDIT: [Family, number, string, boolean][] = [
  ["openai", 429, '{"error":{"code":"insufficient_quota"}}', true],
  ["openai", 429, "You exceeded your current quota, please check your plan", true],
  ["openai", 429, "Rate limit reached for requests", false],
  ["openai", 402, "billing", false],
  ["anthropic", 402, '{"type":"error","error":{"type":"billing_error"}}', true],
  ["anthropic", 429, "insufficient_quota", false],
  ["gemini", 402, "", false],
  ["gemini", 429, "insufficient_quota", false],
];

describe("rejectsKey", () => {
  test.each(REJECTS_KEY)("%s %d %s → %p", (family, status, body, expected) => {
    expect(FAMILIES[family].rejectsKey(status, body)).toBe(expected);
  });
});

describe("outOfCredit", () => {
  test.each(OUT_OF_CREDIT)("%s %d %s → %p", (family, status, body, expected) => {
    expect(FAMILIES[family].outOfCredit(status, body)).toBe(expected);
  });
});

/* The providers' own answers to a signature or encrypted reasoning they cannot verify. */
const REFUSES_SIGNATURE: [Family, number, string, boolean][] = [
  [
    "anthropic",
    400,
    '{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0: Invalid `signature` in `thinking` block"},"request_id":"req_011CWkB65DcNzK2MiofhXx8b"}',
    true,
  ],
  ["anthropic", 400, "messages.3.content.0: Invalid `data` in `redacted_thinking` block", true],
  [
    "anthropic",
    400,
    "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.",
    false,
  ],
  ["anthropic", 500, "Invalid `signature` in `thinking` block", false],
  [
    "gemini",
    400,
    '{"error":{"code":400,"message":"Corrupted thought signature.","status":"INVALID_ARGUMENT"}}',
    true,
  ],
  ["gemini", 400, "Unable to submit request because Thought signature is not valid.", true],
  [
    "gemini",
    400,
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly.",
    true,
  ],
  ["gemini", 400, "API key not valid. Please pass a valid API key.", false],
  [
    "openai",
    400,
    '{"error":{"message":"The encrypted content gAAA...DQ== could not be verified.","type":"invalid_request_error","param":null,"code":"invalid_encrypted_content"}}',
    true,
  ],
  [
    "openai",
    400,
    "The encrypted content for item rs_0a18 could not be verified. Reason: Encrypted content could not be decrypted or parsed.",
    true,
  ],
  ["openai", 400, "Invalid `signature` in `thinking` block", false],
  ["openai", 429, "invalid_encrypted_content", false],
];

describe("refusesSignature", () => {
  test.each(REFUSES_SIGNATURE)("%s %d %s → %p", (family, status, body, expected) => {
    expect(FAMILIES[family].refusesSignature(status, body)).toBe(expected);
  });
});
