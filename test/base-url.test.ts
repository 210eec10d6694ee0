import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// The Base URL mistakes the reference system's guides spend pages on must just work here, and
// say what to fix; a path that is still unknown must say where the right one is.

let gw: TestGateway;
beforeAll(() => {
  gw = startGateway({});
});
afterAll(() => gw.stop());

const CHAT = { model: "m", messages: [{ role: "user", content: "hi" }] };
const RESPONSES = { model: "m", input: "hi" };
const ANTHROPIC = { model: "m", max_tokens: 8, messages: [{ role: "user", content: "hi" }] };
const GEMINI = { contents: [{ role: "user", parts: [{ text: "hi" }] }] };

const REWRITES: { from: string; method?: string; body?: object; to: string; shape: string }[] = [
  {
    from: "/v1/v1/chat/completions",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  { from: "/chat/completions", body: CHAT, to: "/v1/chat/completions", shape: "chat.completion" },
  {
    from: "/v1/chat/completions/",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  {
    from: "/v1//chat/completions",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  { from: "/responses", body: RESPONSES, to: "/v1/responses", shape: "response" },
  {
    from: "/completions",
    body: { model: "m", prompt: "hi" },
    to: "/v1/completions",
    shape: "text_completion",
  },
  { from: "/messages", body: ANTHROPIC, to: "/v1/messages", shape: "message" },
  { from: "/v1/v1/messages", body: ANTHROPIC, to: "/v1/messages", shape: "message" },
  { from: "/models", method: "GET", to: "/v1/models", shape: "list" },
  {
    from: "/v1beta/v1beta/models/gemini-x:generateContent",
    body: GEMINI,
    to: "/v1beta/models/gemini-x:generateContent",
    shape: "gemini",
  },
  {
    from: "/v1/v1beta/models/gemini-x:generateContent",
    body: GEMINI,
    to: "/v1beta/models/gemini-x:generateContent",
    shape: "gemini",
  },
  {
    from: "/v1/chat/completions/responses",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  {
    from: "/v1/chat/completions/responses",
    body: RESPONSES,
    to: "/v1/responses",
    shape: "response",
  },
  {
    from: "/v1/v1/chat/completions/responses/",
    body: { model: "m", instructions: "x", input: "hi" },
    to: "/v1/responses",
    shape: "response",
  },
  // A whole endpoint given as the Base URL, with the client's own path glued on: the last one wins.
  {
    from: "/v1/chat/completions/chat/completions",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  {
    from: "/v1/chat/completions/v1/chat/completions/",
    body: CHAT,
    to: "/v1/chat/completions",
    shape: "chat.completion",
  },
  { from: "/v1/responses/responses", body: RESPONSES, to: "/v1/responses", shape: "response" },
  {
    from: "/v1/completions/completions",
    body: { model: "m", prompt: "hi" },
    to: "/v1/completions",
    shape: "text_completion",
  },
  { from: "/v1/messages/v1/messages", body: ANTHROPIC, to: "/v1/messages", shape: "message" },
  {
    from: "/v1/messages/v1/messages/count_tokens",
    body: ANTHROPIC,
    to: "/v1/messages/count_tokens",
    shape: "tokens",
  },
  { from: "/v1/chat/completions/models", method: "GET", to: "/v1/models", shape: "list" },
  {
    from: "/v1/chat/completions/chat/completions/responses",
    body: RESPONSES,
    to: "/v1/responses",
    shape: "response",
  },
  {
    from: "/v1beta/models/gemini-x:generateContent/v1beta/models/gemini-x:generateContent",
    body: GEMINI,
    to: "/v1beta/models/gemini-x:generateContent",
    shape: "gemini",
  },
  {
    from: "/v1/models/gemini-x:generateContent/v1/models/gemini-x:countTokens",
    body: GEMINI,
    to: "/v1/models/gemini-x:countTokens",
    shape: "tokens",
  },
];

function shapeOf(body: any): string {
  if (body.object === "list") return "list";
  if (body.object) return body.object;
  if (body.type === "message") return "message";
  if (body.candidates) return "gemini";
  if (typeof body.input_tokens === "number" || typeof body.totalTokens === "number")
    return "tokens";
  return JSON.stringify(body);
}

describe("forgiven paths are served and say so", () => {
  test.each(REWRITES)(
    "$from -> $to ($shape)",
    async ({ from, method = "POST", body, to, shape }) => {
      const response = await fetch(gw.origin + from, {
        method,
        body: body && JSON.stringify(body),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-levity-path-rewritten")).toBe(`${from} -> ${to}`);
      expect(shapeOf(await bodyOf(response))).toBe(shape);
    },
  );

  test("canonical paths carry no rewrite header", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify(CHAT),
    });
    expect(response.headers.get("x-levity-path-rewritten")).toBeNull();
  });

  test("the log warns once per distinct path, with the Base URL that client should use", async () => {
    for (let i = 0; i < 3; i++)
      await fetch(`${gw.origin}/chat/completions`, { method: "POST", body: JSON.stringify(CHAT) });
    const warnings = gw.log.lines.filter((line) => line.includes("POST /chat/completions;"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`Set that client's Base URL to ${gw.origin}/v1`);
    const anthropicWarning = gw.log.lines.find((line) => line.includes("POST /v1/v1/messages;"));
    expect(anthropicWarning).toContain(`Set that client's Base URL to ${gw.origin} `);
  });

  test("a glued endpoint warns once, saying the Base URL is a whole endpoint and what it should be", async () => {
    for (let i = 0; i < 3; i++)
      await fetch(`${gw.origin}/v1/chat/completions/chat/completions`, {
        method: "POST",
        body: JSON.stringify(CHAT),
      });
    const warnings = gw.log.lines.filter((line) =>
      line.includes("POST /v1/chat/completions/chat/completions;"),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("served it as /v1/chat/completions.");
    expect(warnings[0]).toContain("whole endpoint (ending in /v1/chat/completions)");
    expect(warnings[0]).toContain(`Set that client's Base URL to ${gw.origin}/v1 `);
  });

  test("a glued endpoint with the wrong method is a 405 naming the method its last path accepts", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions/chat/completions`);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
  });

  test("only API paths glue: a non-endpoint front or an unknown rest is still a 404", async () => {
    for (const path of [
      "/healthz/v1/chat/completions",
      "/levity/status/v1/messages",
      "/v1/chat/completions/chat/completion",
      "/v1/chat/completions/levity/status",
      "/v1/chat/completions/healthz",
    ]) {
      const response = await fetch(gw.origin + path, {
        method: path.endsWith("status") || path.endsWith("healthz") ? "GET" : "POST",
        body:
          path.endsWith("status") || path.endsWith("healthz") ? undefined : JSON.stringify(CHAT),
      });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
    }
  });

  test("the repair is the routes.yaml rule: with glued_endpoints: false the same path is a 404", async () => {
    const routes = (glued: boolean) =>
      `normalize:\n  glued_endpoints: ${glued}\nroutes:\n  - { method: POST, path: /v1/chat/completions, dialect: openai-chat, operation: generate, aliases: [/chat/completions] }\n`;
    for (const glued of [true, false]) {
      const custom = startGateway({ routes: routes(glued) });
      try {
        const response = await fetch(`${custom.origin}/v1/chat/completions/chat/completions`, {
          method: "POST",
          body: JSON.stringify(CHAT),
        });
        expect({ glued, status: response.status }).toEqual({ glued, status: glued ? 200 : 404 });
      } finally {
        await custom.stop();
      }
    }
  });

  test("an overlapped path whose body names no known field is a 400 that says why", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions/responses`, {
      method: "POST",
      body: JSON.stringify({ model: "m" }),
    });
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error.message).toContain(
      "messages, input, instructions, prompt",
    );
  });
});

describe("SDKs configured with the usual Base URL mistakes still work", () => {
  test("OpenAI SDK without /v1", async () => {
    const client = new OpenAI({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
    const done = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "no v1" }],
    });
    expect(done.choices[0]!.message.content).toBe("no v1");
  });

  test("Anthropic SDK with /v1 (it adds its own)", async () => {
    const client = new Anthropic({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
    const message = await client.messages.create({
      model: "m",
      max_tokens: 8,
      messages: [{ role: "user", content: "double v1" }],
    });
    expect(message.content[0]).toMatchObject({ text: "double v1" });
  });

  test("Gemini SDK with /v1beta (it adds its own)", async () => {
    const client = new GoogleGenAI({
      apiKey: "x",
      httpOptions: { baseUrl: `${gw.origin}/v1beta` },
    });
    const response = await client.models.generateContent({
      model: "gemini-x",
      contents: "double v1beta",
    });
    expect(response.text).toBe("double v1beta");
  });

  test("Gemini SDK on API version v1", async () => {
    const client = new GoogleGenAI({
      apiKey: "x",
      httpOptions: { baseUrl: gw.origin, apiVersion: "v1" },
    });
    const response = await client.models.generateContent({ model: "gemini-x", contents: "v1 api" });
    expect(response.text).toBe("v1 api");
  });
});

describe("SDKs given a whole endpoint as their Base URL still work", () => {
  test("OpenAI SDK given /v1/chat/completions (Kilo Code and every OpenAI-compatible client do the same)", async () => {
    const client = new OpenAI({
      apiKey: "x",
      baseURL: `${gw.origin}/v1/chat/completions`,
      maxRetries: 0,
    });
    const done = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "pasted endpoint" }],
    });
    expect(done.choices[0]!.message.content).toBe("pasted endpoint");
    const stream = await client.chat.completions.create({
      model: "m",
      stream: true,
      messages: [{ role: "user", content: "streamed" }],
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("streamed");
    const models = await client.models.list();
    expect(models.data.length).toBeGreaterThan(0);
  });

  test("OpenAI SDK given /v1/responses", async () => {
    const client = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1/responses`, maxRetries: 0 });
    const response = await client.responses.create({ model: "m", input: "responses endpoint" });
    expect(response.output_text).toBe("responses endpoint");
  });

  test("Anthropic SDK given /v1/messages", async () => {
    const client = new Anthropic({
      apiKey: "x",
      baseURL: `${gw.origin}/v1/messages`,
      maxRetries: 0,
    });
    const message = await client.messages.create({
      model: "m",
      max_tokens: 8,
      messages: [{ role: "user", content: "messages endpoint" }],
    });
    expect(message.content[0]).toMatchObject({ text: "messages endpoint" });
    const counted = await client.messages.countTokens({
      model: "m",
      messages: [{ role: "user", content: "count me" }],
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
  });

  test("Gemini SDK given /v1beta/models/MODEL:generateContent, plain and streamed", async () => {
    const client = new GoogleGenAI({
      apiKey: "x",
      httpOptions: { baseUrl: `${gw.origin}/v1beta/models/gemini-x:generateContent` },
    });
    const response = await client.models.generateContent({
      model: "gemini-x",
      contents: "gemini endpoint",
    });
    expect(response.text).toBe("gemini endpoint");
    let text = "";
    for await (const chunk of await client.models.generateContentStream({
      model: "gemini-x",
      contents: "gemini stream",
    }))
      text += chunk.text ?? "";
    expect(text).toBe("gemini stream");
  });
});

describe("unknown paths and wrong methods explain themselves", () => {
  test("an OpenAI-looking path: 404 in OpenAI shape naming the nearest route and every Base URL", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completion`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
    const { error } = await bodyOf(response);
    expect(error.type).toBe("invalid_request_error");
    expect(error.message).toContain("nearest known route is POST /v1/chat/completions");
    expect(error.message).toContain(`OpenAI SDKs, Codex CLI and Kilo Code ${gw.origin}/v1`);
    expect(error.message).toContain(`Anthropic SDKs and Claude Code ${gw.origin};`);
    expect(error.message).toContain(`Gemini SDKs and Gemini CLI ${gw.origin}.`);
  });

  test("a Gemini-looking path: 404 in Gemini shape", async () => {
    const response = await fetch(`${gw.origin}/v1beta/models/gemini-x:generateContents`, {
      method: "POST",
      body: "{}",
    });
    expect(response.status).toBe(404);
    const body = await bodyOf(response);
    expect(body.error).toMatchObject({ code: 404, status: "NOT_FOUND" });
    expect(body.error.message).toContain("/v1beta/models/{model}:");
  });

  test("an Anthropic client on a wrong path: 404 in Anthropic shape", async () => {
    const response = await fetch(`${gw.origin}/v2/messages`, {
      method: "POST",
      headers: { "anthropic-version": "2023-06-01" },
      body: "{}",
    });
    expect(response.status).toBe(404);
    const body = await bodyOf(response);
    expect(body).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(body.error.message).toContain("POST /v1/messages");
  });

  test("a known path with the wrong method: 405 with Allow", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
    expect((await bodyOf(response)).error.message).toContain("accepts POST");
  });

  test("a forgiven path with the wrong method is a 405, not a 404", async () => {
    const response = await fetch(`${gw.origin}/chat/completions/`);
    expect(response.status).toBe(405);
  });
});
