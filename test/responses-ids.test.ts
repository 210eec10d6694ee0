import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { openSqliteStore } from "../src/state/sqlite-store.ts";
import { memoryStore, type StateStore, type StoredResponse } from "../src/state/store.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

/*
 * Responses ids are levity's own: minted per response, random, never derived from the upstream's
 * id, so an upstream that reuses its ids cannot make two responses share one. The id the client
 * is shown is the id the store keeps, and the store never overwrites a response.
 * Also: the request settings the Response object must report come back as the client sent them,
 * and a tool output must answer a call the conversation made.
 */

const KEY = "sk-an-responses-ids";
const REUSED = "msg_reused_by_upstream";
let an: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;

/** An Anthropic answer that always carries the same message id, whole or streamed. */
function answerWithReusedId(text: string, stream: boolean) {
  const usage = { input_tokens: 5, output_tokens: 2 };
  if (!stream) {
    const body = {
      id: REUSED,
      type: "message",
      role: "assistant",
      model: "claude-real",
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage,
    };
    return { status: 200, body: JSON.stringify(body) };
  }
  const event = (data: { type: string; [field: string]: unknown }) =>
    `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
  const body = [
    event({
      type: "message_start",
      message: {
        id: REUSED,
        type: "message",
        role: "assistant",
        model: "claude-real",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage,
      },
    }),
    event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }),
    event({ type: "content_block_stop", index: 0 }),
    event({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 2 },
    }),
    event({ type: "message_stop" }),
  ].join("");
  return { status: 200, body, headers: { "content-type": "text/event-stream" } };
}

/** The text of every turn levity sent upstream, in order. */
function sentTexts(): string[] {
  return an
    .last()
    .json.messages.map((m: any) =>
      typeof m.content === "string" ? m.content : m.content.map((b: any) => b.text ?? "").join(""),
    );
}

beforeAll(() => {
  an = fakeAnthropic(KEY);
  const gateway = upstreamsYaml([
    {
      name: "anthropic",
      protocol: "anthropic",
      base_url: an.url,
      accounts: [{ name: "a", key: KEY }],
    },
    { name: "echo", protocol: "echo" },
  ]);
  gw = startGateway({
    gateway,
    mappings: "exact:\n  to-anthropic: anthropic/claude-real\n  to-echo: echo/echo\n",
  });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw.stop();
  await an.stop();
});

describe("an upstream that reuses its ids", () => {
  test("two responses get two ids, and continuing the first sends the first's history", async () => {
    an.replyOnce(answerWithReusedId("Blue is the first answer.", false));
    const first = await openai.responses.create({
      model: "to-anthropic",
      input: "First question: a colour?",
    });
    an.replyOnce(answerWithReusedId("Seven is the second answer.", false));
    const second = await openai.responses.create({
      model: "to-anthropic",
      input: "Second question: a number?",
    });
    expect(first.id).toStartWith("resp_");
    expect(second.id).not.toBe(first.id);
    expect(first.id).not.toContain(REUSED);

    const continued = await openai.responses.create({
      model: "to-anthropic",
      previous_response_id: first.id,
      input: "And then?",
    });
    expect(continued.previous_response_id).toBe(first.id);
    expect(sentTexts()).toEqual([
      "First question: a colour?",
      "Blue is the first answer.",
      "And then?",
    ]);
  });

  test("streamed: every event reports the id that continues the conversation", async () => {
    const streamed = async (input: string, text: string) => {
      an.replyOnce(answerWithReusedId(text, true));
      const ids = new Set<string>();
      for await (const event of await openai.responses.create({
        model: "to-anthropic",
        input,
        stream: true,
      })) {
        if ("response" in event) ids.add(event.response.id);
      }
      expect(ids.size).toBe(1);
      return [...ids][0]!;
    };
    const first = await streamed("Streamed question one?", "Streamed answer one.");
    const second = await streamed("Streamed question two?", "Streamed answer two.");
    expect(second).not.toBe(first);

    await openai.responses.create({
      model: "to-anthropic",
      previous_response_id: first,
      input: "Continue one.",
    });
    expect(sentTexts()).toEqual([
      "Streamed question one?",
      "Streamed answer one.",
      "Continue one.",
    ]);
  });
});

describe("the store never overwrites a response", () => {
  const record = (text: string): StoredResponse => ({
    id: "resp_same",
    model: "m",
    input: [{ role: "user", parts: [{ type: "text", text }] }],
    output: [],
  });
  const refusesDuplicates = (store: StateStore) => {
    store.saveResponse(record("kept"));
    expect(() => store.saveResponse(record("would replace"))).toThrow();
    expect(store.conversation("resp_same")?.[0]).toEqual({
      role: "user",
      parts: [{ type: "text", text: "kept" }],
    });
  };

  test("SQLite", () => {
    const dir = tempDir();
    const store = openSqliteStore(join(dir, "state.db"));
    try {
      refusesDuplicates(store);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("in memory", () => refusesDuplicates(memoryStore()));
});

describe("the Response object reports the request's settings", () => {
  const settings = {
    presence_penalty: 0.5,
    frequency_penalty: -0.25,
    top_logprobs: 3,
    max_tool_calls: 2,
    service_tier: "flex",
    safety_identifier: "user-hash-1",
    prompt_cache_key: "cache-key-1",
    metadata: { ticket: "42" },
    user: "user-1",
    truncation: "auto",
    background: false,
  } as const;

  test("whole", async () => {
    const response = await openai.responses.create({
      model: "to-echo",
      input: "hello",
      ...settings,
    });
    expect(response).toMatchObject({ ...settings, status: "completed" });
    expect(response.completed_at).toBeNumber();
  });

  test("streamed: in response.created and response.in_progress (completed_at null until the end) and response.completed", async () => {
    const seen: Record<string, any> = {};
    for await (const event of await openai.responses.create({
      model: "to-echo",
      input: "hello",
      stream: true,
      ...settings,
    })) {
      if ("response" in event) seen[event.type] = event.response;
    }
    expect(Object.keys(seen)).toEqual([
      "response.created",
      "response.in_progress",
      "response.completed",
    ]);
    for (const response of Object.values(seen)) expect(response).toMatchObject(settings);
    expect(seen["response.created"].completed_at).toBeNull();
    expect(seen["response.in_progress"].completed_at).toBeNull();
    expect(seen["response.completed"].completed_at).toBeNumber();
  });

  test("defaults when the client sent none", async () => {
    const response = await openai.responses.create({ model: "to-echo", input: "hello" });
    expect(response).toMatchObject({
      presence_penalty: 0,
      frequency_penalty: 0,
      top_logprobs: 0,
      max_tool_calls: null,
      service_tier: "default",
      safety_identifier: null,
      prompt_cache_key: null,
      metadata: {},
      background: false,
      truncation: "disabled",
    });
  });

  test("background mode is refused rather than pretended", async () => {
    const error = await openai.responses
      .create({ model: "to-echo", input: "hello", background: true })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("background");
  });
});

describe("a tool output must answer a call the conversation made", () => {
  const output = {
    type: "function_call_output" as const,
    call_id: "call_never_made",
    output: "sunny",
  };

  test("refused with a 400 naming the input when the input is the whole conversation", async () => {
    const error = await openai.responses
      .create({ model: "to-echo", input: [{ role: "user", content: "weather?" }, output] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("input");
    expect(error.message).toContain("call_never_made");
  });

  test("answered when the call is in the input before it", async () => {
    const call = {
      type: "function_call" as const,
      call_id: "call_never_made",
      name: "get_weather",
      arguments: "{}",
    };
    const response = await openai.responses.create({
      model: "to-echo",
      input: [{ role: "user", content: "weather?" }, call, output],
    });
    expect(response.output_text).toContain("sunny");
  });

  test("not judged when other items may stand for the call (an item_reference)", async () => {
    const response = await openai.responses.create({
      model: "to-echo",
      input: [
        { role: "user", content: "weather?" },
        { type: "item_reference", id: "fc_elsewhere" },
        output,
      ],
    });
    expect(response.status).toBe("completed");
  });
});
