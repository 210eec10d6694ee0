import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import { expectErrorShape, type Family } from "./support/error-shape.ts";
import { rawRequest } from "./support/raw-client.ts";
import { MISSING_MODEL } from "./support/scripted-model.ts";

// Every kind of bad input a client can send gets a clear 4xx in that client's own error shape.

const KEY = "sk-hostile-client-0001";
let gw: TestGateway;
let oa: FakeUpstream;

beforeAll(() => {
  oa = fakeOpenAI("sk-hostile-upstream-01");
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  max_body_mb: 1\n  body_timeout: 1\n` +
      upstreamsYaml([
        { name: "echo", protocol: "echo" },
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-hostile-upstream-01" }],
        },
      ]),
    mappings: `exact:\n  ${MISSING_MODEL}: oa/${MISSING_MODEL}\n`,
  });
});
afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

const AUTH = { authorization: `Bearer ${KEY}` };
const PATHS: Record<Family, string> = {
  openai: "/v1/chat/completions",
  anthropic: "/v1/messages",
  gemini: "/v1beta/models/echo-model:generateContent",
};
const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
  fetch(gw.origin + path, {
    method: "POST",
    body,
    headers: { ...AUTH, "content-type": "application/json", ...headers },
  });

const raw = async (bytes: string) =>
  (await rawRequest(Number(new URL(gw.origin).port), bytes)).text;

interface Case {
  name: string;
  family: Family;
  path?: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
  status: number;
  mentions?: RegExp;
}

const chat = (extra: object) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra });
const anthropic = (extra: object) =>
  JSON.stringify({
    model: "m",
    max_tokens: 16,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });
let deep = "0";
for (let i = 0; i < 50_000; i++) deep = `[${deep}]`;

const CASES: Case[] = [
  {
    name: "malformed JSON",
    family: "openai",
    body: '{"model": "m", "messages": [',
    status: 400,
    mentions: /not valid JSON/,
  },
  {
    name: "malformed JSON",
    family: "anthropic",
    body: "{bad",
    status: 400,
    mentions: /not valid JSON/,
  },
  {
    name: "malformed JSON",
    family: "gemini",
    body: "{bad",
    status: 400,
    mentions: /not valid JSON/,
  },
  {
    name: "a JSON array instead of an object",
    family: "openai",
    body: "[1,2]",
    status: 400,
    mentions: /JSON object/,
  },
  {
    name: "a JSON string instead of an object",
    family: "anthropic",
    body: '"hi"',
    status: 400,
    mentions: /JSON object/,
  },
  { name: "null", family: "gemini", body: "null", status: 400, mentions: /JSON object/ },
  { name: "empty body", family: "openai", body: "", status: 400, mentions: /empty/ },
  {
    name: "model missing",
    family: "openai",
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    status: 400,
    mentions: /^model is required/,
  },
  {
    name: "model a number",
    family: "openai",
    body: chat({ model: 7 }),
    status: 400,
    mentions: /^model must be a string, the model's name; this request's is a number\.$/,
  },
  {
    name: "model an object",
    family: "anthropic",
    body: anthropic({ model: { a: 1 } }),
    status: 400,
    mentions: /^model must be a string, the model's name; this request's is an object\.$/,
  },
  {
    name: "model with a newline in it",
    family: "openai",
    body: chat({ model: "gpt\nX-Injected: 1" }),
    status: 400,
    mentions: /model/,
  },
  {
    name: "model of 3,000 characters",
    family: "gemini",
    path: `/v1beta/models/${"m".repeat(3000)}:generateContent`,
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    status: 400,
    mentions: /model/,
  },
  {
    name: "messages missing",
    family: "openai",
    body: JSON.stringify({ model: "m" }),
    status: 400,
    mentions: /messages/,
  },
  {
    name: "messages a string",
    family: "openai",
    body: chat({ messages: "hi" }),
    status: 400,
    mentions: /messages/,
  },
  {
    name: "messages empty",
    family: "openai",
    body: chat({ messages: [] }),
    status: 400,
    mentions: /empty/,
  },
  {
    name: "a message that is null",
    family: "openai",
    body: chat({ messages: [null] }),
    status: 400,
    mentions: /messages\[0\]/,
  },
  {
    name: "a role that is a number",
    family: "openai",
    body: chat({ messages: [{ role: 3, content: "hi" }] }),
    status: 400,
    mentions: /role/,
  },
  {
    name: "content an object",
    family: "openai",
    body: chat({ messages: [{ role: "user", content: { a: 1 } }] }),
    status: 400,
    mentions: /content/,
  },
  {
    name: "max_tokens a string",
    family: "openai",
    body: chat({ max_tokens: "many" }),
    status: 400,
    mentions: /max_tokens/,
  },
  {
    name: "stream a string",
    family: "openai",
    body: chat({ stream: "yes" }),
    status: 400,
    mentions: /stream/,
  },
  {
    name: "messages missing",
    family: "anthropic",
    body: JSON.stringify({ model: "m", max_tokens: 5 }),
    status: 400,
    mentions: /messages/,
  },
  { name: "messages empty", family: "anthropic", body: anthropic({ messages: [] }), status: 400 },
  {
    name: "content a number",
    family: "anthropic",
    body: anthropic({ messages: [{ role: "user", content: 5 }] }),
    status: 400,
    mentions: /content/,
  },
  {
    name: "an image block whose source is a number",
    family: "anthropic",
    body: anthropic({ messages: [{ role: "user", content: [{ type: "image", source: 5 }] }] }),
    status: 400,
    mentions: /source/,
  },
  {
    name: "stream a number",
    family: "anthropic",
    body: anthropic({ stream: 1 }),
    status: 400,
    mentions: /stream/,
  },
  {
    name: "contents missing",
    family: "gemini",
    body: JSON.stringify({}),
    status: 400,
    mentions: /contents/,
  },
  {
    name: "contents a string",
    family: "gemini",
    body: JSON.stringify({ contents: "hi" }),
    status: 400,
    mentions: /contents/,
  },
  {
    name: "parts a string",
    family: "gemini",
    body: JSON.stringify({ contents: [{ role: "user", parts: "hi" }] }),
    status: 400,
    mentions: /parts/,
  },
  {
    name: "inlineData a number",
    family: "gemini",
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ inlineData: 5 }] }] }),
    status: 400,
    mentions: /inlineData/,
  },
  {
    name: "text a number",
    family: "gemini",
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: 5 }] }] }),
    status: 400,
    mentions: /text/,
  },
  {
    name: "a role Gemini does not have",
    family: "gemini",
    body: JSON.stringify({ contents: [{ role: "bot", parts: [{ text: "hi" }] }] }),
    status: 400,
    mentions: /contents\[0\]\.role/,
  },
  {
    name: "generationConfig a string",
    family: "gemini",
    body: JSON.stringify({
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      generationConfig: "x",
    }),
    status: 400,
    mentions: /generationConfig/,
  },
  {
    name: "input a number",
    family: "openai",
    path: "/v1/responses",
    body: JSON.stringify({ model: "m", input: 5 }),
    status: 400,
    mentions: /input/,
  },
  {
    name: "prompt an object",
    family: "openai",
    path: "/v1/completions",
    body: JSON.stringify({ model: "m", prompt: { a: 1 } }),
    status: 400,
    mentions: /prompt/,
  },
  {
    name: "invalid UTF-8",
    family: "openai",
    body: new Uint8Array([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x7d]),
    status: 400,
    mentions: /UTF-8/,
  },
  {
    name: "invalid UTF-8",
    family: "gemini",
    body: new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]),
    status: 400,
    mentions: /UTF-8/,
  },
  {
    name: "JSON nested 50,000 deep",
    family: "openai",
    body: `{"model":"m","messages":${deep}}`,
    status: 400,
  },
  {
    name: "contents empty",
    family: "gemini",
    body: JSON.stringify({ contents: [] }),
    status: 400,
    mentions: /contents/,
  },
  {
    name: "a single string over max_body_mb",
    family: "openai",
    body: chat({ messages: [{ role: "user", content: "x".repeat(1_100_000) }] }),
    status: 413,
    mentions: /max_body_mb/,
  },
  {
    name: "XML",
    family: "openai",
    body: "<request/>",
    headers: { "content-type": "application/xml" },
    status: 400,
    mentions: /not valid JSON/,
  },
  {
    name: "form encoding that is not JSON",
    family: "anthropic",
    body: "a=1&b=2",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    status: 400,
    mentions: /not valid JSON/,
  },
  {
    name: "a multipart body",
    family: "openai",
    body: "--x\r\n\r\nhi\r\n--x--",
    headers: { "content-type": "multipart/form-data; boundary=x" },
    status: 415,
    mentions: /JSON/,
  },
  {
    name: "an invalid ?alt=",
    family: "gemini",
    path: "/v1beta/models/echo-model:streamGenerateContent?alt=xml",
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    status: 400,
    mentions: /alt/,
  },
  {
    name: "a method after the model's method",
    family: "gemini",
    path: "/v1beta/models/echo-model:generateContent:extra",
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    status: 404,
    mentions: /no route/,
  },
];

describe("each bad request: the status, the client's own error shape, and what was wrong", () => {
  for (const c of CASES) {
    test(`${c.family}: ${c.name} -> ${c.status}`, async () => {
      const response = await post(c.path ?? PATHS[c.family], c.body, c.headers);
      expect(response.status).toBe(c.status);
      const message = expectErrorShape(c.family, await response.json(), c.status);
      if (c.mentions) expect(message).toMatch(c.mentions);
    });
  }
});

describe("inputs that look odd but are valid", () => {
  test("a Gemini content whose role is null or empty is a user turn (proto3 JSON's unset), as Gemini reads it", async () => {
    for (const role of [null, ""]) {
      const response = await post(
        PATHS.gemini,
        JSON.stringify({ contents: [{ role, parts: [{ text: "hello there" }] }] }),
      );
      expect(response.status).toBe(200);
      expect(JSON.stringify(await response.json())).toContain("hello there");
    }
  });
  test("a huge single string under the limit is served whole", async () => {
    const text = "word ".repeat(150_000).trim();
    const response = await post(
      PATHS.openai,
      chat({ messages: [{ role: "user", content: text }] }),
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).choices[0].message.content).toBe(text);
  });

  test("JSON nested 50,000 deep in a field levity does not read is passed over, not a crash", async () => {
    const response = await post(
      PATHS.anthropic,
      `{"model":"m","max_tokens":5,"metadata":${deep},"messages":[{"role":"user","content":"deep"}]}`,
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).content[0].text).toBe("deep");
  });

  test("a Gemini model name with colons in it (as Ollama's are) is the model, and the last colon starts the method", async () => {
    const response = await post(
      "/v1beta/models/qwen2.5:7b:generateContent",
      JSON.stringify({ contents: [{ role: "user", parts: [{ text: "colons" }] }] }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("x-mapped-model")).toBe("qwen2.5:7b");
  });

  test("an unknown model with no default reaches the first upstream and its 404 comes back in the client's shape", async () => {
    const response = await post(PATHS.openai, chat({ model: MISSING_MODEL }));
    expect(response.status).toBe(404);
    expect(expectErrorShape("openai", await response.json(), 404)).toMatch(/does not exist/);
    const anthropicAsk = await post(PATHS.anthropic, anthropic({ model: MISSING_MODEL }));
    expect(anthropicAsk.status).toBe(404);
    expectErrorShape("anthropic", await anthropicAsk.json(), 404);
  });
});

describe("bytes that never become a request", () => {
  test("a header block over the limit: 431, and the gateway serves the next request", async () => {
    const answer = await raw(
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(200_000)}\r\n\r\n`,
    );
    expect(answer).toStartWith("HTTP/1.1 431");
    expect((await fetch(`${gw.origin}/healthz`, { headers: AUTH })).status).toBe(200);
  });

  test("a path of 20,000 characters: 431 (it is part of the header block)", async () => {
    expect(await raw(`GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toStartWith(
      "HTTP/1.1 431",
    );
  });

  test("a request line that is not HTTP: 400", async () => {
    expect(await raw("HELLO THERE\r\n\r\n")).toStartWith("HTTP/1.1 400");
  });
});

describe("a body that trickles in", () => {
  test("is cut off at body_timeout with a 408 in the client's shape, and the connection is closed", async () => {
    const port = Number(new URL(gw.origin).port);
    const started = performance.now();
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (data) => (answer += data.toString("latin1")));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    socket.write(
      `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const drip = setInterval(() => socket.writable && socket.write(" "), 100);
    await closed;
    clearInterval(drip);
    const elapsed = performance.now() - started;
    expect(answer).toStartWith("HTTP/1.1 408");
    expect(elapsed).toBeGreaterThan(900);
    expect(elapsed).toBeLessThan(3000);
    expectErrorShape("anthropic", JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)), 408);
  });
});
