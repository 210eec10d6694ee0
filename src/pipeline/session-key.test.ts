import { describe, expect, test } from "bun:test";
import type { Dialect } from "../codecs/names.ts";
import { derivedCacheKey, requestSessionKey, sessionKey } from "./session-key.ts";

const none = new Headers();
const tools = [{ name: "read_file", input_schema: { type: "object" } }];
const turn1 = {
  tools,
  system: "You are a coding agent.",
  messages: [{ role: "user", content: "fix the bug" }],
};
// The next request of the same session repeats the prefix and adds turns.
const turn2 = {
  ...turn1,
  messages: [
    ...turn1.messages,
    { role: "assistant", content: "done" },
    { role: "user", content: "now the tests" },
  ],
};

/** [what, dialect, body, headers, the body it must share a key with, or differ from] */
const SAME: [string, Dialect, object, object][] = [
  ["anthropic: a later turn of the session", "anthropic-messages", turn1, turn2],
  // Claude Code marks the newest message for the cache: the first one carries the mark only while it is last.
  [
    "anthropic: a cache mark that moved off the first turn",
    "anthropic-messages",
    {
      ...turn1,
      messages: [
        {
          role: "user",
          content: [{ type: "text", text: "fix the bug", cache_control: { type: "ephemeral" } }],
        },
      ],
    },
    {
      ...turn1,
      messages: [
        { role: "user", content: [{ type: "text", text: "fix the bug" }] },
        { role: "assistant", content: "done" },
        {
          role: "user",
          content: [{ type: "text", text: "go on", cache_control: { type: "ephemeral" } }],
        },
      ],
    },
  ],
  [
    "chat: a later turn",
    "openai-chat",
    {
      messages: [
        { role: "system", content: "s" },
        { role: "user", content: "u" },
      ],
    },
    {
      messages: [
        { role: "system", content: "s" },
        { role: "user", content: "u" },
        { role: "assistant", content: "a" },
        { role: "user", content: "u2" },
      ],
    },
  ],
  [
    "gemini: a later turn",
    "gemini",
    { tools: [{ functionDeclarations: [] }], contents: [{ role: "user", parts: [{ text: "u" }] }] },
    {
      tools: [{ functionDeclarations: [] }],
      contents: [
        { role: "user", parts: [{ text: "u" }] },
        { role: "model", parts: [{ text: "a" }] },
        { role: "user", parts: [{ text: "u2" }] },
      ],
    },
  ],
];

const DIFFERENT: [string, Dialect, object, object][] = [
  ["anthropic: other tools", "anthropic-messages", turn1, { ...turn1, tools: [] }],
  ["anthropic: another system prompt", "anthropic-messages", turn1, { ...turn1, system: "x" }],
  [
    "anthropic: another first turn",
    "anthropic-messages",
    turn1,
    { ...turn1, messages: [{ role: "user", content: "other" }] },
  ],
  [
    "chat: other tools",
    "openai-chat",
    { messages: [{ role: "user", content: "u" }] },
    { tools: [{ type: "function" }], messages: [{ role: "user", content: "u" }] },
  ],
  [
    "responses: other instructions",
    "openai-responses",
    { instructions: "a", input: "u" },
    { instructions: "b", input: "u" },
  ],
];

describe("sessionKey: one key for a session's turns", () => {
  test.each(SAME)("%s", (_what, dialect, a, b) => {
    expect(sessionKey(dialect, a as never, none)).toBe(sessionKey(dialect, b as never, none));
  });
  test.each(DIFFERENT)("%s: another key", (_what, dialect, a, b) => {
    expect(sessionKey(dialect, a as never, none)).not.toBe(sessionKey(dialect, b as never, none));
  });
});

test("a session's own name wins over its prefix", () => {
  const header = new Headers({ "x-levity-session": "s-1" });
  expect(sessionKey("anthropic-messages", turn1, header)).toBe("header:s-1");
  const named = { ...turn1, metadata: { user_id: "u-9" } };
  expect(sessionKey("anthropic-messages", named, none)).toBe("user:u-9");
  expect(sessionKey("anthropic-messages", { ...named, tools: [] }, none)).toBe("user:u-9");
});

test("derivedCacheKey: stable, short, and without the session's name", () => {
  const key = derivedCacheKey("user:alice@example.com");
  expect(key).toBe(derivedCacheKey("user:alice@example.com"));
  expect(key).toMatch(/^levity-[A-Za-z0-9_-]{22}$/);
  expect(key).not.toContain("alice");
  expect(derivedCacheKey("user:bob@example.com")).not.toBe(key);
});

test("requestSessionKey: hashed once a request, then read from the request", () => {
  const ctx: { request: Request; body: { json: Record<string, unknown> }; sessionKey?: string } = {
    request: new Request("http://levity.test/v1/messages", { method: "POST" }),
    body: { json: turn1 },
  };
  const first = requestSessionKey(ctx, "anthropic-messages");
  expect(first).toBe(sessionKey("anthropic-messages", turn1, none));
  expect(ctx.sessionKey).toBe(first);
  // Asked again (the prompt cache after the sticky pick), the request's own key is the answer.
  ctx.body = { json: { ...turn1, metadata: { user_id: "someone-else" } } };
  expect(requestSessionKey(ctx, "anthropic-messages")).toBe(first);
});
