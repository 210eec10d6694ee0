import { describe, expect, test } from "bun:test";
import type { StreamFraming } from "./codec.ts";
import type { EndpointCall } from "./dialect.ts";
import { FAMILIES } from "./families.ts";
import { DIALECT_MODULES } from "./index.ts";
import { DIALECTS, type Dialect, FAMILY_OF_DIALECT } from "./names.ts";

/* What each dialect object answers: the table the rest of levity asks instead of switching on names. */

test("every dialect has an object under its own name, in its family", () => {
  for (const name of DIALECTS) expect(DIALECT_MODULES[name].name).toBe(name);
  expect(DIALECT_MODULES["openai-responses"].family).toBe(FAMILIES.openai);
  expect(DIALECT_MODULES["anthropic-messages"].family).toBe(FAMILIES.anthropic);
  expect(DIALECT_MODULES.gemini.family).toBe(FAMILIES.gemini);
  // The name table that modules without codecs read (codecs/errors.ts) says the same.
  for (const name of DIALECTS)
    expect(DIALECT_MODULES[name].family).toBe(FAMILIES[FAMILY_OF_DIALECT[name]]);
});

const generate = (extra: Partial<EndpointCall> = {}): EndpointCall => ({
  operation: "generate",
  model: "m/1",
  stream: false,
  ...extra,
});

const ENDPOINTS: [Dialect, EndpointCall, string][] = [
  ["openai-chat", generate(), "/chat/completions"],
  ["openai-completions", generate(), "/completions"],
  ["openai-responses", generate({ stream: true }), "/responses"],
  ["anthropic-messages", generate(), "/v1/messages"],
  ["anthropic-messages", generate({ operation: "count-tokens" }), "/v1/messages/count_tokens"],
  ["gemini", generate(), "/v1beta/models/m%2F1:generateContent"],
  [
    "gemini",
    generate({ stream: true, apiVersion: "v1" }),
    "/v1/models/m%2F1:streamGenerateContent",
  ],
  ["gemini", generate({ operation: "count-tokens" }), "/v1beta/models/m%2F1:countTokens"],
  [
    "gemini",
    generate({ stream: true, query: new URLSearchParams({ alt: "sse", key: "client-key" }) }),
    "/v1beta/models/m%2F1:streamGenerateContent?alt=sse",
  ],
];

describe("endpointPath", () => {
  test.each(ENDPOINTS)("%s %p → %s", (dialect, call, path) => {
    expect(DIALECT_MODULES[dialect].endpointPath(call)).toBe(path);
  });
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const STREAM_ERRORS: [Dialect, boolean, string][] = [
  [
    "openai-chat",
    false,
    'data: {"error":{"message":"cut","type":"server_error","param":null,"code":null}}\n\ndata: [DONE]\n\n',
  ],
  [
    "openai-completions",
    false,
    'data: {"error":{"message":"cut","type":"server_error","param":null,"code":null}}\n\ndata: [DONE]\n\n',
  ],
  [
    "openai-responses",
    false,
    'event: error\ndata: {"type":"error","code":"server_error","message":"cut","param":null}\n\n',
  ],
  [
    "anthropic-messages",
    false,
    'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"cut"}}\n\n',
  ],
  ["gemini", false, 'data: {"error":{"code":502,"message":"cut","status":"UNAVAILABLE"}}\r\n\r\n'],
  ["gemini", true, ',\r\n{"error":{"code":502,"message":"cut","status":"UNAVAILABLE"}}]'],
];

describe("streamErrorBytes", () => {
  test.each(STREAM_ERRORS)("%s (JSON array: %p)", (dialect, jsonArray, expected) => {
    expect(text(DIALECT_MODULES[dialect].streamErrorBytes(502, "cut", jsonArray))).toBe(expected);
  });

  // A stream committed at the commit deadline has written only keep-alives when it fails.
  test("with nothing written yet: the same, but a JSON array opens, and a Response is created first", () => {
    const unopened = (dialect: Dialect, jsonArray: boolean) =>
      text(DIALECT_MODULES[dialect].streamErrorBytes(502, "cut", jsonArray, false));
    for (const [dialect, jsonArray, expected] of STREAM_ERRORS) {
      if (dialect === "openai-responses") continue;
      expect(unopened(dialect, jsonArray)).toBe(
        jsonArray ? '[{"error":{"code":502,"message":"cut","status":"UNAVAILABLE"}}]' : expected,
      );
    }
    const [created, error] = unopened("openai-responses", false).split("\n\n");
    expect(created!.startsWith("event: response.created\ndata: ")).toBe(true);
    const data = JSON.parse(created!.slice(created!.indexOf("data: ") + 6));
    expect(data).toMatchObject({
      type: "response.created",
      sequence_number: 0,
      response: { object: "response", status: "in_progress", output: [], error: null },
    });
    expect(data.response.id).toMatch(/^resp_/);
    expect(`${error}\n\n`).toBe(STREAM_ERRORS.find(([d]) => d === "openai-responses")![2]);
  });
});

const KEEP_ALIVES: [Dialect, boolean, string][] = [
  ["openai-chat", false, ": keep-alive\n\n"],
  ["openai-completions", false, ": keep-alive\n\n"],
  ["openai-responses", false, ": keep-alive\n\n"],
  // Anthropic's own ping, byte for byte.
  ["anthropic-messages", false, 'event: ping\ndata: {"type": "ping"}\n\n'],
  // Blank lines: Gemini CLI's bundled SDK stalls on a comment.
  ["gemini", false, "\r\n\r\n"],
  // Whitespace before the array's first element.
  ["gemini", true, "\n"],
];

describe("keepAliveBytes", () => {
  test.each(KEEP_ALIVES)("%s (JSON array: %p)", (dialect, jsonArray, expected) => {
    expect(text(DIALECT_MODULES[dialect].keepAliveBytes(jsonArray))).toBe(expected);
  });
});

const OPENINGS: [Dialect, Record<string, unknown>, unknown[]][] = [
  [
    "openai-chat",
    {
      messages: [
        { role: "user", content: "hi" },
        { role: "developer", content: "be brief" },
        { role: "user", content: "later" },
      ],
    },
    [undefined, { role: "developer", content: "be brief" }, { role: "user", content: "hi" }],
  ],
  ["openai-completions", { prompt: "once upon" }, ["once upon"]],
  ["openai-responses", { instructions: "be brief", input: "hi" }, [undefined, "be brief", "hi"]],
  [
    "openai-responses",
    {
      input: [
        { role: "system", content: "s" },
        { role: "user", content: "u" },
      ],
    },
    [undefined, undefined, { role: "user", content: "u" }],
  ],
  [
    "anthropic-messages",
    { system: "s", messages: [{ role: "user", content: "u" }] },
    [undefined, "s", { role: "user", content: "u" }],
  ],
  [
    "gemini",
    {
      system_instruction: { parts: [{ text: "s" }] },
      contents: [{ role: "user", parts: [{ text: "u" }] }],
    },
    [undefined, { parts: [{ text: "s" }] }, { role: "user", parts: [{ text: "u" }] }],
  ],
  // The tools open the cacheable prefix: a session with other tools is another prefix.
  [
    "anthropic-messages",
    { tools: [{ name: "t" }], system: "s", messages: [{ role: "user", content: "u" }] },
    [[{ name: "t" }], "s", { role: "user", content: "u" }],
  ],
  [
    "openai-chat",
    { tools: [{ type: "function" }], messages: [{ role: "user", content: "u" }] },
    [[{ type: "function" }], undefined, { role: "user", content: "u" }],
  ],
  [
    "openai-chat",
    { functions: [{ name: "f" }], messages: [] },
    [[{ name: "f" }], undefined, undefined],
  ],
  [
    "openai-responses",
    { tools: [{ type: "function" }], instructions: "i", input: "u" },
    [[{ type: "function" }], "i", "u"],
  ],
  [
    "gemini",
    { tools: [{ functionDeclarations: [] }], contents: [] },
    [[{ functionDeclarations: [] }], undefined, undefined],
  ],
];

describe("sessionOpening", () => {
  test.each(OPENINGS)("%s %p", (dialect, body, expected) => {
    expect(DIALECT_MODULES[dialect].sessionOpening(body)).toEqual(expected);
  });
});

test("each dialect names a conversation by its own fields", () => {
  const anthropic = { metadata: { user_id: "u-1" } };
  expect(DIALECT_MODULES["anthropic-messages"].sessionName?.(anthropic)).toBe("user:u-1");
  expect(DIALECT_MODULES["anthropic-messages"].sessionName?.({ metadata: {} })).toBeUndefined();
  const openai = { prompt_cache_key: "conv-7", user: "u-2" };
  for (const name of ["openai-chat", "openai-completions", "openai-responses"] as const) {
    expect(DIALECT_MODULES[name].sessionName?.(openai)).toBe("prompt_cache_key:conv-7");
    expect(DIALECT_MODULES[name].sessionName?.({ user: "u-2" })).toBe("user:u-2");
    expect(DIALECT_MODULES[name].sessionName?.(anthropic)).toBeUndefined();
  }
  expect(DIALECT_MODULES.gemini.sessionName?.({ ...anthropic, ...openai })).toBeUndefined();
});

const ERROR_BODIES: [keyof typeof FAMILIES, number, unknown][] = [
  [
    "openai",
    429,
    {
      error: { message: "m", type: "requests", param: null, code: "rate_limit_exceeded" },
    },
  ],
  [
    "anthropic",
    402,
    { type: "error", error: { type: "billing_error", message: "m" }, request_id: "r" },
  ],
  ["gemini", 503, { error: { code: 503, message: "m", status: "UNAVAILABLE" } }],
  ["gemini", 418, { error: { code: 418, message: "m", status: "FAILED_PRECONDITION" } }],
];

describe("errorBody", () => {
  test.each(ERROR_BODIES)("%s %d", (family, status, expected) => {
    expect(FAMILIES[family].errorBody(status, "m", {}, "r")).toEqual(expected);
  });
});

const BASE_PATHS: [keyof typeof FAMILIES, string, { path: string; apiVersion?: string }][] = [
  ["openai", "", { path: "/v1" }],
  ["openai", "/api/paas/v4/chat/completions", { path: "/api/paas/v4" }],
  ["anthropic", "/v1/messages", { path: "" }],
  ["gemini", "/v1/models/gemini-pro", { path: "", apiVersion: "v1" }],
  ["gemini", "/proxy", { path: "/proxy", apiVersion: "v1beta" }],
];

describe("basePath", () => {
  test.each(BASE_PATHS)("%s %s", (family, path, expected) => {
    expect(FAMILIES[family].basePath(path)).toEqual(expected);
  });
});

describe("what a client of each dialect is told", () => {
  test.each([
    ["anthropic-messages", { input_tokens: 42 }],
    ["gemini", { totalTokens: 42, promptTokensDetails: [{ modality: "TEXT", tokenCount: 42 }] }],
    ["openai-chat", { input_tokens: 42 }],
    ["openai-responses", { object: "response.input_tokens", input_tokens: 42 }],
    ["openai-completions", { input_tokens: 42 }],
  ] as [Dialect, unknown][])("%s counts tokens as %p", (dialect, expected) => {
    expect(DIALECT_MODULES[dialect].client.renderCount(42)).toEqual(expected);
  });

  test.each([
    ["anthropic", 529, 529],
    ["openai", 529, 503],
    ["gemini", 529, 503],
    ["openai", 429, 429],
    ["gemini", 500, 500],
    ["anthropic", 503, 503],
  ] as const)("a %s client is shown %i as %i", (family, status, shown) => {
    expect(FAMILIES[family].clientStatus(status)).toBe(shown);
  });
});

describe("streamFraming", () => {
  test.each([
    ["gemini", "", "json-array"],
    ["gemini", "alt=sse", "sse"],
    ["gemini", "alt=json", "json-array"],
    ["openai-chat", "", "sse"],
    ["openai-chat", "alt=json", "sse"],
    ["openai-responses", "", "sse"],
    ["openai-completions", "", "sse"],
    ["anthropic-messages", "alt=json", "sse"],
  ] as [Dialect, string, StreamFraming][])(
    "%s with ?%s streams as %s",
    (dialect, query, framing) => {
      // Only Gemini reads the URL: the others are asked with one whose every read throws.
      const url = new URL(`http://127.0.0.1/x?${query}`);
      const asked =
        dialect === "gemini"
          ? { url }
          : {
              get url(): URL {
                throw new Error(`${dialect} read the URL`);
              },
            };
      expect(DIALECT_MODULES[dialect].streamFraming(asked)).toBe(framing);
    },
  );
});
