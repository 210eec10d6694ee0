import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeCompaction } from "../src/codecs/openai-responses/compaction.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// Codex's remote compaction (docs/codex-transports.md): POST /v1/responses/compact, and a
// compaction_trigger item inside POST /v1/responses (v2). Forwarded to an upstream that serves the
// Responses API natively, emulated with the mapped model over any other.

const KEY = "sk-levity-compact-client";
const GEMINI_KEY = "gemini-compact-account";
const OPENAI_KEY = "sk-openai-compact-account";
const OPENAI_COMPACTION = "gAAAA-opaque-openai-compaction";

let ge: FakeUpstream;
let gw: TestGateway;
// A tiny OpenAI stand-in: only /v1/responses/compact, answering as OpenAI does.
let openai: ReturnType<typeof Bun.serve>;
const openaiSeen: { path: string; authorization: string | null; body: any }[] = [];

const HISTORY = [
  {
    type: "message",
    role: "user",
    content: [{ type: "input_text", text: "Please fix the failing build in src/app.ts" }],
  },
  {
    type: "message",
    role: "assistant",
    content: [{ type: "output_text", text: "I will look at the build log first." }],
  },
  {
    type: "function_call",
    call_id: "call_1",
    name: "shell",
    arguments: '{"command":["npm","run","build"]}',
  },
  {
    type: "function_call_output",
    call_id: "call_1",
    output: "error TS2304: Cannot find name 'foo' in src/app.ts:12",
  },
  { type: "message", role: "user", content: "Also keep the tests green." },
];

/** OpenAI's answer to a compaction_trigger: a response whose one output item is the compaction. */
function inlineCompaction(stream: boolean): Response {
  const item = { type: "compaction", id: "cmp_inline", encrypted_content: OPENAI_COMPACTION };
  const shell = { id: "resp_inline", object: "response", created_at: 1, model: "gpt-5-real" };
  const usage = { input_tokens: 40, output_tokens: 5, total_tokens: 45 };
  const completed = { ...shell, status: "completed", output: [item], usage };
  if (!stream) return Response.json(completed);
  const events = [
    { type: "response.created", response: { ...shell, status: "in_progress", output: [] } },
    { type: "response.output_item.added", output_index: 0, item },
    { type: "response.output_item.done", output_index: 0, item },
    { type: "response.completed", response: completed },
  ];
  return new Response(
    events
      .map((e, i) => `event: ${e.type}\ndata: ${JSON.stringify({ ...e, sequence_number: i })}\n\n`)
      .join(""),
    { headers: { "content-type": "text/event-stream" } },
  );
}

beforeAll(() => {
  ge = fakeGemini(GEMINI_KEY);
  openai = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body: any = await request.json().catch(() => undefined);
      openaiSeen.push({
        path: new URL(request.url).pathname,
        authorization: request.headers.get("authorization"),
        body,
      });
      const path = new URL(request.url).pathname;
      // Remote compaction v2: OpenAI answers a compaction_trigger with one compaction item.
      if (
        path === "/v1/responses" &&
        body?.input?.some((i: any) => i?.type === "compaction_trigger")
      )
        return inlineCompaction(body.stream === true);
      if (path !== "/v1/responses/compact")
        return Response.json(
          { error: { message: "no such route", type: "invalid_request_error" } },
          { status: 404 },
        );
      return Response.json({
        id: "resp_openai_compact",
        object: "response.compaction",
        output: [{ type: "compaction", id: "cmp_openai", encrypted_content: OPENAI_COMPACTION }],
        usage: { input_tokens: 40, output_tokens: 5, total_tokens: 45 },
      });
    },
  });
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  cooldown_wait: 0\n` +
      upstreamsYaml([
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "a", key: GEMINI_KEY }],
        },
        {
          name: "openai",
          protocol: "openai",
          base_url: `http://127.0.0.1:${openai.port}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "a", key: OPENAI_KEY }],
        },
      ]),
    mappings: "exact:\n  to-gemini: gemini/gemini-2.5-flash-real\n  to-openai: openai/gpt-5-real\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await ge.stop();
  await openai.stop(true);
});

function post(path: string, body: unknown, key: string | null = KEY): Promise<Response> {
  return fetch(gw.origin + path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

describe("POST /v1/responses/compact, emulated over Gemini", () => {
  test("the answer keeps the user's messages and adds one compaction item that carries the model's summary", async () => {
    const before = ge.requests.length;
    const response = await post("/v1/responses/compact", {
      model: "to-gemini",
      input: HISTORY,
      instructions: "You are Codex.",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-levity-compaction")).toBe("emulated");
    expect(response.headers.get("x-upstream")).toBe("gemini");
    const body = await bodyOf(response);
    expect(body.object).toBe("response.compaction");
    const output = body.output as any[];
    expect(output.map((item) => item.type)).toEqual(["message", "message", "compaction"]);
    // As output items: an id, a status and typed content, whatever form the input gave them.
    expect(output[0]).toMatchObject({
      type: "message",
      role: "user",
      status: "completed",
      content: HISTORY[0]!.content,
    });
    expect(output[1]).toMatchObject({
      type: "message",
      role: "user",
      status: "completed",
      content: [{ type: "input_text", text: "Also keep the tests green." }],
    });
    expect(output[1].id).toStartWith("msg_");
    const compaction = output[2];
    expect(compaction.encrypted_content).toStartWith("levity-compaction.");
    const summary = decodeCompaction(compaction.encrypted_content);
    expect(summary?.length).toBeGreaterThan(0);
    // One summarizing call, whose one user message is the conversation as text, tool traffic included.
    expect(ge.requests.length).toBe(before + 1);
    const sent = ge.last().json;
    expect(sent.contents).toHaveLength(1);
    const text = sent.contents[0].parts[0].text as string;
    expect(text).toContain("Please fix the failing build in src/app.ts");
    expect(text).toContain("[assistant called tool shell (call call_1)]");
    expect(text).toContain("Cannot find name 'foo'");
    expect(sent.systemInstruction.parts[0].text).toContain("handoff summary");
  });

  test("the compaction item sent back at the head of the next input reaches the upstream as the summary", async () => {
    const compacted = await bodyOf(
      await post("/v1/responses/compact", { model: "to-gemini", input: HISTORY }),
    );
    const summary = decodeCompaction(compacted.output.at(-1).encrypted_content)!;
    const next = await post("/v1/responses", {
      model: "to-gemini",
      input: [...compacted.output, { type: "message", role: "user", content: "go on" }],
    });
    expect(next.status).toBe(200);
    const contents = ge.last().json.contents as any[];
    const texts = contents.flatMap((c) => c.parts.map((p: any) => p.text ?? "")).join("\n");
    expect(texts).toContain("Summary of the earlier part of this conversation");
    expect(texts).toContain(summary);
    expect(texts).not.toContain("levity-compaction.");
  });

  test("instructions in the input (Codex sends them as developer messages) are not summarized", async () => {
    const input = [
      {
        type: "message",
        role: "developer",
        content: [
          { type: "input_text", text: "You are Codex, a coding agent with a very long prompt." },
        ],
      },
      ...HISTORY,
    ];
    const body = await bodyOf(await post("/v1/responses/compact", { model: "to-gemini", input }));
    expect(ge.last().json.contents[0].parts[0].text).not.toContain("You are Codex");
    expect(body.output.map((item: any) => item.role ?? item.type)).toEqual([
      "user",
      "user",
      "compaction",
    ]);
  });

  test("a compaction of a compaction reads the earlier summary", async () => {
    const first = await bodyOf(
      await post("/v1/responses/compact", { model: "to-gemini", input: HISTORY }),
    );
    await post("/v1/responses/compact", {
      model: "to-gemini",
      input: [...first.output, { type: "message", role: "user", content: "more" }],
    });
    expect(ge.last().json.contents[0].parts[0].text).toContain(
      "[summary of the conversation before this point]",
    );
  });

  test("bad requests are refused in OpenAI's shape, and without the client key with 401", async () => {
    const noModel = await post("/v1/responses/compact", { input: HISTORY });
    expect(noModel.status).toBe(400);
    expect((await bodyOf(noModel)).error.param).toBe("model");
    const badInput = await post("/v1/responses/compact", { model: "to-gemini", input: 7 });
    expect(badInput.status).toBe(400);
    expect((await bodyOf(badInput)).error.param).toBe("input");
    const notJson = await fetch(`${gw.origin}/v1/responses/compact`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    expect((await bodyOf(notJson)).error.type).toBe("invalid_request_error");
    const noKey = await post("/v1/responses/compact", { model: "to-gemini", input: HISTORY }, null);
    expect(noKey.status).toBe(401);
  });

  test("an upstream failure comes back as an error, not as an empty compaction", async () => {
    ge.replyOnce({
      status: 400,
      body: JSON.stringify({
        error: {
          code: 400,
          message: "Request contains an invalid argument.",
          status: "INVALID_ARGUMENT",
        },
      }),
    });
    const response = await post("/v1/responses/compact", { model: "to-gemini", input: HISTORY });
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error.message).toContain("invalid argument");
  });
});

describe("POST /v1/responses/compact, forwarded to an upstream that serves Responses", () => {
  test("the request goes to {base_url}/responses/compact with the account's key and the mapped model, and the answer comes back as it was", async () => {
    const response = await post("/v1/responses/compact", {
      model: "to-openai",
      input: HISTORY,
      instructions: "You are Codex.",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("openai");
    const body = await bodyOf(response);
    expect(body.output).toEqual([
      { type: "compaction", id: "cmp_openai", encrypted_content: OPENAI_COMPACTION },
    ]);
    const seen = openaiSeen.at(-1)!;
    expect(seen.path).toBe("/v1/responses/compact");
    expect(seen.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(seen.body.model).toBe("gpt-5-real");
    expect(seen.body.input).toEqual(HISTORY);
    expect(seen.body.instructions).toBe("You are Codex.");
  });

  test("the alias /responses/compact is served too", async () => {
    const response = await post("/responses/compact", { model: "to-openai", input: HISTORY });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-levity-path-rewritten")).toBe(
      "/responses/compact -> /v1/responses/compact",
    );
  });
});

describe("compaction_trigger inside POST /v1/responses, forwarded to OpenAI", () => {
  const TRIGGERED = [...HISTORY, { type: "compaction_trigger" }];

  // An answer whose one item is a compaction has no text, call or thinking, and is still an
  // answer: it once came back as a 502 "answered with no content".
  test("streamed: OpenAI's compaction item reaches the client as OpenAI sent it", async () => {
    const response = await post("/v1/responses", {
      model: "to-openai",
      input: TRIGGERED,
      stream: true,
      store: false,
    });
    expect(response.status).toBe(200);
    const events = (await response.text())
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice(6)));
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.output_item.added",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.at(-1).response.output).toEqual([
      { type: "compaction", id: "cmp_inline", encrypted_content: OPENAI_COMPACTION },
    ]);
    const seen = openaiSeen.at(-1)!;
    expect(seen.path).toBe("/v1/responses");
    expect(seen.body.input.at(-1)).toEqual({ type: "compaction_trigger" });
  });

  test("whole: the same, as one JSON Responses object", async () => {
    const response = await post("/v1/responses", { model: "to-openai", input: TRIGGERED });
    expect(response.status).toBe(200);
    expect((await bodyOf(response)).output).toEqual([
      { type: "compaction", id: "cmp_inline", encrypted_content: OPENAI_COMPACTION },
    ]);
  });
});

describe("compaction_trigger inside POST /v1/responses (Codex's remote compaction v2), emulated over Gemini", () => {
  const TRIGGERED = [...HISTORY, { type: "compaction_trigger" }];

  test("streamed: the response's one output item is the compaction, and it ends with response.completed", async () => {
    const response = await post("/v1/responses", {
      model: "to-gemini",
      input: TRIGGERED,
      stream: true,
      store: false,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = (await response.text())
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice(6)));
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.output_item.added",
      "response.output_item.done",
      "response.completed",
    ]);
    const output = events.at(-1).response.output as any[];
    expect(output.filter((item) => item.type === "compaction")).toHaveLength(1);
    expect(decodeCompaction(output[0].encrypted_content)?.length).toBeGreaterThan(0);
    // The trigger itself is not part of what the model summarized.
    expect(ge.last().json.contents[0].parts[0].text).not.toContain("compaction_trigger");
  });

  test("whole: the same as a JSON Responses object", async () => {
    const body = await bodyOf(
      await post("/v1/responses", { model: "to-gemini", input: TRIGGERED }),
    );
    expect(body.object).toBe("response");
    expect(body.status).toBe("completed");
    expect(body.output).toHaveLength(1);
    expect(body.output[0].type).toBe("compaction");
  });

  test("over the WebSocket transport too", async () => {
    const ws = new WebSocket(`${gw.origin.replace(/^http/, "ws")}/v1/responses`, {
      headers: { authorization: `Bearer ${KEY}` },
    } as unknown as string[]);
    const messages: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.addEventListener("message", (event) => {
        const message = JSON.parse(String(event.data));
        messages.push(message);
        if (message.type === "response.completed" || message.type === "error") resolve();
      });
      ws.addEventListener("error", () => reject(new Error("socket failed")));
    });
    await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
    ws.send(
      JSON.stringify({
        type: "response.create",
        model: "to-gemini",
        input: TRIGGERED,
        store: false,
      }),
    );
    await done;
    const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    ws.close();
    await closed;
    expect(messages.at(-1).type).toBe("response.completed");
    expect(messages.at(-1).response.output.map((item: any) => item.type)).toEqual(["compaction"]);
  });
});
