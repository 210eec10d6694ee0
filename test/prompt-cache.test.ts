import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { Database } from "bun:sqlite";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import { PromptCacheModel } from "./support/fake-prompt-cache.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { resetAccounts, startGateway, tempDir, type TestGateway } from "./support/gateway.ts";
import { parseMetrics, sample } from "./support/prometheus.ts";

/*
 * Prompt caching through levity: where Anthropic upstreams see cache breakpoints, the
 * prompt_cache_key OpenAI upstreams get, sticky accounts by the prompt's prefix, and cached input
 * in every dialect's own usage fields, never counted twice. The fake Anthropic keeps a prompt
 * cache per account (support/fake-prompt-cache.ts).
 */

const KEYS = { a1: "sk-an-a1", a2: "sk-an-a2", oa: "sk-oa-1", ge: "ge-key-1" };
let an: FakeUpstream;
let oa: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

const GATEWAY = () => `proxy:
  cooldown_wait: 0
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${an.url}
    strategy: sticky
    accounts:
      - { name: a1, key: ${KEYS.a1} }
      - { name: a2, key: ${KEYS.a2} }
  - name: an-off
    protocol: anthropic
    base_url: ${an.url}
    prompt_cache: { auto_breakpoints: false }
    accounts:
      - { name: a1, key: ${KEYS.a1} }
  - name: oa-chat
    protocol: openai
    base_url: ${oa.url}/v1
    profile: openai
    apis: [chat]
    accounts:
      - { name: o1, key: ${KEYS.oa} }
  - name: oa-resp
    protocol: openai
    base_url: ${oa.url}/v1
    profile: openai
    apis: [responses]
    wire_api: responses
    accounts:
      - { name: o1, key: ${KEYS.oa} }
  - name: oa-generic
    protocol: openai
    base_url: ${oa.url}/v1
    accounts:
      - { name: o1, key: ${KEYS.oa} }
  - name: oa-forced
    protocol: openai
    base_url: ${oa.url}/v1
    prompt_cache: { cache_key: true }
    accounts:
      - { name: o1, key: ${KEYS.oa} }
  - name: ge
    protocol: gemini
    base_url: ${ge.url}
    accounts:
      - { name: g1, key: ${KEYS.ge} }
`;

const MAPPINGS = `exact:
  claude: an/claude-sonnet-4-5-real
  claude-sonnet-4-5-real: an/claude-sonnet-4-5-real
  claude-off: an-off/claude-sonnet-4-5-real
  gpt-chat: oa-chat/gpt-4o-real
  gpt-resp: oa-resp/gpt-5-real
  gpt-generic: oa-generic/gpt-4o-real
  gpt-forced: oa-forced/gpt-4o-real
  gem: ge/gemini-real
`;

beforeAll(() => {
  an = fakeAnthropic([KEYS.a1, KEYS.a2], { promptCache: true });
  oa = fakeOpenAI(KEYS.oa);
  ge = fakeGemini(KEYS.ge);
  gw = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([an.stop(), oa.stop(), ge.stop()]);
});
afterEach(() => resetAccounts(gw.origin));

/** Where an Anthropic request carries cache_control: "tools.N", "system.N", "messages.M.N", with a TTL when set. */
function marks(body: any): string[] {
  const found: string[] = [];
  const scan = (list: unknown, at: string) => {
    if (!Array.isArray(list)) return;
    for (const [i, item] of list.entries()) {
      const control = item?.cache_control;
      if (control) found.push(`${at}.${i}${control.ttl ? `:${control.ttl}` : ""}`);
    }
  };
  scan(body.tools, "tools");
  scan(body.system, "system");
  for (const [i, m] of (body.messages ?? []).entries()) scan(m.content, `messages.${i}`);
  return found;
}

const schema = { type: "object", properties: { q: { type: "string" } }, required: ["q"] };
// A conversation of three user turns: the automatic marks go on the last tool, the system
// prompt, and the last two user turns (messages 2 and 4 in Anthropic's alternating list).
const AUTOMATIC = ["tools.1", "system.0", "messages.2.0", "messages.4.0"];

describe("breakpoints an Anthropic upstream sees", () => {
  test("OpenAI chat client: last tool, system, last two user turns", async () => {
    await openai.chat.completions.create({
      model: "claude",
      tools: [
        { type: "function", function: { name: "lookup", parameters: schema } },
        { type: "function", function: { name: "fetch_page", parameters: schema } },
      ],
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "first question" },
        { role: "assistant", content: "first answer" },
        { role: "user", content: "second question" },
        { role: "assistant", content: "second answer" },
        { role: "user", content: "third question" },
      ],
    });
    expect(marks(an.last().json)).toEqual(AUTOMATIC);
  });

  test("OpenAI Responses client, streamed through the SDK helper", async () => {
    const stream = openai.responses.stream({
      model: "claude",
      instructions: "You are terse.",
      tools: [
        { type: "function", name: "lookup", parameters: schema, strict: false },
        { type: "function", name: "fetch_page", parameters: schema, strict: false },
      ],
      input: [
        { role: "user", content: "first question" },
        { role: "assistant", content: "first answer" },
        { role: "user", content: "second question" },
        { role: "assistant", content: "second answer" },
        { role: "user", content: "third question" },
      ],
    });
    await stream.finalResponse();
    expect(marks(an.last().json)).toEqual(AUTOMATIC);
  });

  test("OpenAI completions client: its one prompt", async () => {
    await openai.completions.create({ model: "claude", prompt: "hello there", max_tokens: 30 });
    expect(marks(an.last().json)).toEqual(["messages.0.0"]);
  });

  test("Gemini client: last function, system instruction, last two user turns", async () => {
    await genai.models.generateContent({
      model: "claude",
      config: {
        systemInstruction: "You are terse.",
        tools: [
          {
            functionDeclarations: [
              { name: "lookup", parametersJsonSchema: schema },
              { name: "fetch_page", parametersJsonSchema: schema },
            ],
          },
        ],
      },
      contents: [
        { role: "user", parts: [{ text: "first question" }] },
        { role: "model", parts: [{ text: "first answer" }] },
        { role: "user", parts: [{ text: "second question" }] },
        { role: "model", parts: [{ text: "second answer" }] },
        { role: "user", parts: [{ text: "third question" }] },
      ],
    });
    expect(marks(an.last().json)).toEqual(AUTOMATIC);
  });

  test("an OpenAI chat client's own cache_control (OpenRouter's convention) goes as written, TTL included", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude",
        messages: [
          {
            role: "system",
            content: [
              {
                type: "text",
                text: "Long instructions.",
                cache_control: { type: "ephemeral", ttl: "1h" },
              },
            ],
          },
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          {
            role: "user",
            content: [
              { type: "text", text: "a document" },
              { type: "text", text: "second question", cache_control: { type: "ephemeral" } },
            ],
          },
        ],
      }),
    });
    expect(response.status).toBe(200);
    expect(marks(an.last().json)).toEqual(["system.0:1h", "messages.2.1"]);
  });

  test("a chat client's mark on a tool message marks the tool result", async () => {
    await openai.chat.completions.create({
      model: "claude",
      tools: [{ type: "function", function: { name: "lookup", parameters: schema } }],
      messages: [
        { role: "user", content: "look it up" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "lookup", arguments: '{"q":"x"}' },
            },
          ],
        },
        {
          role: "tool",
          tool_call_id: "call_1",
          content: [
            { type: "text", text: "found", cache_control: { type: "ephemeral" } },
          ] as unknown as string,
        },
      ],
    });
    expect(marks(an.last().json)).toEqual(["messages.2.0"]);
    expect(an.last().json.messages[2].content[0].type).toBe("tool_result");
  });

  test("more than Anthropic's four: the last four go, and Anthropic accepts them", async () => {
    const marked = (text: string) => [{ type: "text", text, cache_control: { type: "ephemeral" } }];
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude",
        messages: [
          { role: "system", content: marked("system") },
          { role: "user", content: marked("u0") },
          { role: "assistant", content: marked("a1") },
          { role: "user", content: marked("u2") },
          { role: "assistant", content: marked("a3") },
          { role: "user", content: marked("u4") },
        ],
      }),
    });
    expect(response.status).toBe(200);
    expect(marks(an.last().json)).toEqual([
      "messages.1.0",
      "messages.2.0",
      "messages.3.0",
      "messages.4.0",
    ]);
  });

  test("prompt_cache.auto_breakpoints: false on the upstream: none added", async () => {
    await openai.chat.completions.create({
      model: "claude-off",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "a question" },
      ],
    });
    expect(marks(an.last().json)).toEqual([]);
  });

  test("an Anthropic client's cache_control and the cache usage fields pass byte for byte", async () => {
    const sent = JSON.stringify({
      model: "claude-sonnet-4-5-real",
      max_tokens: 100,
      system: [
        { type: "text", text: "Cached instructions.", cache_control: { type: "ephemeral" } },
      ],
      messages: [
        {
          role: "user",
          content: [
            {
              type: "text",
              text: "same-dialect question",
              cache_control: { type: "ephemeral", ttl: "5m" },
            },
          ],
        },
      ],
    });
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: sent,
    });
    const text = await response.text();
    expect(an.last().text).toBe(sent);
    const usage = JSON.parse(text).usage;
    const expected = new PromptCacheModel().usage("k", JSON.parse(sent));
    expect(usage).toMatchObject(expected);
    expect(usage.cache_creation_input_tokens).toBeGreaterThan(0);
  });
});

/** The Anthropic fake's usage for each recorded request, replayed in order on a fresh cache. */
function replayedUsage(requests: { json: any; key: string }[]) {
  const model = new PromptCacheModel();
  return requests.map((r) => model.usage(r.key, r.json));
}

describe("a cached session's usage", () => {
  test("OpenAI chat client over Anthropic, plain and streamed: prompt_tokens has the cache in it, cached_tokens the reads", async () => {
    const first = an.requests.length;
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: `Session ${crypto.randomUUID()}: you are terse.` },
    ];
    const usages: OpenAI.CompletionUsage[] = [];
    for (const [turn, streamed] of [false, true, false, true].entries()) {
      messages.push({ role: "user", content: `question number ${turn}` });
      let reply: string;
      if (streamed) {
        const stream = openai.chat.completions.stream({
          model: "claude",
          messages,
          stream_options: { include_usage: true },
        });
        const done = await stream.finalChatCompletion();
        reply = done.choices[0]!.message.content ?? "";
        usages.push(done.usage!);
      } else {
        const done = await openai.chat.completions.create({ model: "claude", messages });
        reply = done.choices[0]!.message.content ?? "";
        usages.push(done.usage!);
      }
      messages.push({ role: "assistant", content: reply });
    }
    const recorded = an.requests.slice(first).map((r) => ({
      json: r.json,
      key: r.headers.get("x-api-key") ?? "",
    }));
    // One session, one account (sticky by the prompt's prefix).
    expect(new Set(recorded.map((r) => r.key)).size).toBe(1);
    const fake = replayedUsage(recorded);
    expect(fake[0]!.cache_creation_input_tokens).toBeGreaterThan(0);
    for (const later of fake.slice(1)) expect(later.cache_read_input_tokens).toBeGreaterThan(0);
    usages.forEach((usage, i) => {
      const f = fake[i]!;
      const prompt = f.input_tokens + f.cache_read_input_tokens + f.cache_creation_input_tokens;
      expect(usage.prompt_tokens).toBe(prompt);
      expect(usage.prompt_tokens_details?.cached_tokens).toBe(f.cache_read_input_tokens);
      expect(usage.total_tokens).toBe(prompt + usage.completion_tokens);
    });
  });
});

describe("prompt_cache_key for OpenAI upstreams", () => {
  const ask = async (model: string, system: string, turns: string[], user?: string) => {
    const messages: Anthropic.MessageParam[] = [];
    const keys: unknown[] = [];
    for (const text of turns) {
      messages.push({ role: "user", content: text });
      const done = await anthropic.messages.create({
        model,
        max_tokens: 50,
        system,
        messages,
        ...(user ? { metadata: { user_id: user } } : {}),
      });
      keys.push(oa.last().json.prompt_cache_key);
      messages.push({ role: "assistant", content: done.content });
    }
    return keys;
  };

  test("Anthropic client to chat: one key for a session's turns, another for another session", async () => {
    const one = await ask("gpt-chat", "session one", ["hi", "and then", "and more"]);
    const two = await ask("gpt-chat", "session two", ["hi", "and then"]);
    expect(one[0]).toMatch(/^levity-[A-Za-z0-9_-]{22}$/);
    expect(new Set(one).size).toBe(1);
    expect(new Set(two).size).toBe(1);
    expect(two[0]).not.toBe(one[0]);
  });

  test("from metadata.user_id: stable, and not the user id", async () => {
    const user = "user_4b1c_account_9_session_77";
    const keys = await ask("gpt-chat", "any", ["hi", "again"], user);
    expect(new Set(keys).size).toBe(1);
    expect(String(keys[0])).not.toContain("4b1c");
    const other = await ask("gpt-chat", "any", ["hi"], `${user}x`);
    expect(other[0]).not.toBe(keys[0]);
  });

  test("Anthropic client to the Responses wire, and Gemini client to chat", async () => {
    const keys = await ask("gpt-resp", "responses session", ["hi", "again"]);
    expect(oa.last().path).toBe("/v1/responses");
    expect(keys[0]).toMatch(/^levity-/);
    expect(new Set(keys).size).toBe(1);
    await genai.models.generateContent({
      model: "gpt-chat",
      config: { systemInstruction: "gemini session" },
      contents: "hi",
    });
    expect(oa.last().json.prompt_cache_key).toMatch(/^levity-/);
  });

  test("a Responses client's own prompt_cache_key is kept on the way to chat", async () => {
    await openai.responses.create({ model: "gpt-chat", input: "hi", prompt_cache_key: "conv-42" });
    expect(oa.last().path).toBe("/v1/chat/completions");
    expect(oa.last().json.prompt_cache_key).toBe("conv-42");
  });

  test("not to a provider not known to take it (generic profile)", async () => {
    await ask("gpt-generic", "generic", ["hi"]);
    expect(oa.last().json).not.toHaveProperty("prompt_cache_key");
  });

  test("to such a provider when its upstream says prompt_cache: { cache_key: true }", async () => {
    const keys = await ask("gpt-forced", "forced", ["hi"]);
    expect(keys[0]).toMatch(/^levity-/);
  });

  test("proxy.prompt_cache off: no key, no automatic breakpoints", async () => {
    const off = startGateway({
      gateway: GATEWAY().replace(
        "proxy:\n",
        "proxy:\n  prompt_cache: { cache_key: false, auto_breakpoints: false }\n",
      ),
      mappings: MAPPINGS,
    });
    try {
      const client = new Anthropic({ apiKey: "x", baseURL: off.origin, maxRetries: 0 });
      await client.messages.create({
        model: "gpt-chat",
        max_tokens: 20,
        system: "off",
        messages: [{ role: "user", content: "hi" }],
      });
      expect(oa.last().json).not.toHaveProperty("prompt_cache_key");
      const chat = new OpenAI({ apiKey: "x", baseURL: `${off.origin}/v1`, maxRetries: 0 });
      await chat.chat.completions.create({
        model: "claude",
        messages: [
          { role: "system", content: "off" },
          { role: "user", content: "hi" },
        ],
      });
      expect(marks(an.last().json)).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});

describe("sticky accounts by the prompt's cacheable prefix", () => {
  test("sessions with different prefixes spread; each session's turns stay on its account, reading its cache", async () => {
    const sessions = [0, 1, 2, 3].map((n) => ({
      system: `Prefix ${n} ${crypto.randomUUID()}`,
      messages: [] as OpenAI.ChatCompletionMessageParam[],
      accounts: [] as string[],
      cached: [] as number[],
    }));
    for (let turn = 0; turn < 3; turn++) {
      for (const s of sessions) {
        s.messages.push({ role: "user", content: `turn ${turn}` });
        const { data, response } = await openai.chat.completions
          .create({
            model: "claude",
            messages: [{ role: "system", content: s.system }, ...s.messages],
          })
          .withResponse();
        s.accounts.push(response.headers.get("x-account") ?? "");
        s.cached.push(data.usage?.prompt_tokens_details?.cached_tokens ?? 0);
        s.messages.push({ role: "assistant", content: data.choices[0]!.message.content ?? "" });
      }
    }
    for (const s of sessions) {
      expect(new Set(s.accounts).size).toBe(1);
      expect(s.cached[0]).toBe(0);
      expect(s.cached[1]).toBeGreaterThan(0);
      expect(s.cached[2]).toBeGreaterThan(0);
    }
    expect(new Set(sessions.map((s) => s.accounts[0]))).toEqual(new Set(["a1", "a2"]));
  });
});

describe("cached input in /metrics, the request log and the accounts view", () => {
  test("cache reads and writes are counted per account, with a hit ratio", async () => {
    const system = `Metrics session ${crypto.randomUUID()}`;
    const before = parseMetrics(await (await fetch(`${gw.origin}/metrics`)).text());
    const read = (families: typeof before, kind: string) =>
      sample(families, "levity_tokens_total", { upstream: "an", kind });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "system", content: system }];
    let written = 0;
    let cached = 0;
    let input = 0;
    for (const text of ["one", "two"]) {
      messages.push({ role: "user", content: text });
      const { data, response } = await openai.chat.completions
        .create({ model: "claude", messages })
        .withResponse();
      messages.push({ role: "assistant", content: data.choices[0]!.message.content ?? "" });
      cached += data.usage!.prompt_tokens_details!.cached_tokens!;
      input += data.usage!.prompt_tokens;
      const id = response.headers.get("x-request-id")!;
      const logs: any = await (await fetch(`${gw.origin}/levity/logs?limit=20`)).json();
      const record = logs.requests.find((r: any) => r.requestId === id);
      expect(record.cachedTokens).toBe(data.usage!.prompt_tokens_details!.cached_tokens);
      expect(record.inputTokens).toBe(data.usage!.prompt_tokens);
      written += record.cacheWriteTokens;
    }
    expect(cached).toBeGreaterThan(0);
    expect(written).toBeGreaterThan(0);
    const after = parseMetrics(await (await fetch(`${gw.origin}/metrics`)).text());
    expect(read(after, "cached") - read(before, "cached")).toBe(cached);
    expect(read(after, "cache_write") - read(before, "cache_write")).toBe(written);
    expect(read(after, "input") - read(before, "input")).toBe(input);
    const ratio = after.get("levity_prompt_cache_hit_ratio")!.metrics;
    const accounts = ((await (await fetch(`${gw.origin}/levity/accounts`)).json()) as any).accounts;
    for (const account of accounts.filter((a: any) => a.upstream === "an" && a.tokens.input > 0)) {
      const series = ratio.find(
        (m) => m.labels?.upstream === "an" && m.labels?.account === account.account,
      );
      expect(Number(series?.value)).toBeCloseTo(account.tokens.cached / account.tokens.input, 6);
      expect(account.tokens.cacheWrite).toBeGreaterThan(0);
    }
  });
});

/*
 * Every client dialect against every upstream dialect, plain and streamed: each upstream reports
 * a prompt of 100 tokens of which 80 were read from its cache (and, for Anthropic, 5 written),
 * in its own fields; each client must read the same in its own, counted once.
 */
const TEXT = "cached answer";
const sse = (events: [string | undefined, object][]) =>
  events
    .map(([name, data]) => `${name ? `event: ${name}\n` : ""}data: ${JSON.stringify(data)}\n\n`)
    .join("");

const ANTHROPIC_USAGE = {
  input_tokens: 15,
  cache_creation_input_tokens: 5,
  cache_read_input_tokens: 80,
};
const anthropicMessage = {
  id: "msg_u1",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-5-real",
  content: [{ type: "text", text: TEXT }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { ...ANTHROPIC_USAGE, output_tokens: 7 },
};
// Anthropic splits a stream's usage: the input on message_start, the output on message_delta.
const anthropicStream = sse([
  [
    "message_start",
    {
      type: "message_start",
      message: {
        ...anthropicMessage,
        content: [],
        stop_reason: null,
        usage: { ...ANTHROPIC_USAGE, output_tokens: 1 },
      },
    },
  ],
  [
    "content_block_start",
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  ],
  [
    "content_block_delta",
    { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: TEXT } },
  ],
  ["content_block_stop", { type: "content_block_stop", index: 0 }],
  [
    "message_delta",
    {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 7 },
    },
  ],
  ["message_stop", { type: "message_stop" }],
]);

const chatUsage = {
  prompt_tokens: 100,
  completion_tokens: 7,
  total_tokens: 107,
  prompt_tokens_details: { cached_tokens: 80, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
};
const chatHead = {
  id: "chatcmpl-u1",
  created: 1_700_000_000,
  model: "gpt-4o-real",
  system_fingerprint: "fp_u",
};
const chatCompletion = {
  ...chatHead,
  object: "chat.completion",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: TEXT, refusal: null },
      logprobs: null,
      finish_reason: "stop",
    },
  ],
  usage: chatUsage,
};
const chunk = (choices: object[], usage: object | null = null) => [
  undefined,
  { ...chatHead, object: "chat.completion.chunk", choices, usage },
];
const chatStream = `${sse([
  chunk([{ index: 0, delta: { role: "assistant", content: TEXT }, finish_reason: null }]),
  chunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
  chunk([], chatUsage),
] as [undefined, object][])}data: [DONE]\n\n`;

const responseItem = {
  type: "message",
  id: "msg_u1",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", text: TEXT, annotations: [] }],
};
const responseObject = (status: string, output: object[], usage: object | null) => ({
  id: "resp_u1",
  object: "response",
  created_at: 1_700_000_000,
  status,
  model: "gpt-5-real",
  output,
  usage,
});
const responsesUsage = {
  input_tokens: 100,
  input_tokens_details: { cached_tokens: 80 },
  output_tokens: 7,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 107,
};
const responsesStream = sse(
  (
    [
      ["response.created", { response: responseObject("in_progress", [], null) }],
      ["response.in_progress", { response: responseObject("in_progress", [], null) }],
      [
        "response.output_item.added",
        { output_index: 0, item: { ...responseItem, status: "in_progress", content: [] } },
      ],
      [
        "response.content_part.added",
        {
          item_id: "msg_u1",
          output_index: 0,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [] },
        },
      ],
      [
        "response.output_text.delta",
        { item_id: "msg_u1", output_index: 0, content_index: 0, delta: TEXT, logprobs: [] },
      ],
      [
        "response.output_text.done",
        { item_id: "msg_u1", output_index: 0, content_index: 0, text: TEXT, logprobs: [] },
      ],
      [
        "response.content_part.done",
        {
          item_id: "msg_u1",
          output_index: 0,
          content_index: 0,
          part: { type: "output_text", text: TEXT, annotations: [] },
        },
      ],
      ["response.output_item.done", { output_index: 0, item: responseItem }],
      [
        "response.completed",
        { response: responseObject("completed", [responseItem], responsesUsage) },
      ],
    ] as [string, object][]
  ).map(([type, data], sequence_number) => [type, { type, sequence_number, ...data }]),
);

const geminiAnswer = {
  candidates: [
    { content: { role: "model", parts: [{ text: TEXT }] }, finishReason: "STOP", index: 0 },
  ],
  usageMetadata: {
    promptTokenCount: 100,
    cachedContentTokenCount: 80,
    candidatesTokenCount: 7,
    totalTokenCount: 107,
  },
  modelVersion: "gemini-real",
};

type UpstreamName = "anthropic" | "chat" | "responses" | "gemini";
const UPSTREAMS: Record<
  UpstreamName,
  { model: string; fake: () => FakeUpstream; plain: string; stream: string }
> = {
  anthropic: {
    model: "claude",
    fake: () => an,
    plain: JSON.stringify(anthropicMessage),
    stream: anthropicStream,
  },
  chat: {
    model: "gpt-chat",
    fake: () => oa,
    plain: JSON.stringify(chatCompletion),
    stream: chatStream,
  },
  responses: {
    model: "gpt-resp",
    fake: () => oa,
    plain: JSON.stringify(responseObject("completed", [responseItem], responsesUsage)),
    stream: responsesStream,
  },
  gemini: {
    model: "gem",
    fake: () => ge,
    plain: JSON.stringify(geminiAnswer),
    stream: `data: ${JSON.stringify(geminiAnswer)}\r\n\r\n`,
  },
};

type ClientName = "chat" | "responses" | "completions" | "anthropic" | "gemini";
/** Each client's usage as its SDK hands it over, plain or through its stream helper. */
const CLIENTS: Record<ClientName, (model: string, stream: boolean) => Promise<unknown>> = {
  async chat(model, stream) {
    const messages = [{ role: "user" as const, content: "usage please" }];
    if (!stream) return (await openai.chat.completions.create({ model, messages })).usage;
    const s = openai.chat.completions.stream({
      model,
      messages,
      stream_options: { include_usage: true },
    });
    return (await s.finalChatCompletion()).usage;
  },
  async responses(model, stream) {
    if (!stream) return (await openai.responses.create({ model, input: "usage please" })).usage;
    return (await openai.responses.stream({ model, input: "usage please" }).finalResponse()).usage;
  },
  async completions(model, stream) {
    if (!stream)
      return (await openai.completions.create({ model, prompt: "usage please", max_tokens: 20 }))
        .usage;
    let usage: unknown;
    const chunks = await openai.completions.create({
      model,
      prompt: "usage please",
      max_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const c of chunks) usage = c.usage ?? usage;
    return usage;
  },
  async anthropic(model, stream) {
    const request = {
      model,
      max_tokens: 50,
      messages: [{ role: "user" as const, content: "usage please" }],
    };
    if (!stream) return (await anthropic.messages.create(request)).usage;
    return (await anthropic.messages.stream(request).finalMessage()).usage;
  },
  async gemini(model, stream) {
    if (!stream)
      return (await genai.models.generateContent({ model, contents: "usage please" }))
        .usageMetadata;
    let usage: unknown;
    for await (const c of await genai.models.generateContentStream({
      model,
      contents: "usage please",
    }))
      usage = c.usageMetadata ?? usage;
    return usage;
  },
};

/** What each client must read, given how many of the 100 prompt tokens the upstream wrote to its cache. */
function expectedUsage(client: ClientName, written: number): object {
  switch (client) {
    case "chat":
      return {
        prompt_tokens: 100,
        completion_tokens: 7,
        total_tokens: 107,
        prompt_tokens_details: expect.objectContaining({ cached_tokens: 80 }),
      };
    case "responses":
      return {
        input_tokens: 100,
        output_tokens: 7,
        total_tokens: 107,
        input_tokens_details: { cached_tokens: 80 },
      };
    case "completions":
      return { prompt_tokens: 100, completion_tokens: 7, total_tokens: 107 };
    case "anthropic":
      return {
        input_tokens: 100 - 80 - written,
        cache_read_input_tokens: 80,
        cache_creation_input_tokens: written,
        output_tokens: 7,
      };
    case "gemini":
      return {
        promptTokenCount: 100,
        cachedContentTokenCount: 80,
        candidatesTokenCount: 7,
        totalTokenCount: 107,
      };
  }
}

const PAIRS = (Object.keys(CLIENTS) as ClientName[]).flatMap((client) =>
  (Object.keys(UPSTREAMS) as UpstreamName[]).flatMap((upstream) =>
    [false, true].map((stream) => [client, upstream, stream] as const),
  ),
);

describe("cached input in each dialect's own fields, counted once", () => {
  test.each(PAIRS)("%s client, %s upstream, streamed: %p", async (client, upstream, stream) => {
    const u = UPSTREAMS[upstream];
    u.fake().replyOnce({
      status: 200,
      body: stream ? u.stream : u.plain,
      headers: stream ? { "content-type": "text/event-stream" } : {},
    });
    const usage = await CLIENTS[client](u.model, stream);
    expect(usage).toMatchObject(expectedUsage(client, upstream === "anthropic" ? 5 : 0));
  });
});

describe("odd cache_control from a client", () => {
  test("a mark that is not Anthropic's shape is ignored, an unknown TTL is left to the default", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude",
        messages: [
          { role: "system", content: [{ type: "text", text: "s", cache_control: "yes" }] },
          {
            role: "user",
            content: [{ type: "text", text: "q", cache_control: { type: "ephemeral", ttl: "2h" } }],
          },
          { role: "assistant", content: "a" },
          { role: "user", content: "q2", cache_control: { type: "ephemeral" } },
        ],
      }),
    });
    expect(response.status).toBe(200);
    // The message-level mark (LiteLLM's convention) marks the message's last part.
    expect(marks(an.last().json)).toEqual(["messages.0.0", "messages.2.0"]);
  });
});

describe("a request log written before cache writes were counted", () => {
  test("gains the column: its rows read 0, new rows their cache writes", async () => {
    const dir = tempDir("levity-oldlog-");
    // The requests table as levity created it before cache_write_tokens, with one row.
    const old = new Database(join(dir, "requests.db"), { create: true });
    old.exec(`CREATE TABLE requests (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, request_id TEXT NOT NULL,
      client_key TEXT, method TEXT NOT NULL, route TEXT NOT NULL, unmatched INTEGER NOT NULL, dialect TEXT,
      requested_model TEXT, mapped_model TEXT, upstream TEXT, account TEXT, attempts INTEGER NOT NULL,
      status INTEGER NOT NULL, stream INTEGER NOT NULL, latency_ms REAL NOT NULL, ttfb_ms REAL NOT NULL,
      input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
      reasoning_tokens INTEGER NOT NULL, error TEXT, request_body TEXT, response_body TEXT);
      CREATE INDEX requests_time ON requests (time);
      INSERT INTO requests (time, request_id, method, route, unmatched, attempts, status, stream, latency_ms,
        ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
      VALUES (${Date.now() - 1000}, 'req-old', 'POST', '/v1/messages', 0, 1, 200, 0, 1, 1, 10, 2, 3, 0);`);
    old.close();
    const logged = startGateway({
      gateway: `${GATEWAY().replace("proxy:\n", `proxy:\n  data_dir: ${dir}\n  request_log: { flush_ms: 20 }\n`)}`,
      mappings: MAPPINGS,
    });
    try {
      const client = new OpenAI({ apiKey: "x", baseURL: `${logged.origin}/v1`, maxRetries: 0 });
      const { response } = await client.chat.completions
        .create({
          model: "claude",
          messages: [{ role: "user", content: `old log ${crypto.randomUUID()}` }],
        })
        .withResponse();
      const id = response.headers.get("x-request-id");
      const records = ((await (await fetch(`${logged.origin}/levity/logs`)).json()) as any)
        .requests as any[];
      expect(records.find((r) => r.requestId === "req-old")).toMatchObject({
        cachedTokens: 3,
        cacheWriteTokens: 0,
      });
      expect(records.find((r) => r.requestId === id).cacheWriteTokens).toBeGreaterThan(0);
    } finally {
      await logged.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
