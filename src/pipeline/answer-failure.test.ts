import { describe, expect, test } from "bun:test";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import type { Dialect } from "../codecs/names.ts";
import type { FailureKind } from "../failure.ts";
import { failureFromAnswer, failureFromEvent } from "./answer-failure.ts";

/*
 * Each provider's own error answers, as their documentation shows them, become one Failure: the
 * kind (from the status and the family's words), the message from the body, the wait it asked for.
 */
const NOW_HEADERS = (pairs: Record<string, string>) => new Headers(pairs);

describe("failureFromAnswer", () => {
  const cases: {
    name: string;
    dialect: Dialect;
    status: number;
    headers?: Record<string, string>;
    body: string;
    kind: FailureKind;
    message: string;
    hintMs?: number;
  }[] = [
    {
      name: "OpenAI's spent balance is a 429 that is not a rate limit",
      dialect: "openai-chat",
      status: 429,
      body: JSON.stringify({
        error: {
          message: "You exceeded your current quota, please check your plan and billing details.",
          type: "insufficient_quota",
          param: null,
          code: "insufficient_quota",
        },
      }),
      kind: "quota",
      message: "You exceeded your current quota, please check your plan and billing details.",
    },
    {
      name: "OpenAI's rate limit with retry-after-ms",
      dialect: "openai-responses",
      status: 429,
      headers: { "retry-after-ms": "1500" },
      body: JSON.stringify({
        error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" },
      }),
      kind: "rate_limit",
      message: "Rate limit reached",
      hintMs: 1500,
    },
    {
      name: "Gemini's bad key is a 400 that disables the account",
      dialect: "gemini",
      status: 400,
      body: JSON.stringify({
        error: {
          code: 400,
          message: "API key not valid. Please pass a valid API key.",
          status: "INVALID_ARGUMENT",
          details: [
            { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" },
          ],
        },
      }),
      kind: "auth",
      message: "API key not valid. Please pass a valid API key.",
    },
    {
      name: "Gemini's RESOURCE_EXHAUSTED with a RetryInfo delay in the body",
      dialect: "gemini",
      status: 429,
      body: JSON.stringify({
        error: {
          code: 429,
          message: "Resource has been exhausted",
          status: "RESOURCE_EXHAUSTED",
          details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" }],
        },
      }),
      kind: "rate_limit",
      message: "Resource has been exhausted",
      hintMs: 7000,
    },
    {
      name: "Anthropic's overload (529) is a server failure",
      dialect: "anthropic-messages",
      status: 529,
      headers: { "retry-after": "3" },
      body: JSON.stringify({
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
      }),
      kind: "server",
      message: "Overloaded",
      hintMs: 3000,
    },
    {
      name: "Anthropic's invalid request is the client's to fix",
      dialect: "anthropic-messages",
      status: 400,
      body: JSON.stringify({
        type: "error",
        error: { type: "invalid_request_error", message: "max_tokens: Field required" },
      }),
      kind: "final",
      message: "max_tokens: Field required",
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const headers = NOW_HEADERS(c.headers ?? {});
      const failure = failureFromAnswer(UPSTREAM_CODECS[c.dialect], c.status, headers, c.body);
      expect(failure.kind).toBe(c.kind);
      expect(failure.status).toBe(c.status);
      expect(failure.message).toBe(c.message);
      expect(failure.hintMs).toBe(c.hintMs);
      // The body and headers travel with it, for a same-dialect client that gets them as they were.
      expect(failure.upstream?.body).toBe(c.body);
      expect(failure.upstream?.headers).toBe(headers);
    });
});

test("an error event is classified by the same rules, with no body of its own", () => {
  expect(failureFromEvent(529, "Overloaded")).toEqual({
    kind: "server",
    status: 529,
    message: "Overloaded",
  });
  expect(failureFromEvent(400, "bad tool schema").kind).toBe("final");
});

test("an error event that refuses a signature (a relay's error in a 200, a stream's before content) is marked for the retry without reasoning", () => {
  const cases: [string, number, string, boolean][] = [
    [
      "Anthropic's words",
      400,
      "messages.1.content.0: Invalid `signature` in `thinking` block",
      true,
    ],
    ["Gemini's words", 400, "Corrupted thought signature.", true],
    [
      "OpenAI's words",
      400,
      "The encrypted content for item rs_1 could not be verified. invalid_encrypted_content",
      true,
    ],
    ["another 400", 400, "bad tool schema", false],
  ];
  for (const [what, status, message, refused] of cases)
    expect({ what, refused: failureFromEvent(status, message).signatureRefused === true }).toEqual({
      what,
      refused,
    });
});
