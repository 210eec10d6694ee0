import { describe, expect, test } from "bun:test";
import type { Dialect } from "../codecs/names.ts";
import type { Upstream } from "../config/snapshot.ts";
import {
  accountHeaders,
  clientResponseHeaders,
  forwardsNatively,
  upstreamDialect,
  upstreamEndpoint,
  upstreamRequestHeaders,
} from "./protocol.ts";

/* An upstream's configuration and its family's facts, put together: dialects, URLs, headers. */

function upstream(protocol: Upstream["protocol"], extra: Partial<Upstream> = {}): Upstream {
  return { name: "u", protocol, baseUrl: "https://up.example/base", ...extra } as Upstream;
}

const compatible = (apis: ("chat" | "responses" | "completions")[], wireApi = "chat") =>
  upstream("openai", {
    openai: { apis, wireApi, missing: new Set() } as unknown as Upstream["openai"],
  });

const DIALECT_OF: [string, Upstream, Dialect][] = [
  ["anthropic", upstream("anthropic"), "anthropic-messages"],
  ["gemini", upstream("gemini"), "gemini"],
  ["openai without a family block", upstream("openai"), "openai-chat"],
  ["openai speaking responses", compatible(["responses"], "responses"), "openai-responses"],
];

test.each(DIALECT_OF)("upstreamDialect: %s", (_, up, dialect) => {
  expect(upstreamDialect(up)).toBe(dialect);
});

const NATIVE: [string, Upstream, Dialect, boolean][] = [
  ["anthropic client to anthropic", upstream("anthropic"), "anthropic-messages", true],
  ["chat client to anthropic", upstream("anthropic"), "openai-chat", false],
  ["gemini client to gemini", upstream("gemini"), "gemini", true],
  ["anything to echo", upstream("echo"), "openai-chat", false],
  ["responses to a chat-only provider", compatible(["chat"]), "openai-responses", false],
  ["responses to OpenAI", compatible(["chat", "responses"]), "openai-responses", true],
  ["gemini client to OpenAI", compatible(["chat", "responses"]), "gemini", false],
];

test.each(NATIVE)("forwardsNatively: %s", (_, up, dialect, expected) => {
  expect(forwardsNatively(up, dialect)).toBe(expected);
});

const call = { operation: "generate" as const, model: "m", stream: true };
const ENDPOINTS: [string, Upstream, Dialect, URLSearchParams, string][] = [
  [
    "chat",
    upstream("openai"),
    "openai-chat",
    new URLSearchParams(),
    "https://up.example/base/chat/completions",
  ],
  [
    "responses",
    upstream("openai"),
    "openai-responses",
    new URLSearchParams(),
    "https://up.example/base/responses",
  ],
  [
    "anthropic",
    upstream("anthropic"),
    "anthropic-messages",
    new URLSearchParams(),
    "https://up.example/base/v1/messages",
  ],
  [
    "gemini keeps alt, drops the client's key",
    upstream("gemini", { apiVersion: "v1" }),
    "gemini",
    new URLSearchParams({ alt: "sse", key: "k" }),
    "https://up.example/base/v1/models/m:streamGenerateContent?alt=sse",
  ],
];

test.each(ENDPOINTS)("upstreamEndpoint: %s", (_, up, dialect, query, url) => {
  expect(upstreamEndpoint(up, { ...call, dialect, query })).toBe(url);
});

test("upstreamEndpoint: echo has none", () => {
  expect(() =>
    upstreamEndpoint(upstream("echo"), {
      ...call,
      dialect: "openai-chat",
      query: new URLSearchParams(),
    }),
  ).toThrow();
});

describe("upstreamRequestHeaders", () => {
  const client = new Headers({
    "anthropic-beta": "b",
    "openai-beta": "assistants=v2",
    "user-agent": "sdk",
    authorization: "Bearer client-key",
    cookie: "c",
  });
  test.each([
    [
      "openai",
      true,
      {
        authorization: "Bearer acct",
        "anthropic-beta": "b",
        "openai-beta": "assistants=v2",
        "user-agent": "sdk",
      },
    ],
    [
      "anthropic",
      false,
      { "x-api-key": "acct", "anthropic-version": "2023-06-01", "user-agent": "sdk" },
    ],
    ["gemini", false, { "x-goog-api-key": "acct", "user-agent": "sdk" }],
  ] as const)("%s (same dialect: %p)", (protocol, same, expected) => {
    const headers = upstreamRequestHeaders(protocol, "acct", client, same);
    expect(headers).toEqual({ "content-type": "application/json", ...expected });
  });
});

// A call's headers are a plain object that levity's HTTP/1.1 client writes as it is: the key's
// header must already be what a Headers object would hold.
test.each([
  ["openai", " sk-pasted \n", { authorization: "Bearer sk-pasted" }],
  [
    "anthropic",
    "sk-ant-from-a-file\r\n",
    { "x-api-key": "sk-ant-from-a-file", "anthropic-version": "2023-06-01" },
  ],
  ["gemini", "\tAIza-key", { "x-goog-api-key": "AIza-key" }],
  ["echo", "anything", {}],
] as const)("accountHeaders: %s key %j is sent trimmed", (protocol, key, expected) => {
  expect(accountHeaders(protocol, key)).toEqual(expected);
});

test.each(["sk-a\r\nx-injected: 1", "sk-a\nb", "sk-\u0000a"])(
  "accountHeaders: a key with %j inside it is refused, never written",
  (key) => {
    expect(() => accountHeaders("openai", key)).toThrow(TypeError);
  },
);

test("clientResponseHeaders passes each family's own headers and nothing else", () => {
  const passed = clientResponseHeaders(
    new Headers({
      "content-type": "text/event-stream",
      "request-id": "req_1",
      "openai-processing-ms": "12",
      "x-ratelimit-remaining-tokens": "5",
      "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z",
      "set-cookie": "s=1",
      "access-control-allow-origin": "*",
      "x-api-key": "leaked",
    }),
  );
  expect(Object.keys(passed).sort()).toEqual([
    "anthropic-ratelimit-requests-reset",
    "content-type",
    "openai-processing-ms",
    "request-id",
    "x-ratelimit-remaining-tokens",
  ]);
});
