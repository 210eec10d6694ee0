import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { loadConfig } from "../src/config/load.ts";
import { ConfigError } from "../src/config/problem.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  resetAccounts,
  startGateway,
  tempDir,
  upstreamsYaml,
  writeConfig,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { runLevity } from "./support/process.ts";

/*
 * Context windows and token counts through a live levity: the model table and mappings.yaml's
 * overrides, /v1/models in each family's fields, requests refused before sending in the client's
 * own too-long words, upstreams' too-long errors translated, and count_tokens for each pair.
 */

const KEYS = { openai: "sk-oa-ctx", anthropic: "sk-an-ctx", gemini: "ge-ctx" };
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

const GATEWAY = () =>
  "proxy:\n  cooldown_wait: 0\n" +
  upstreamsYaml([
    {
      name: "openai",
      protocol: "openai",
      base_url: `${oa.url}/v1`,
      accounts: [{ name: "a", key: KEYS.openai }],
    },
    {
      name: "anthropic",
      protocol: "anthropic",
      base_url: an.url,
      // Two accounts: a prompt too long for one is too long for both, so only one is asked.
      accounts: [
        { name: "a", key: KEYS.anthropic },
        { name: "b", key: KEYS.anthropic },
      ],
    },
    {
      name: "gemini",
      protocol: "gemini",
      base_url: ge.url,
      accounts: [{ name: "a", key: KEYS.gemini }],
    },
  ]) +
  `  - name: responses\n    protocol: openai\n    base_url: ${oa.url}/v1\n    apis: [responses]\n    accounts:\n      - { name: a, key: ${KEYS.openai} }\n` +
  `  - name: chat-only\n    protocol: openai\n    base_url: ${oa.url}/v1\n    apis: [chat]\n    accounts:\n      - { name: a, key: ${KEYS.openai} }\n`;

// A window of 1,000 tokens: the prompts below are about 2,000.
const MAPPINGS = `exact:
  small-claude: { target: anthropic/claude-small, context_window: 1000 }
  small-gpt: { target: chat-only/gpt-small, context_window: 1000 }
  small-gemini: { target: gemini/gemini-small, context_window: 1000, max_output: 500, modalities: [text] }
  small-responses: { target: responses/gpt-small, context_window: 1000 }
  spill: [{ target: anthropic/claude-small, context_window: 1000 }, gemini/gemini-2.5-pro]
  big-claude: anthropic/claude-sonnet-4-5
  to-anthropic: anthropic/claude-real
  to-openai: chat-only/gpt-4o
  to-gemini: gemini/gemini-real
  to-responses: responses/gpt-5
`;

const LONG = "lorem ipsum dolor sit amet ".repeat(400);

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
});
afterEach(() => resetAccounts(gw.origin));

const upstreamCalls = () => oa.requests.length + an.requests.length + ge.requests.length;

type Client = "anthropic" | "openai-chat" | "openai-responses" | "openai-completions" | "gemini";

/** One request of `text` in the client's own wire format. */
function send(client: Client, model: string, text: string): Promise<Response> {
  const post = (path: string, body: unknown) =>
    fetch(`${gw.origin}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  switch (client) {
    case "anthropic":
      return post("/v1/messages", {
        model,
        max_tokens: 100,
        messages: [{ role: "user", content: text }],
      });
    case "openai-chat":
      return post("/v1/chat/completions", { model, messages: [{ role: "user", content: text }] });
    case "openai-responses":
      return post("/v1/responses", { model, input: text });
    case "openai-completions":
      return post("/v1/completions", { model, prompt: text });
    case "gemini":
      return post(`/v1beta/models/${model}:generateContent`, {
        contents: [{ role: "user", parts: [{ text }] }],
      });
  }
}

/** The numbers a too-long error names, read from the client's own error body. */
function tooLong(client: Client, status: number, body: any): { tokens: number; limit: number } {
  expect(status).toBe(400);
  if (client === "anthropic") {
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("invalid_request_error");
    const match = /^prompt is too long: (\d+) tokens > (\d+) maximum$/.exec(body.error.message);
    expect(match).not.toBeNull();
    return { tokens: Number(match![1]), limit: Number(match![2]) };
  }
  if (client === "gemini") {
    expect(body.error.status).toBe("INVALID_ARGUMENT");
    expect(body.error.code).toBe(400);
    const match =
      /^The input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)\.$/.exec(
        body.error.message,
      );
    expect(match).not.toBeNull();
    return { tokens: Number(match![1]), limit: Number(match![2]) };
  }
  expect(body.error.code).toBe("context_length_exceeded");
  expect(body.error.type).toBe("invalid_request_error");
  const match =
    /^This model's maximum context length is (\d+) tokens\. However, your messages resulted in (\d+) tokens\./.exec(
      body.error.message,
    );
  expect(match).not.toBeNull();
  return { tokens: Number(match![2]), limit: Number(match![1]) };
}

const CLIENTS: Client[] = ["anthropic", "openai-chat", "openai-responses", "gemini"];
const SMALL = ["small-claude", "small-gpt", "small-gemini", "small-responses"];

describe("a request that cannot fit its target's window is refused before sending", () => {
  const pairs = [...CLIENTS, "openai-completions" as const].flatMap((client) =>
    SMALL.map((model) => [client, model] as const),
  );
  test.each(pairs)(
    "%s client to %s: its own too-long error, both numbers, no upstream asked",
    async (client, model) => {
      const before = upstreamCalls();
      const response = await send(client, model, LONG);
      const numbers = tooLong(client, response.status, await bodyOf(response));
      expect(numbers.limit).toBe(1000);
      // The estimate: 2,000 words of English, o200k, give about 2,000 tokens.
      expect(numbers.tokens).toBeGreaterThan(1900);
      expect(numbers.tokens).toBeLessThan(2200);
      expect(response.headers.get("x-levity-context-check")).toBe("estimate");
      expect(response.headers.get("x-should-retry")).toBe("false");
      expect(upstreamCalls()).toBe(before);
    },
  );

  test("the SDKs read it as what it is: Anthropic's message, OpenAI's code, Gemini's 400", async () => {
    const refusedAnthropic = await anthropic.messages
      .create({ model: "small-gpt", max_tokens: 10, messages: [{ role: "user", content: LONG }] })
      .catch((error: unknown) => error);
    expect(refusedAnthropic).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refusedAnthropic as Error).message).toMatch(
      // Claude Code's own pattern, which makes it compact the conversation.
      /prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)/i,
    );
    const refusedOpenAI = await openai.chat.completions
      .create({ model: "small-claude", messages: [{ role: "user", content: LONG }] })
      .catch((error: unknown) => error);
    expect(refusedOpenAI).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refusedOpenAI as InstanceType<typeof OpenAI.BadRequestError>).code).toBe(
      "context_length_exceeded",
    );
    const refusedStream = await openai.responses
      .create({ model: "small-claude", input: LONG, stream: true })
      .catch((error: unknown) => error);
    expect((refusedStream as InstanceType<typeof OpenAI.BadRequestError>).code).toBe(
      "context_length_exceeded",
    );
    const refusedGemini = await genai.models
      .generateContent({ model: "small-claude", contents: LONG })
      .catch((error: unknown) => error);
    expect(refusedGemini).toBeInstanceOf(ApiError);
    expect((refusedGemini as ApiError).status).toBe(400);
    expect((refusedGemini as ApiError).message).toContain("exceeds the maximum number of tokens");
  });

  test("a conversation levity stored is counted whole: a short turn that continues a long one is refused", async () => {
    // The long first turn goes to a model levity knows no window of, and levity stores it.
    const first = await openai.responses.create({ model: "to-anthropic", input: LONG });
    const before = upstreamCalls();
    const response = await fetch(`${gw.origin}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "small-claude",
        previous_response_id: first.id,
        input: "and?",
      }),
    });
    const numbers = tooLong("openai-responses", response.status, await bodyOf(response));
    expect(numbers.limit).toBe(1000);
    expect(numbers.tokens).toBeGreaterThan(1900);
    expect(upstreamCalls()).toBe(before);
  });

  /** An Anthropic conversation whose assistant turns thought as given, the last one last. */
  const thoughtThrough = (...thoughts: string[]) =>
    fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "small-claude",
        max_tokens: 100,
        messages: [
          ...thoughts.flatMap((thinking, i) => [
            { role: "user", content: `question ${i}` },
            {
              role: "assistant",
              content: [
                { type: "thinking", thinking, signature: "" },
                { type: "text", text: `answer ${i}` },
              ],
            },
          ]),
          { role: "user", content: "thanks" },
        ],
      }),
    });

  test("earlier turns' thinking is not counted, as providers drop it: a session whose thoughts alone exceed the window goes through", async () => {
    const before = an.requests.length;
    const response = await thoughtThrough(LONG, "brief");
    expect(response.status).toBe(200);
    expect(an.requests.length).toBe(before + 1);
  });

  test("the last assistant turn's thinking is counted: it alone over the window is refused", async () => {
    const before = upstreamCalls();
    const response = await thoughtThrough("brief", LONG);
    expect(response.status).toBe(400);
    expect(upstreamCalls()).toBe(before);
  });

  test("a prompt that fits goes through", async () => {
    const response = await send("openai-chat", "small-claude", "a short question");
    expect(response.status).toBe(200);
    expect(an.last().json.model).toBe("claude-small");
  });

  test("a fallback target with a larger window serves instead, and the smaller is never asked", async () => {
    const before = an.requests.length;
    const response = await send("anthropic", "spill", LONG);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("gemini");
    expect(response.headers.get("x-mapped-model")).toBe("gemini-2.5-pro");
    expect(an.requests.length).toBe(before);
  });

  test("the built-in table holds a known model to its window (claude-sonnet-4-5: 200,000)", async () => {
    // 200,000 × 1.1 is the margin for a model whose tokenizer the estimate is not.
    const huge = "lorem ipsum dolor sit amet ".repeat(45_000);
    const before = an.requests.length;
    const response = await send("openai-chat", "big-claude", huge);
    const numbers = tooLong("openai-chat", response.status, await bodyOf(response));
    expect(numbers.limit).toBe(200_000);
    expect(numbers.tokens).toBeGreaterThan(220_000);
    expect(an.requests.length).toBe(before);
  });

  test("Anthropic's 1M context beta is honoured: the same prompt goes to the upstream", async () => {
    const huge = "lorem ipsum dolor sit amet ".repeat(45_000);
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-beta": "context-1m-2025-08-07" },
      body: JSON.stringify({
        model: "big-claude",
        max_tokens: 10,
        messages: [{ role: "user", content: huge }],
      }),
    });
    expect(response.status).toBe(200);
    expect(an.last().json.model).toBe("claude-sonnet-4-5");
  });

  test("a window the mapping gives is kept under the 1M beta: the operator's word wins", async () => {
    const before = upstreamCalls();
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-beta": "context-1m-2025-08-07" },
      body: JSON.stringify({
        model: "small-claude",
        max_tokens: 10,
        messages: [{ role: "user", content: LONG }],
      }),
    });
    expect(response.status).toBe(400);
    expect(upstreamCalls()).toBe(before);
  });
});

/* Each provider's own too-long error, as its API sends it. */
const UPSTREAM_WORDS = {
  anthropic: {
    status: 400,
    body: JSON.stringify({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "prompt is too long: 208310 tokens > 200000 maximum",
      },
    }),
    numbers: { tokens: 208_310, limit: 200_000 },
  },
  openai: {
    status: 400,
    body: JSON.stringify({
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 130217 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    }),
    numbers: { tokens: 130_217, limit: 128_000 },
  },
  gemini: {
    status: 400,
    body: JSON.stringify({
      error: {
        code: 400,
        message:
          "The input token count (1250000) exceeds the maximum number of tokens allowed (1048576).",
        status: "INVALID_ARGUMENT",
      },
    }),
    numbers: { tokens: 1_250_000, limit: 1_048_576 },
  },
};

describe("an upstream's own too-long error reaches a translated client in its own words", () => {
  const routes = [
    ["anthropic", "to-anthropic"],
    ["openai", "to-openai"],
    ["gemini", "to-gemini"],
  ] as const;
  const pairs = CLIENTS.flatMap((client) =>
    routes.map(([upstream, model]) => [client, upstream, model] as const),
  )
    // A client of the upstream's own dialect is forwarded: it gets the upstream's own body (below).
    .filter(
      ([client, upstream]) => !client.startsWith(upstream === "openai" ? "openai-chat" : upstream),
    );

  test.each(pairs)(
    "%s client, %s upstream: both numbers, asked once",
    async (client, upstream, model) => {
      const fake = { anthropic: an, openai: oa, gemini: ge }[upstream];
      const words = UPSTREAM_WORDS[upstream];
      fake.replyOnce({ status: words.status, body: words.body });
      const before = fake.requests.length;
      const response = await send(client, model, "a short question");
      expect(tooLong(client, response.status, await bodyOf(response))).toEqual(words.numbers);
      expect(response.headers.get("x-levity-context-check")).toBe("upstream");
      // Final: another account of the same model would refuse it the same.
      expect(fake.requests.length).toBe(before + 1);
      expect(response.headers.get("x-attempts")).toBe("1");
    },
  );

  test("OpenAI's Responses wording names no numbers: the window comes from levity's table", async () => {
    oa.replyOnce({
      status: 400,
      body: JSON.stringify({
        error: {
          message:
            "Your input exceeds the context window of this model. Please adjust your input and try again.",
          type: "invalid_request_error",
          param: "input",
          code: "context_length_exceeded",
        },
      }),
    });
    const response = await send("anthropic", "to-responses", "a short question");
    const body = (await bodyOf(response)) as any;
    expect(response.status).toBe(400);
    expect(body.error.message).toBe(
      "prompt is too long: it does not fit the model's context window of 272000 tokens",
    );
  });

  test("a Responses stream that fails with context_length_exceeded before any content: the same, asked once", async () => {
    const shell = { id: "resp_1", object: "response", model: "gpt-5", output: [] };
    const events = [
      ["response.created", { response: { ...shell, status: "in_progress" } }],
      [
        "response.failed",
        {
          response: {
            ...shell,
            status: "failed",
            error: {
              code: "context_length_exceeded",
              message:
                "Your input exceeds the context window of this model. Please adjust your input and try again.",
            },
          },
        },
      ],
    ] as const;
    oa.replyOnce({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: events
        .map(
          ([type, data], i) =>
            `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: i, ...data })}\n\n`,
        )
        .join(""),
    });
    const before = oa.requests.length;
    const refused = await anthropic.messages
      .create({
        model: "to-responses",
        max_tokens: 10,
        stream: true,
        messages: [{ role: "user", content: "a short question" }],
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as Error).message).toContain(
      "prompt is too long: it does not fit the model's context window of 272000 tokens",
    );
    expect(oa.requests.length).toBe(before + 1);
  });

  test("a same-dialect client gets the upstream's own body, as it was", async () => {
    an.replyOnce({ status: 400, body: UPSTREAM_WORDS.anthropic.body });
    const response = await send("anthropic", "to-anthropic", "a short question");
    expect(response.status).toBe(400);
    expect(await response.text()).toBe(UPSTREAM_WORDS.anthropic.body);
  });
});

describe("/v1/models says what each family can say of a model's limits", () => {
  test("OpenAI: context_window, context_length, max_output_tokens, input_modalities", async () => {
    const list = await openai.models.list();
    const byId = new Map(list.data.map((model) => [model.id, model as any]));
    expect(byId.get("small-gemini")).toMatchObject({
      context_window: 1000,
      context_length: 1000,
      max_output_tokens: 500,
      input_modalities: ["text"],
    });
    expect(byId.get("big-claude")).toMatchObject({
      context_window: 200_000,
      max_output_tokens: 64_000,
      input_modalities: ["text", "image", "pdf"],
    });
    expect(byId.get("gpt-5")).toMatchObject({ context_window: 272_000 });
    // A model levity knows nothing of says nothing, rather than a guess.
    expect(byId.get("gemini-real")?.context_window).toBeUndefined();
  });

  test("Anthropic: max_input_tokens and max_tokens, null where unknown", async () => {
    const page = await anthropic.models.list();
    const byId = new Map(page.data.map((model) => [model.id, model as any]));
    expect(byId.get("big-claude")).toMatchObject({ max_input_tokens: 200_000, max_tokens: 64_000 });
    expect(byId.get("small-claude")).toMatchObject({ max_input_tokens: 1000 });
    // From the fake Anthropic's own list, by the table.
    expect(byId.get("claude-sonnet-4-5-real")).toMatchObject({ max_input_tokens: 200_000 });
    expect(byId.get("claude-real")).toMatchObject({ max_input_tokens: null, max_tokens: null });
  });

  test("Gemini: inputTokenLimit and outputTokenLimit", async () => {
    const one = await genai.models.get({ model: "small-gemini" });
    expect(one.inputTokenLimit).toBe(1000);
    expect(one.outputTokenLimit).toBe(500);
    const pager = await genai.models.list();
    const all = [];
    for await (const model of pager) all.push(model);
    expect(all.find((m) => m.name === "models/to-anthropic")).toMatchObject({
      inputTokenLimit: 1_048_576,
    });
    expect(all.find((m) => m.name === "models/big-claude")).toMatchObject({
      inputTokenLimit: 200_000,
      outputTokenLimit: 64_000,
    });
  });
});

describe("count_tokens: the target's own endpoint with the translated body, else a marked estimate", () => {
  test("Anthropic client, Anthropic upstream: forwarded to count_tokens", async () => {
    const { data, response } = await anthropic.messages
      .countTokens({ model: "to-anthropic", messages: [{ role: "user", content: "count me" }] })
      .withResponse();
    expect(data.input_tokens).toBe(42);
    expect(response.headers.get("x-levity-token-count")).toBeNull();
    expect(an.last().path).toBe("/v1/messages/count_tokens");
    expect(an.last().json.model).toBe("claude-real");
  });

  test("Gemini client, Gemini upstream: forwarded to countTokens", async () => {
    const counted = await genai.models.countTokens({ model: "to-gemini", contents: "count me" });
    expect(counted.totalTokens).toBe(7);
    expect(ge.last().path).toBe("/v1beta/models/gemini-real:countTokens");
  });

  test("Anthropic client, Responses upstream: OpenAI's input_tokens with the translated body", async () => {
    const { data, response } = await anthropic.messages
      .countTokens({
        model: "to-responses",
        system: "be brief",
        messages: [{ role: "user", content: "count me" }],
      })
      .withResponse();
    expect(data.input_tokens).toBe(33);
    expect(response.headers.get("x-levity-token-count")).toBeNull();
    expect(oa.last().path).toBe("/v1/responses/input_tokens");
    expect(oa.last().json).toEqual({
      model: "gpt-5",
      instructions: "be brief",
      input: [
        { type: "message", role: "user", content: [{ type: "input_text", text: "count me" }] },
      ],
    });
  });

  test("Gemini client, Responses upstream: the same endpoint", async () => {
    const counted = await genai.models.countTokens({ model: "to-responses", contents: "count me" });
    expect(counted.totalTokens).toBe(33);
    expect(oa.last().path).toBe("/v1/responses/input_tokens");
  });

  test("Responses client (the SDK's inputTokens.count): forwarded, translated to Anthropic and Gemini, estimated for chat", async () => {
    const forwarded = await openai.responses.inputTokens.count({
      model: "to-responses",
      input: "count me",
    });
    expect(forwarded).toEqual({ object: "response.input_tokens", input_tokens: 33 });
    expect(oa.last().json.model).toBe("gpt-5");

    const toAnthropic = await openai.responses.inputTokens.count({
      model: "to-anthropic",
      input: "count me",
    });
    expect(toAnthropic).toEqual({ object: "response.input_tokens", input_tokens: 42 });
    expect(an.last().path).toBe("/v1/messages/count_tokens");

    const toGemini = await openai.responses.inputTokens.count({
      model: "to-gemini",
      input: "count me",
    });
    expect(toGemini.input_tokens).toBe(7);

    const { data, response } = await openai.responses.inputTokens
      .count({ model: "to-openai", input: "The quick brown fox jumps over the lazy dog." })
      .withResponse();
    expect(response.headers.get("x-levity-token-count")).toBe("estimate");
    expect(data.input_tokens).toBeGreaterThanOrEqual(10);
    expect(data.input_tokens).toBeLessThan(30);
  });

  test("a Responses server without input_tokens: an estimate, marked, and its Responses route still used", async () => {
    const noRoute = {
      status: 404,
      body: JSON.stringify({ detail: "Not Found" }),
      headers: { "content-type": "application/json" },
    };
    // Translated (an Anthropic client), then forwarded (a Responses client).
    oa.replyOnce(noRoute);
    const { data, response } = await anthropic.messages
      .countTokens({ model: "to-responses", messages: [{ role: "user", content: "count me" }] })
      .withResponse();
    expect(response.headers.get("x-levity-token-count")).toBe("estimate");
    expect(data.input_tokens).toBeGreaterThan(0);
    oa.replyOnce(noRoute);
    oa.replyOnce(noRoute);
    const forwarded = await openai.responses.inputTokens
      .count({ model: "to-responses", input: "count me" })
      .withResponse();
    expect(forwarded.response.status).toBe(200);
    expect(forwarded.response.headers.get("x-levity-token-count")).toBe("estimate");
    const answer = await openai.responses.create({ model: "to-responses", input: "still here" });
    expect(answer.output_text).toContain("still here");
    expect(oa.last().path).toBe("/v1/responses");
  });

  test("a count is never refused for its size: that is what a client counts to find out", async () => {
    const { data } = await anthropic.messages
      .countTokens({ model: "small-gpt", messages: [{ role: "user", content: LONG }] })
      .withResponse();
    expect(data.input_tokens).toBeGreaterThan(1900);
  });
});

describe("mappings.yaml: limits on a target", () => {
  function problems(mappings: string): string[] {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: upstreamsYaml([
        {
          name: "up",
          protocol: "openai",
          base_url: "http://127.0.0.1:9/v1",
          accounts: [{ name: "a", key: "sk-abcdefghijk" }],
        },
      ]),
      mappings,
    });
    try {
      loadConfig({ dir, env: {} });
    } catch (error) {
      if (error instanceof ConfigError)
        return error.problems.map((p) => `${p.line} ${p.key}: ${p.message}`);
      throw error;
    }
    return [];
  }

  test("the README's example loads", () => {
    const dir = tempDir();
    const upstream = (name: string, protocol: string) => ({
      name,
      protocol,
      base_url: "http://127.0.0.1:9",
      accounts: [{ name: "a", key: "sk-abcdefghijk" }],
    });
    writeConfig(dir, {
      gateway: upstreamsYaml([
        upstream("ollama", "openai"),
        upstream("anthropic", "anthropic"),
        upstream("gemini", "gemini"),
      ]),
      mappings: `exact:
  local: { target: ollama/qwen3:32b, context_window: 32768, max_output: 8192, modalities: [text] }
  smart: [{ target: anthropic/claude-sonnet-4-5, context_window: 1000000 }, gemini/gemini-2.5-pro]
`,
    });
    const loaded = loadConfig({ dir, env: {} });
    expect(loaded.mappings.exact.get("local")?.targets).toEqual([
      {
        upstream: "ollama",
        model: "qwen3:32b",
        limits: { contextWindow: 32_768, maxOutput: 8192, modalities: ["text"] },
      },
    ]);
    expect(loaded.mappings.exact.get("smart")?.targets[1]).toEqual({
      upstream: "gemini",
      model: "gemini-2.5-pro",
    });
  });

  test("a well-formed override loads, in a list too", () => {
    expect(
      problems(
        "exact:\n  a: { target: up/x, context_window: 8192, max_output: 1024, modalities: [text, image] }\n  b: [up/y, { target: up/z, context_window: 4096 }]\ndefault: { target: up/d, context_window: 100 }\n",
      ),
    ).toEqual([]);
  });

  test.each([
    [
      "exact:\n  a: { target: up/x, context_window: -5 }\n",
      "2 exact.a.context_window: must be at least 1",
    ],
    [
      "exact:\n  a: { target: up/x, context_window: 1.5 }\n",
      "2 exact.a.context_window: must be a whole number of tokens",
    ],
    [
      "exact:\n  a:\n    target: up/x\n    modalities: [text, smell]\n",
      "4 exact.a.modalities[1]: must each be one of text, image, pdf, audio, video",
    ],
    [
      "exact:\n  a: { target: up/x, window: 5 }\n",
      "2 exact.a.window: is not a known key (check its spelling)",
    ],
    [
      "exact:\n  a: { target: nowhere/x, context_window: 5 }\n",
      '2 exact.a: target "nowhere/x" names upstream "nowhere", which gateway.yaml does not define (upstreams: up)',
    ],
  ])("%p: %s", (mappings, expected) => {
    expect(problems(mappings)).toEqual([expected]);
  });
});

describe("levity resolve shows the window a target is held to", () => {
  test("from the table, from mappings.yaml, or nothing for a model levity does not know", async () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: upstreamsYaml([{ name: "one", protocol: "echo" }]),
      mappings:
        "exact:\n  a: one/claude-sonnet-4-5\n  b: { target: one/mine, context_window: 4096 }\n  c: one/mystery\n",
    });
    const out = async (model: string) =>
      (await runLevity(["resolve", model, "--config", dir])).stdout;
    expect(await out("a")).toContain(
      "  model claude-sonnet-4-5: 200,000 tokens in, 64,000 out; reads text, image, pdf (built-in table)\n",
    );
    expect(await out("b")).toContain("  model mine: 4,096 tokens in; reads text (mappings.yaml)\n");
    expect(await out("c")).not.toContain("  model ");
  });
});
