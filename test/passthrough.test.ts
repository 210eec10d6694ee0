import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  resetAccounts,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";

// Same-dialect forwarding: only the model changes, the account key goes in the upstream's own
// header, streams are piped through, and upstream errors reach the client as they were.

const KEYS = {
  openai: "sk-openai-account-1",
  anthropic: "sk-ant-account-1",
  gemini: "AIza-gemini-account-1",
};
const CLIENT_KEY = "sk-client-key-0001";
// Client keys never open the admin surface; the account resets between tests need this one.
const ADMIN_KEY = "sk-admin-key-0001";

let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({
    gateway:
      `proxy:\n  cooldown_wait: 0\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n  admin_key: ${ADMIN_KEY}\n` +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "openai-work", key: KEYS.openai }],
        },
        {
          name: "an",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "anthropic-work", key: KEYS.anthropic }],
        },
        {
          name: "ge",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "alice@example.com", key: KEYS.gemini }],
        },
      ]),
    mappings: `exact:\n  gpt-4o: oa/gpt-4o-real\nwildcard:\n  "claude-*": an/claude-sonnet-4-5-real\n  "gemini-*": ge/gemini-2.5-flash-real\n`,
  });
  openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.origin, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.origin } });
});

afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
}); // Scripted failures cool the accounts they hit; each test starts with healthy ones.
afterEach(() => resetAccounts(gw.origin, ADMIN_KEY));

describe("OpenAI client to an OpenAI upstream", () => {
  test("chat: model rewritten, account key sent as Bearer, client key not forwarded, routing headers set", async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("pong from gpt-4o-real: hi");
    const received = oa.last();
    expect(received.path).toBe("/v1/chat/completions");
    expect(received.json.model).toBe("gpt-4o-real");
    expect(received.json.messages).toEqual([{ role: "user", content: "hi" }]);
    expect(received.headers.get("authorization")).toBe(`Bearer ${KEYS.openai}`);
    expect(received.text).not.toContain(CLIENT_KEY);
    expect([...received.headers.values()].join(" ")).not.toContain(CLIENT_KEY);
    expect(response.headers.get("x-mapped-model")).toBe("gpt-4o-real");
    expect(response.headers.get("x-upstream")).toBe("oa");
    expect(response.headers.get("x-account")).toBe("openai-work");
    expect(response.headers.get("x-request-id")).toStartWith("req_");
  });

  test("chat stream through chat.completions.stream(), with the usage chunk", async () => {
    const stream = openai.chat.completions.stream({
      model: "gpt-4o",
      messages: [{ role: "user", content: "stream please" }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe("pong from gpt-4o-real: stream please");
    expect(final.usage?.total_tokens).toBe(9 + 5);
    expect(oa.last().json.stream).toBe(true);
  });

  test("the stream's bytes reach the client exactly as the upstream sent them", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4o-real",
        stream: true,
        messages: [{ role: "user", content: "bytes" }],
      }),
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const body = await response.text();
    expect(body).toBe(oa.lastStreamBody());
    expect(body.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  test("an unchanged model forwards the client's body byte for byte", async () => {
    const text = `{"model":"o3-real",  "messages":[{"role":"user","content":"spacing kept"}]}`;
    await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": CLIENT_KEY },
      body: text,
    });
    expect(oa.last().text).toBe(text);
  });

  test("completions and responses go to their own upstream paths", async () => {
    const completion = await openai.completions.create({ model: "gpt-4o", prompt: "legacy" });
    expect(completion.choices[0]!.text).toBe("pong from gpt-4o-real: legacy");
    expect(oa.last().path).toBe("/v1/completions");

    const response = await openai.responses.create({ model: "gpt-4o", input: "new api" });
    expect(response.output_text).toBe("pong from gpt-4o-real: new api");
    expect(oa.last().path).toBe("/v1/responses");

    const stream = openai.responses.stream({ model: "gpt-4o", input: "streamed" });
    const final = await stream.finalResponse();
    expect(final.output_text).toBe("pong from gpt-4o-real: streamed");
  });

  test("a Response cut at max_output_tokens arrives incomplete, plain and streamed", async () => {
    const input = Array.from({ length: 20 }, (_, i) => `w${i}`).join(" ");
    const plain = await openai.responses.create({ model: "gpt-4o", input, max_output_tokens: 16 });
    expect(plain).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      completed_at: null,
      max_output_tokens: 16,
      usage: { output_tokens: 16 },
    });
    expect(plain.output[0]).toMatchObject({ type: "message", status: "incomplete" });
    expect(plain.output_text).toBe(
      `pong from gpt-4o-real: ${input.split(" ").slice(0, 13).join(" ")} `,
    );

    const stream = openai.responses.stream({ model: "gpt-4o", input, max_output_tokens: 16 });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe("response.incomplete");
    expect((await stream.finalResponse()).status).toBe("incomplete");
  });

  test("OpenAI's own refusal of max_output_tokens under 16 reaches a Responses client as it was", async () => {
    const error = await openai.responses
      .create({ model: "gpt-4o", input: "x", max_output_tokens: 5 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("max_output_tokens");
    expect(error.code).toBe("integer_below_min_value");
    expect(oa.last().json.max_output_tokens).toBe(5);
  });

  test("an upstream 429 reaches the client with its status, body and Retry-After", async () => {
    oa.replyOnce({
      status: 429,
      headers: { "retry-after": "7" },
      body: JSON.stringify({
        error: {
          message: "Rate limit reached for gpt-4o",
          type: "requests",
          param: null,
          code: "rate_limit_exceeded",
        },
      }),
    });
    const error = await openai.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.status).toBe(429);
    expect(error.message).toContain("Rate limit reached for gpt-4o");
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.headers.get("retry-after")).toBe("7");
  });
});

describe("Anthropic client to an Anthropic upstream", () => {
  test("message: model rewritten, key in x-api-key, anthropic-version forwarded", async () => {
    const { data, response } = await anthropic.messages
      .create({
        model: "claude-opus-9",
        max_tokens: 64,
        messages: [{ role: "user", content: "hello" }],
      })
      .withResponse();
    expect(data.content[0]).toMatchObject({
      type: "text",
      text: "pong from claude-sonnet-4-5-real: hello",
    });
    const received = an.last();
    expect(received.json.model).toBe("claude-sonnet-4-5-real");
    expect(received.headers.get("x-api-key")).toBe(KEYS.anthropic);
    expect(received.headers.get("authorization")).toBeNull();
    expect(received.headers.get("anthropic-version")).toBeTruthy();
    expect(response.headers.get("x-account")).toBe("anthropic-work");
    expect(response.headers.get("request-id")).toBe("req_upstream_anthropic");
  });

  test("messages.stream() over a piped stream, pings included", async () => {
    const stream = anthropic.messages.stream({
      model: "claude-opus-9",
      max_tokens: 64,
      messages: [{ role: "user", content: "stream" }],
    });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({
      type: "text",
      text: "pong from claude-sonnet-4-5-real: stream",
    });
    expect(final.usage.output_tokens).toBe(4);
  });

  test("count_tokens asks the upstream", async () => {
    const counted = await anthropic.messages.countTokens({
      model: "claude-opus-9",
      messages: [{ role: "user", content: "count" }],
    });
    expect(counted.input_tokens).toBe(42);
    expect(an.last().path).toBe("/v1/messages/count_tokens");
  });

  test("an upstream 529 reaches the client as an OverloadedError-class status", async () => {
    an.replyOnce({
      status: 529,
      body: JSON.stringify({
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
      }),
    });
    const error = await anthropic.messages
      .create({ model: "claude-opus-9", max_tokens: 8, messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(error.status).toBe(529);
    expect(error.type).toBe("overloaded_error");
  });
});

describe("Gemini client to a Gemini upstream", () => {
  test("generateContent: model in the path, key in x-goog-api-key, the client's key never forwarded", async () => {
    const response = await genai.models.generateContent({
      model: "gemini-2.5-flash",
      contents: "hola",
    });
    expect(response.text).toBe("pong from gemini-2.5-flash-real: hola");
    const received = ge.last();
    expect(received.path).toBe("/v1beta/models/gemini-2.5-flash-real:generateContent");
    expect(received.headers.get("x-goog-api-key")).toBe(KEYS.gemini);
    expect(received.query.get("key")).toBeNull();
  });

  test("generateContentStream: the SSE stream is piped through with alt=sse", async () => {
    const pieces: string[] = [];
    for await (const chunk of await genai.models.generateContentStream({
      model: "gemini-2.5-pro",
      contents: "stream it",
    }))
      pieces.push(chunk.text ?? "");
    expect(pieces.join("")).toBe("pong from gemini-2.5-flash-real: stream it");
    expect(ge.last().path).toBe("/v1beta/models/gemini-2.5-flash-real:streamGenerateContent");
    expect(ge.last().query.get("alt")).toBe("sse");
  });

  test("without alt=sse the upstream's JSON-array stream is piped through, and ?key= is not forwarded", async () => {
    const response = await fetch(
      `${gw.origin}/v1beta/models/gemini-x:streamGenerateContent?key=${CLIENT_KEY}`,
      {
        method: "POST",
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "array" }] }] }),
      },
    );
    const body = await response.text();
    expect(body).toBe(ge.lastStreamBody());
    expect(JSON.parse(body)).toHaveLength(4);
    expect(ge.last().query.toString()).toBe("");
    expect(ge.last().headers.get("x-goog-api-key")).toBe(KEYS.gemini);
  });

  test("countTokens asks the upstream", async () => {
    const counted = await genai.models.countTokens({
      model: "gemini-2.5-flash",
      contents: "count",
    });
    expect(counted.totalTokens).toBe(7);
  });
});

describe("model lists", () => {
  test("OpenAI shape: mapping names, targets and each upstream's own list", async () => {
    const ids = (await openai.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        "gpt-4o",
        "gpt-4o-real",
        "claude-sonnet-4-5-real",
        "o3-real",
        "claude-haiku-4-5-real",
        "gemini-2.5-pro-real",
      ]),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("Anthropic shape when anthropic-version is sent", async () => {
    const page = await anthropic.models.list();
    expect(page.data.map((m) => m.id)).toContain("claude-haiku-4-5-real");
    expect(page.data[0]!.type).toBe("model");
  });

  test("Gemini shape on /v1beta/models", async () => {
    const names: string[] = [];
    for await (const model of await genai.models.list()) names.push(model.name ?? "");
    expect(names).toContain("models/gemini-2.5-pro-real");
    expect(names).toContain("models/gpt-4o");
  });
});

describe("client disconnects", () => {
  const chatChunk = (delta: object) =>
    `data: ${JSON.stringify({ id: "chatcmpl-h", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;

  /** The account's view once its lease has finished (nothing in flight): polled, as the finish follows the abort. */
  async function settledAccount(name: string): Promise<Record<string, unknown>> {
    for (const started = performance.now(); performance.now() - started < 5000; ) {
      const response = await fetch(`${gw.origin}/levity/accounts`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      const accounts = ((await response.json()) as { accounts: Record<string, unknown>[] })
        .accounts;
      const account = accounts.find((a) => a.account === name)!;
      if (account.inFlight === 0) return account;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`${name} still has a request in flight after 5 s`);
  }

  test("a client that disconnects mid-stream aborts the upstream request, and the account is not blamed", async () => {
    const failuresBefore = (await settledAccount("openai-work")).failures;
    const held = oa.holdOnce(chatChunk({ role: "assistant", content: "partial " }));
    const controller = new AbortController();
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({
        model: "gpt-4o",
        stream: true,
        messages: [{ role: "user", content: "hang" }],
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("partial");
    controller.abort();
    await held.aborted;
    // The client's going, not a cut stream: the account's health is untouched.
    expect(await settledAccount("openai-work")).toMatchObject({
      state: "healthy",
      consecutiveFailures: 0,
      failures: failuresBefore,
    });
  });

  test("a client that disconnects before the first content (headers not yet sent) aborts the upstream request too", async () => {
    const held = oa.holdOnce(chatChunk({ role: "assistant", content: "" }));
    const controller = new AbortController();
    const pending = fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({
        model: "gpt-4o",
        stream: true,
        messages: [{ role: "user", content: "hang" }],
      }),
      signal: controller.signal,
    }).catch((error) => error);
    await held.received;
    const left = performance.now();
    controller.abort();
    await held.aborted;
    // Seen by the upstream calls' sweep (every 100 ms), not by a listener per call: well within a second.
    expect(performance.now() - left).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });
});
