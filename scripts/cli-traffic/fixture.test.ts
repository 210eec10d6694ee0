import { describe, expect, test } from "bun:test";
import {
  type RawExchange,
  SCRUBBED,
  type ScrubContext,
  scrubHeaders,
  scrubJson,
  scrubPath,
  scrubText,
  toRecorded,
} from "./fixture.ts";

const ctx: ScrubContext = {
  keys: ["fake-record-key-codex-1234abcd"],
  homes: ["/tmp/levity-record-home-Ab12Cd"],
  works: ["/tmp/levity-record-work-Xy34Zw", "/private/tmp/levity-record-work-Xy34Zw"],
};

describe("scrubText", () => {
  const cases: [string, string, string][] = [
    ["the fake key", "key fake-record-key-codex-1234abcd here", `key ${SCRUBBED} here`],
    [
      "an OpenAI-style key",
      "OPENAI_API_KEY=sk-proj-abcdefghijklmnop123456",
      `OPENAI_API_KEY=${SCRUBBED}`,
    ],
    ["an Anthropic-style key", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAA", SCRUBBED],
    ["a Google API key", "key=AIzaSyA1234567890abcdefghijklmnopqrstu", `key=${SCRUBBED}`],
    [
      "a bearer token",
      "Authorization: Bearer eyJhbGciOi.payload.sig",
      `Authorization: Bearer ${SCRUBBED}`,
    ],
    [
      "a word ending in sk-",
      "task-list and risk-assessment-of-everything",
      "task-list and risk-assessment-of-everything",
    ],
    ["a short sk- word", "sk-1", "sk-1"],
    ["the work directory", "cwd /tmp/levity-record-work-Xy34Zw/src", "cwd /work/project/src"],
    ["its resolved spelling", "/private/tmp/levity-record-work-Xy34Zw", "/work/project"],
    [
      "the home directory",
      "/tmp/levity-record-home-Ab12Cd/.codex/config.toml",
      "/home/user/.codex/config.toml",
    ],
    [
      "a directory named after the work directory",
      "~/.gemini/tmp/levity-record-work-xy34zw/chats",
      "~/.gemini/tmp/project/chats",
    ],
    ["ordinary text", "Reply with exactly: ok", "Reply with exactly: ok"],
  ];
  for (const [name, input, output] of cases)
    test(name, () => expect(scrubText(input, ctx)).toBe(output));
});

describe("scrubHeaders", () => {
  const cases: [string, [string, string][], Record<string, string>, string[]][] = [
    ["x-api-key", [["X-Api-Key", "anything"]], { "x-api-key": SCRUBBED }, ["x-api-key"]],
    [
      "authorization",
      [["authorization", "Bearer abc"]],
      { authorization: SCRUBBED },
      ["authorization"],
    ],
    [
      "x-goog-api-key",
      [["x-goog-api-key", "AIza..."]],
      { "x-goog-api-key": SCRUBBED },
      ["x-goog-api-key"],
    ],
    ["a token header", [["x-auth-token", "t"]], { "x-auth-token": SCRUBBED }, ["x-auth-token"]],
    [
      "any *-key header",
      [["x-portkey-virtual-key", "vk-1"]],
      { "x-portkey-virtual-key": SCRUBBED },
      ["x-portkey-virtual-key"],
    ],
    ["a key- header", [["key-id", "k1"]], { "key-id": SCRUBBED }, ["key-id"]],
    ["a word holding key is kept", [["x-monkey", "m"]], { "x-monkey": "m" }, []],
    [
      "any header carrying the key",
      [["x-custom", "k=fake-record-key-codex-1234abcd"]],
      { "x-custom": SCRUBBED },
      ["x-custom"],
    ],
    [
      "hop-by-hop headers dropped",
      [
        ["host", "127.0.0.1:1"],
        ["content-length", "3"],
        ["connection", "keep-alive"],
        ["accept-encoding", "gzip"],
        ["accept", "text/event-stream"],
      ],
      { accept: "text/event-stream" },
      [],
    ],
    [
      "a path in an ordinary header",
      [["x-codex-turn-metadata", '{"cwd":"/tmp/levity-record-work-Xy34Zw"}']],
      { "x-codex-turn-metadata": '{"cwd":"/work/project"}' },
      [],
    ],
    ["a session id is kept", [["session_id", "0199-abc"]], { session_id: "0199-abc" }, []],
  ];
  for (const [name, headers, kept, names] of cases)
    test(name, () => {
      const scrubbed = new Set<string>();
      expect(scrubHeaders(headers, ctx, scrubbed)).toEqual(kept);
      expect([...scrubbed]).toEqual(names);
    });
});

describe("scrubPath", () => {
  const cases: [string, string][] = [
    ["/v1/messages?beta=true", "/v1/messages?beta=true"],
    [
      "/v1beta/models/m:generateContent?key=AIzaWhatever",
      `/v1beta/models/m:generateContent?key=${SCRUBBED}`,
    ],
    [
      "/v1beta/models/m:streamGenerateContent?alt=sse&key=x",
      `/v1beta/models/m:streamGenerateContent?alt=sse&key=${SCRUBBED}`,
    ],
    ["/v1/responses", "/v1/responses"],
  ];
  for (const [input, output] of cases)
    test(input, () => expect(scrubPath(input, ctx)).toBe(output));
});

test("scrubJson reaches every string, keys included, and keeps other values", () => {
  const body = {
    model: "m",
    max_tokens: 10,
    stream: true,
    messages: [{ role: "user", content: [{ text: "open /tmp/levity-record-work-Xy34Zw/a.ts" }] }],
    "/tmp/levity-record-home-Ab12Cd/x": null,
    env: "ANTHROPIC_API_KEY=sk-ant-abcdefghijklmnopqrstu",
  };
  expect(scrubJson(body, ctx)).toEqual({
    model: "m",
    max_tokens: 10,
    stream: true,
    messages: [{ role: "user", content: [{ text: "open /work/project/a.ts" }] }],
    "/home/user/x": null,
    env: `ANTHROPIC_API_KEY=${SCRUBBED}`,
  });
});

test("toRecorded keeps a JSON body as body and anything else as bodyText, both scrubbed", () => {
  const raw: RawExchange = {
    method: "POST",
    path: "/v1/messages",
    headers: [
      ["x-api-key", "fake-record-key-codex-1234abcd"],
      ["content-type", "application/json"],
    ],
    bodyText: JSON.stringify({ text: "in /tmp/levity-record-work-Xy34Zw" }),
    status: 200,
    contentType: "text/event-stream",
    responseText: 'data: {"cwd":"/tmp/levity-record-work-Xy34Zw"}\n\n',
  };
  const scrubbed = new Set<string>();
  const recorded = toRecorded(raw, "main", ctx, scrubbed);
  expect(recorded.request).toEqual({
    method: "POST",
    path: "/v1/messages",
    headers: { "x-api-key": SCRUBBED, "content-type": "application/json" },
    body: { text: "in /work/project" },
  });
  expect(recorded.response.body).toBe('data: {"cwd":"/work/project"}\n\n');
  const multipart = toRecorded(
    { ...raw, bodyText: "--b\r\nkey fake-record-key-codex-1234abcd\r\n--b--" },
    "other",
    ctx,
    scrubbed,
  );
  expect(multipart.request.body).toBeUndefined();
  expect(multipart.request.bodyText).toBe(`--b\r\nkey ${SCRUBBED}\r\n--b--`);
  expect([...scrubbed]).toEqual(["x-api-key"]);
});
