import Anthropic from "@anthropic-ai/sdk";
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import OpenAI from "openai";
import { ECHO_ACCOUNT } from "../src/config/load.ts";
import type { Upstream } from "../src/config/snapshot.ts";
import type { Failure } from "../src/failure.ts";
import { AccountPool } from "../src/pool/pool.ts";
import { memoryStore } from "../src/state/store.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { restartGateway, startGateway, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { readChatStream } from "./support/chat-stream.ts";
import { resettingFront } from "./support/resetting-front.ts";

// The account pool: each test has its own gateway in front of fake upstreams that hold several
// account keys and are scripted per key, and asserts on what the fakes received.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});

interface PoolSetup {
  gw: TestGateway;
  oa: FakeUpstream;
  openai: OpenAI;
  keys: () => string[];
}

function accountsYaml(names: string[], extra = ""): string {
  return names.map((name) => `      - { name: ${name}, key: sk-${name}${extra} }`).join("\n");
}

/** An OpenAI upstream with accounts a, b (and more), round robin unless told otherwise. */
function openaiPool(
  options: { accounts?: string[]; upstream?: string; proxy?: string; mappings?: string } = {},
): PoolSetup {
  const names = options.accounts ?? ["a", "b"];
  const oa = fakeOpenAI(names.map((n) => `sk-${n}`));
  const gw = startGateway({
    gateway: `proxy:\n${options.proxy ?? "  cooldown_wait: 0\n"}upstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n${options.upstream ?? ""}    accounts:\n${accountsYaml(names)}\n`,
    mappings: options.mappings,
  });
  cleanup.push(
    () => oa.stop(),
    () => gw.stop(),
  );
  return {
    gw,
    oa,
    openai: new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 }),
    keys: () => oa.keysSeen().map((k) => k.replace(/^sk-/, "")),
  };
}

const ask = (setup: PoolSetup, extra: Record<string, unknown> = {}) =>
  fetch(`${setup.gw.origin}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra }),
  });

const accounts = async (setup: PoolSetup) =>
  (await bodyOf(await fetch(`${setup.gw.origin}/levity/accounts`))).accounts as any[];

/** The account each of `count` requests, one after another, went to. */
async function spread(
  setup: PoolSetup,
  count: number,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${setup.gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        model: "m",
        messages: [{ role: "user", content: `q${i}` }],
        ...extra,
      }),
    });
    seen.push(response.headers.get("x-account")!);
    await response.text();
  }
  return seen;
}

const sse = (...events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("");
const chunk = (delta: object, finish: string | null = null) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "m",
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const SSE_HEADERS = { "content-type": "text/event-stream" };
const openaiError = (message: string, type = "server_error") =>
  JSON.stringify({ error: { message, type, param: null, code: null } });

const RETRYABLE: {
  name: string;
  stream?: boolean;
  reply: { status: number; body: string; headers?: Record<string, string> };
  kind: string;
}[] = [
  {
    name: "429",
    reply: {
      status: 429,
      body: openaiError("Rate limit reached", "requests"),
      headers: { "retry-after": "30" },
    },
    kind: "rate_limit",
  },
  { name: "500", reply: { status: 500, body: openaiError("internal") }, kind: "server" },
  {
    name: "502",
    reply: {
      status: 502,
      body: "<html>Bad Gateway</html>",
      headers: { "content-type": "text/html" },
    },
    kind: "server",
  },
  { name: "503", reply: { status: 503, body: openaiError("overloaded") }, kind: "server" },
  { name: "504", reply: { status: 504, body: openaiError("timeout") }, kind: "server" },
  { name: "529", reply: { status: 529, body: openaiError("overloaded") }, kind: "server" },
  {
    name: "a 200 whose body is an error",
    reply: { status: 200, body: openaiError("model overloaded") },
    kind: "server",
  },
  {
    name: "a 200 whose body is not JSON",
    reply: {
      status: 200,
      body: "<html>maintenance</html>",
      headers: { "content-type": "text/html" },
    },
    kind: "broken",
  },
  {
    name: "an empty answer (0 tokens)",
    reply: {
      status: 200,
      body: JSON.stringify({
        id: "c",
        object: "chat.completion",
        created: 1,
        model: "m",
        choices: [{ index: 0, message: { role: "assistant", content: "" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 },
      }),
    },
    kind: "empty",
  },
  {
    name: "a stream whose first event is an error",
    stream: true,
    reply: {
      status: 200,
      headers: SSE_HEADERS,
      body: sse({
        error: { message: "overloaded", type: "server_error", param: null, code: null },
      }),
    },
    kind: "server",
  },
  {
    name: "a stream that ends with no content",
    stream: true,
    reply: {
      status: 200,
      headers: SSE_HEADERS,
      body: `${sse(chunk({ role: "assistant", content: "" }), chunk({}, "stop"))}data: [DONE]\n\n`,
    },
    kind: "empty",
  },
  {
    name: "a stream cut before its first content",
    stream: true,
    reply: {
      status: 200,
      headers: SSE_HEADERS,
      body: sse(chunk({ role: "assistant", content: "" })),
    },
    kind: "broken",
  },
];

describe("retryable failures are answered by another account and cost the bad one a single attempt", () => {
  test.each(RETRYABLE)("$name", async ({ stream, reply, kind }) => {
    const setup = openaiPool();
    setup.oa.replyOnce(reply, "sk-a");
    const first = await ask(setup, stream ? { stream: true } : {});
    expect(first.status).toBe(200);
    expect(first.headers.get("x-account")).toBe("b");
    expect(first.headers.get("x-attempts")).toBe("2");
    const text = await first.text();
    expect(text).toContain(stream ? `"content":"pong "` : "pong from m: hi");
    // a is cooling now: the next request goes straight to b, without trying a again.
    const second = await ask(setup);
    expect(second.headers.get("x-account")).toBe("b");
    expect(second.headers.get("x-attempts")).toBe("1");
    await second.text();
    expect(setup.keys()).toEqual(["a", "b", "b"]);
    const a = (await accounts(setup)).find((x) => x.account === "a");
    expect(a.state).toBe("cooling");
    expect(a.lastError).toBeDefined();
    expect(kind === "rate_limit" ? Object.keys(a.modelCooldowns) : [a.coolingUntil]).toHaveLength(
      1,
    );
  });

  test("a timeout before the first byte is answered by another account, and the slow one is abandoned", async () => {
    const setup = openaiPool({ upstream: "    timeouts: { first_byte: 1 }\n" });
    const abandoned = setup.oa.stallOnce("sk-a");
    const response = await ask(setup);
    expect(response.headers.get("x-account")).toBe("b");
    expect(response.headers.get("x-attempts")).toBe("2");
    await abandoned;
  });

  test("a connection reset before any answer is answered by another account", async () => {
    const oa = fakeOpenAI(["sk-a", "sk-b"]);
    const front = await resettingFront(oa.url, (head) =>
      /authorization: Bearer sk-a\r\n/i.test(head),
    );
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${front.url}/v1\n    accounts:\n      - { name: a, key: sk-a }\n      - { name: b, key: sk-b }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => front.stop(),
      () => gw.stop(),
    );
    const setup = { gw, oa, openai: undefined as never, keys: () => [] };
    const first = await ask(setup);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-account")).toBe("b");
    expect(first.headers.get("x-attempts")).toBe("2");
    expect(front.resets()).toBe(1);
    expect(gw.log.lines.some((line) => line.includes("ECONNRESET"))).toBe(true);
    expect(await spread(setup, 2)).toEqual(["b", "b"]);
    expect(front.resets()).toBe(1);
    expect((await accounts(setup)).find((x) => x.account === "a").state).toBe("cooling");
  });

  test("a stream that goes quiet before its first content (timeouts.idle) is answered by another account", async () => {
    const setup = openaiPool({ upstream: "    timeouts: { idle: 1 }\n" });
    const held = setup.oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "" }))}\n\n`,
      "sk-a",
    );
    const response = await ask(setup, { stream: true });
    expect(response.headers.get("x-account")).toBe("b");
    expect(await response.text()).toContain(`"content":"pong "`);
    await held.aborted;
    expect(setup.gw.log.lines.some((line) => line.includes("timeouts.idle"))).toBe(true);
  });

  test("an answer that outlasts timeouts.total before its first content is answered by another account", async () => {
    const setup = openaiPool({ upstream: "    timeouts: { total: 1 }\n" });
    const held = setup.oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "" }))}\n\n`,
      "sk-a",
    );
    const response = await ask(setup, { stream: true });
    expect(response.headers.get("x-account")).toBe("b");
    await response.text();
    await held.aborted;
    expect(setup.gw.log.lines.some((line) => line.includes("timeouts.total"))).toBe(true);
  });

  test("an account whose cooldown has ended serves again", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      {
        status: 429,
        body: openaiError("slow down", "requests"),
        headers: { "retry-after-ms": "300" },
      },
      "sk-a",
    );
    await (await ask(setup)).text();
    const until = Date.parse(
      (await accounts(setup)).find((x) => x.account === "a").modelCooldowns.m,
    );
    // Time must pass for a cooldown to end; this waits for that, not for another task.
    await Bun.sleep(Math.max(0, until - Date.now()) + 20);
    const keysBefore = setup.keys().length;
    const responses = await Promise.all([ask(setup), ask(setup)]);
    expect(responses.map((r) => r.headers.get("x-account")).sort()).toEqual(["a", "b"]);
    expect(setup.keys().slice(keysBefore).sort()).toEqual(["a", "b"]);
  });

  test("retries go through translation too: an Anthropic client, an OpenAI upstream", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce({ status: 503, body: openaiError("overloaded") }, "sk-a");
    const anthropic = new Anthropic({ apiKey: "x", baseURL: setup.gw.origin, maxRetries: 0 });
    const { data, response } = await anthropic.messages
      .create({ model: "m", max_tokens: 32, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(data.content[0]).toMatchObject({ type: "text", text: "pong from m: hi" });
    expect(response.headers.get("x-account")).toBe("b");
    expect(response.headers.get("x-attempts")).toBe("2");
  });
});

describe("cooldowns follow the upstream's own hint", () => {
  const later = (seconds: number) => new Date(Date.now() + seconds * 1000);
  // Headers are made when each test runs: a date hint is relative to then.
  const HINTS: [string, () => Record<string, string>, number][] = [
    ["Retry-After seconds", () => ({ "retry-after": "7" }), 7],
    ["Retry-After as an HTTP date", () => ({ "retry-after": later(20).toUTCString() }), 20],
    ["retry-after-ms", () => ({ "retry-after-ms": "2500" }), 2.5],
    [
      "OpenAI's x-ratelimit-reset-requests for a used-up limit",
      () => ({
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "2s",
      }),
      360,
    ],
    [
      "Anthropic's anthropic-ratelimit-*-reset for a used-up limit",
      () => ({
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": later(45).toISOString(),
      }),
      45,
    ],
  ];

  test.each(HINTS)("%s", async (_name, headers, seconds) => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      { status: 429, body: openaiError("slow down", "requests"), headers: headers() },
      "sk-a",
    );
    await (await ask(setup)).text();
    const until = Date.parse(
      (await accounts(setup)).find((x) => x.account === "a").modelCooldowns.m,
    );
    expect((until - Date.now()) / 1000).toBeGreaterThan(seconds - 1.5);
    expect((until - Date.now()) / 1000).toBeLessThanOrEqual(seconds + 0.5);
  });

  test("Gemini's RetryInfo.retryDelay in the error body", async () => {
    const ge = fakeGemini(["ge-a", "ge-b"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: ge\n    protocol: gemini\n    base_url: ${ge.url}\n    accounts:\n      - { name: a, key: ge-a }\n      - { name: b, key: ge-b }\n`,
    });
    cleanup.push(
      () => ge.stop(),
      () => gw.stop(),
    );
    ge.replyOnce(
      {
        status: 429,
        body: JSON.stringify({
          error: {
            code: 429,
            message: "Quota exceeded",
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "33s" }],
          },
        }),
      },
      "ge-a",
    );
    const response = await fetch(`${gw.origin}/v1beta/models/gemini-x:generateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }),
    });
    expect(response.headers.get("x-account")).toBe("b");
    const a = (await bodyOf(await fetch(`${gw.origin}/levity/accounts`))).accounts.find(
      (x: any) => x.account === "a",
    );
    expect((Date.parse(a.modelCooldowns["gemini-x"]) - Date.now()) / 1000).toBeGreaterThan(31);
  });

  test("without a hint, a rate limit backs off from 5 s and an error from 2 s, growing with each failure in a row", async () => {
    const setup = openaiPool({ accounts: ["a"], upstream: "    max_attempts: 1\n" });
    setup.oa.replyOnce({ status: 429, body: openaiError("slow down", "requests") });
    await (await ask(setup)).text();
    const first = (await accounts(setup))[0];
    const rateLimited = (Date.parse(first.modelCooldowns.m) - Date.now()) / 1000;
    expect(rateLimited).toBeGreaterThan(3.5);
    expect(rateLimited).toBeLessThanOrEqual(6);
    // A 503 on another model, one failure later in a row: 2 s doubled, ±20%.
    setup.oa.replyOnce({ status: 503, body: openaiError("overloaded") });
    await (await ask(setup, { model: "other" })).text();
    const second = (await accounts(setup))[0];
    expect(second.consecutiveFailures).toBe(2);
    const errored = (Date.parse(second.coolingUntil) - Date.now()) / 1000;
    expect(errored).toBeGreaterThan(2.8);
    expect(errored).toBeLessThanOrEqual(4.8);
  });
});

describe("an account whose credit is spent", () => {
  const cooling = (account: any) => (Date.parse(account.coolingUntil) - Date.now()) / 1000;

  test("OpenAI's 429 insufficient_quota rotates, and cools the whole account for minutes, not seconds", async () => {
    const setup = openaiPool();
    const spent = {
      error: {
        message: "You exceeded your current quota, please check your plan and billing details.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota",
      },
    };
    setup.oa.replyOnce({ status: 429, body: JSON.stringify(spent) }, "sk-a");
    expect((await ask(setup)).headers.get("x-account")).toBe("b");
    const a = (await accounts(setup)).find((x) => x.account === "a");
    // 5 min ±20%, for every model: another model does not reach a either.
    expect(cooling(a)).toBeGreaterThan(239);
    expect(cooling(a)).toBeLessThanOrEqual(361);
    expect(await spread(setup, 2, { model: "another" })).toEqual(["b", "b"]);
  });

  test("Anthropic's 402 billing_error rotates too, on a translated request", async () => {
    const an = fakeAnthropic(["sk-an-a", "sk-an-b"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: an\n    protocol: anthropic\n    base_url: ${an.url}\n    strategy: fill_first\n    accounts:\n      - { name: a, key: sk-an-a }\n      - { name: b, key: sk-an-b }\n`,
    });
    cleanup.push(
      () => an.stop(),
      () => gw.stop(),
    );
    an.replyOnce(
      {
        status: 402,
        body: JSON.stringify({
          type: "error",
          error: {
            type: "billing_error",
            message: "Your credit balance is too low to access the Anthropic API.",
          },
        }),
      },
      "sk-an-a",
    );
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "claude-x", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-account")).toBe("b");
    const a = (await bodyOf(await fetch(`${gw.origin}/levity/accounts`))).accounts.find(
      (x: any) => x.account === "a",
    );
    expect(cooling(a)).toBeGreaterThan(239);
    expect(gw.log.lines.some((line) => line.includes("account an/a is out of credit"))).toBe(true);
  });
});

describe("when no account can serve", () => {
  test("all cooling: a 429 in the client's own shape with Retry-After set to the soonest recovery", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      { status: 429, body: openaiError("slow down", "requests"), headers: { "retry-after": "40" } },
      "sk-a",
    );
    setup.oa.replyOnce(
      { status: 429, body: openaiError("slow down", "requests"), headers: { "retry-after": "25" } },
      "sk-b",
    );
    const first = await ask(setup);
    expect(first.status).toBe(429);
    expect(first.headers.get("x-attempts")).toBe("2");
    await first.text();
    const anthropic = await fetch(`${setup.gw.origin}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({
        model: "m",
        max_tokens: 8,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    expect(anthropic.status).toBe(429);
    expect(anthropic.headers.get("retry-after")).toBe("25");
    expect(anthropic.headers.get("x-attempts")).toBe("0");
    const body = await bodyOf(anthropic);
    expect(body).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(body.error.message).toContain("2 cooling");
    expect(setup.keys()).toEqual(["a", "b"]);
  });

  test("a recovery within cooldown_wait is waited for instead of refused", async () => {
    const setup = openaiPool({
      accounts: ["a"],
      proxy: "  cooldown_wait: 5\n",
      upstream: "    max_attempts: 1\n",
    });
    setup.oa.replyOnce({
      status: 429,
      body: openaiError("slow down", "requests"),
      headers: { "retry-after-ms": "400" },
    });
    expect((await ask(setup)).status).toBe(429);
    const started = performance.now();
    const waited = await ask(setup);
    expect(waited.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThan(250);
  });

  test("errors the client must fix go to it at once, and the account is not blamed", async () => {
    for (const [status, body] of [
      [400, openaiError("Invalid 'messages[0].content'", "invalid_request_error")],
      [
        404,
        JSON.stringify({
          error: {
            message: "The model `m` does not exist",
            type: "invalid_request_error",
            param: null,
            code: "model_not_found",
          },
        }),
      ],
      [413, openaiError("Request too large", "invalid_request_error")],
    ] as const) {
      const setup = openaiPool();
      setup.oa.replyOnce({ status, body }, "sk-a");
      const response = await ask(setup);
      expect(response.status).toBe(status);
      expect(response.headers.get("x-attempts")).toBe("1");
      expect(await response.text()).toBe(body);
      expect(setup.keys()).toEqual(["a"]);
      expect((await accounts(setup)).every((x) => x.state === "healthy")).toBe(true);
    }
  });

  test("a 401 disables the account with its reason, rotates, and never reaches the client", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      {
        status: 401,
        body: JSON.stringify({
          error: {
            message: "Incorrect API key provided",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        }),
      },
      "sk-a",
    );
    const first = await ask(setup);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-account")).toBe("b");
    for (let i = 0; i < 3; i++) expect((await ask(setup)).headers.get("x-account")).toBe("b");
    const a = (await accounts(setup)).find((x) => x.account === "a");
    expect(a.state).toBe("disabled");
    expect(a.disabledReason).toContain("401: Incorrect API key provided");
    expect(setup.gw.log.lines.some((line) => line.includes("account oa/a disabled"))).toBe(true);
  });

  test("when every account's key is refused the client gets a 503 that says so, not a 401", async () => {
    const setup = openaiPool();
    for (const key of ["sk-a", "sk-b"])
      setup.oa.replyOnce(
        { status: 403, body: openaiError("Your account is not active", "invalid_request_error") },
        key,
      );
    const response = await setup.openai.chat.completions
      .create({ model: "m", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e);
    expect(response.status).toBe(503);
    expect(response.message).toContain("refused the key of its account");
    const again = await ask(setup);
    expect(again.status).toBe(503);
    expect((await bodyOf(again)).error.message).toContain("a: the upstream refused its key (403");
  });

  test("max_attempts caps the tries, however many accounts there are", async () => {
    const setup = openaiPool({ accounts: ["a", "b", "c"], upstream: "    max_attempts: 2\n" });
    for (const key of ["sk-a", "sk-b", "sk-c"])
      setup.oa.replyOnce({ status: 503, body: openaiError("overloaded") }, key);
    const response = await ask(setup);
    expect(response.status).toBe(503);
    expect(response.headers.get("x-attempts")).toBe("2");
    // A same-dialect client gets the last upstream's own error body.
    expect((await bodyOf(response)).error.message).toBe("overloaded");
    expect(setup.keys()).toHaveLength(2);
  });
});

describe("the commit point", () => {
  test("after the first content has gone to the client, a break is an error event in its dialect, not a retry", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      {
        status: 200,
        headers: SSE_HEADERS,
        body: sse(chunk({ role: "assistant", content: "" }), chunk({ content: "half an " })),
      },
      "sk-a",
    );
    const stream = await setup.openai.chat.completions.create({
      model: "m",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    const { text, error } = await readChatStream(stream);
    expect(text).toBe("half an ");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.message).toContain("broke off its stream");
    expect(setup.keys()).toEqual(["a"]);
  });

  test("a translated stream that breaks after the commit: an Anthropic client gets an error event", async () => {
    const setup = openaiPool();
    setup.oa.replyOnce(
      {
        status: 200,
        headers: SSE_HEADERS,
        body: sse(chunk({ role: "assistant", content: "" }), chunk({ content: "half" })),
      },
      "sk-a",
    );
    const anthropic = new Anthropic({ apiKey: "x", baseURL: setup.gw.origin, maxRetries: 0 });
    const stream = anthropic.messages.stream({
      model: "m",
      max_tokens: 32,
      messages: [{ role: "user", content: "hi" }],
    });
    let text = "";
    stream.on("text", (t) => (text += t));
    const error = await stream.finalMessage().catch((e) => e);
    expect(text).toBe("half");
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(setup.keys()).toEqual(["a"]);
  });
});

describe("a client that leaves", () => {
  test("mid-stream on a translated request: the upstream request is aborted and the account is not blamed", async () => {
    const setup = openaiPool();
    const held = setup.oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "partial " }))}\n\n`,
      "sk-a",
    );
    const controller = new AbortController();
    const response = await fetch(`${setup.gw.origin}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({
        model: "m",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "hang" }],
      }),
      signal: controller.signal,
    });
    expect(response.headers.get("x-account")).toBe("a");
    const reader = response.body!.getReader();
    let seen = "";
    while (!seen.includes("partial")) seen += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await held.aborted;
    // The lease ends when the gateway notices; the next request sees a blameless, idle account.
    await (await ask(setup)).text();
    const a = (await accounts(setup)).find((x) => x.account === "a");
    expect(a).toMatchObject({ state: "healthy", failures: 0, inFlight: 0 });
  });
});

describe("the commit point for same-dialect streams", () => {
  test("an error event the upstream sends after content reaches the client once, as the upstream wrote it", async () => {
    const setup = openaiPool();
    const upstreamError = {
      error: { message: "overloaded mid-answer", type: "server_error", param: null, code: null },
    };
    setup.oa.replyOnce(
      {
        status: 200,
        headers: SSE_HEADERS,
        body: sse(
          chunk({ role: "assistant", content: "" }),
          chunk({ content: "part" }),
          upstreamError,
        ),
      },
      "sk-a",
    );
    const body = await (await ask(setup, { stream: true })).text();
    expect(body.split("\n\n").filter((event) => event.includes('"error"'))).toEqual([
      `data: ${JSON.stringify(upstreamError)}`,
    ]);
  });
});

describe("selection", () => {
  test("round_robin spreads in proportion to weight", async () => {
    const oa = fakeOpenAI(["sk-a", "sk-b"]);
    const gw = startGateway({
      gateway: `upstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: sk-a, weight: 2 }\n      - { name: b, key: sk-b }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    const seen = await spread({ gw, oa, openai: undefined as never, keys: () => [] }, 6);
    expect(seen).toEqual(["a", "b", "a", "a", "b", "a"]);
  });

  test("fill_first uses the first healthy account until it cools", async () => {
    const setup = openaiPool({ upstream: "    strategy: fill_first\n" });
    expect(await spread(setup, 3)).toEqual(["a", "a", "a"]);
    setup.oa.replyOnce({ status: 503, body: openaiError("overloaded") }, "sk-a");
    expect(await spread(setup, 2)).toEqual(["b", "b"]);
  });

  test("sticky keeps a conversation on its account, and moves it (and keeps it there) when that account cools", async () => {
    const setup = openaiPool({ upstream: "    strategy: sticky\n" });
    const one = { "x-levity-session": "conversation-1" };
    const two = { "x-levity-session": "conversation-2" };
    const first = await spread(setup, 3, {}, one);
    expect(new Set(first).size).toBe(1);
    const other = await spread(setup, 2, {}, two);
    expect(other[0]).not.toBe(first[0]);
    setup.oa.replyOnce(
      { status: 429, body: openaiError("slow down", "requests"), headers: { "retry-after": "60" } },
      `sk-${first[0]}`,
    );
    const moved = await spread(setup, 3, {}, one);
    expect(moved).toEqual([other[0]!, other[0]!, other[0]!]);
  });

  test("sticky without a session header keys on the user, or on the conversation's opening", async () => {
    const setup = openaiPool({ upstream: "    strategy: sticky\n" });
    const byUser = await spread(setup, 3, { user: "alice" });
    expect(new Set(byUser).size).toBe(1);
    const opening = [
      { role: "system", content: "you are a poet" },
      { role: "user", content: "write" },
    ];
    const turns: string[] = [];
    for (const extra of [
      [],
      [
        { role: "assistant", content: "a poem" },
        { role: "user", content: "another" },
      ],
    ]) {
      const response = await ask(setup, { messages: [...opening, ...extra] });
      turns.push(response.headers.get("x-account")!);
    }
    expect(turns[0]).toBe(turns[1]);
  });

  test("least_busy sends the next request to the account with fewer in flight", async () => {
    const setup = openaiPool({ upstream: "    strategy: least_busy\n" });
    const held = setup.oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "busy " }))}\n\n`,
    );
    const busy = await ask(setup, { stream: true });
    const busyAccount = busy.headers.get("x-account");
    // One after another: round robin would alternate, least_busy keeps away from the busy account.
    const next = [await ask(setup), await ask(setup)];
    expect(next.map((r) => r.headers.get("x-account"))).toEqual([
      busyAccount === "a" ? "b" : "a",
      busyAccount === "a" ? "b" : "a",
    ]);
    held.release(`data: ${JSON.stringify(chunk({}, "stop"))}\n\ndata: [DONE]\n\n`);
    await busy.text();
  });

  test("a Responses conversation stored upstream goes back to the account that stored it, whatever the strategy", async () => {
    const setup = openaiPool({ upstream: "    apis: [chat, responses]\n" });
    const { data: first, response: firstResponse } = await setup.openai.responses
      .create({ model: "m", input: "one" })
      .withResponse();
    const holder = firstResponse.headers.get("x-account")!;
    // Streamed, and continued twice: round robin alone would send the second turn to the other account, which answers 404.
    const stream = setup.openai.responses.stream({
      model: "m",
      input: "two",
      previous_response_id: first.id,
    });
    const second = await stream.finalResponse();
    const third = await setup.openai.responses
      .create({ model: "m", input: "three", previous_response_id: second.id })
      .withResponse();
    expect(third.response.headers.get("x-account")).toBe(holder);
    expect(third.data.output_text).toBe("pong from m: three");
    expect(setup.keys()).toEqual([holder, holder, holder]);
    // store: false keeps nothing upstream, so nothing ties the next request to an account.
    await setup.openai.responses.create({ model: "m", input: "four", store: false });
    expect(await spread(setup, 2)).toHaveLength(2);
    expect(new Set(setup.keys()).size).toBe(2);
  });

  test("max_concurrency keeps a busy account out of the rotation", async () => {
    const oa = fakeOpenAI(["sk-a", "sk-b"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    strategy: fill_first\n    accounts:\n      - { name: a, key: sk-a, max_concurrency: 1 }\n      - { name: b, key: sk-b, max_concurrency: 1 }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    const setup = { gw, oa, openai: undefined as never, keys: () => [] };
    const heldA = oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "a " }))}\n\n`,
    );
    const heldB = oa.holdOnce(
      `data: ${JSON.stringify(chunk({ role: "assistant", content: "b " }))}\n\n`,
    );
    const first = await ask(setup, { stream: true });
    const second = await ask(setup, { stream: true });
    expect([first.headers.get("x-account"), second.headers.get("x-account")]).toEqual(["a", "b"]);
    const third = await ask(setup);
    expect(third.status).toBe(429);
    expect((await bodyOf(third)).error.message).toContain("max_concurrency");
    const end = `data: ${JSON.stringify(chunk({}, "stop"))}\n\ndata: [DONE]\n\n`;
    heldA.release(end);
    heldB.release(end);
    await Promise.all([first.text(), second.text()]);
    expect((await ask(setup)).status).toBe(200);
  });

  test("rpm keeps an account out for the rest of its minute", async () => {
    const oa = fakeOpenAI(["sk-a", "sk-b"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    strategy: fill_first\n    accounts:\n      - { name: a, key: sk-a, rpm: 2 }\n      - { name: b, key: sk-b }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    expect(await spread({ gw, oa, openai: undefined as never, keys: () => [] }, 4)).toEqual([
      "a",
      "a",
      "b",
      "b",
    ]);
  });

  test("an account's models: list decides which models it serves, so mixed pools work", async () => {
    const oa = fakeOpenAI(["sk-a", "sk-b"]);
    const gw = startGateway({
      gateway: `upstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: sk-a, models: ["gpt-*"] }\n      - { name: b, key: sk-b, models: ["o3*", "o4-mini"] }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    const setup = { gw, oa, openai: undefined as never, keys: () => [] };
    expect(await spread(setup, 2, { model: "gpt-4o" })).toEqual(["a", "a"]);
    expect(await spread(setup, 2, { model: "o3-mini" })).toEqual(["b", "b"]);
    const none = await ask(setup, { model: "claude-x" });
    expect(none.status).toBe(503);
    expect((await bodyOf(none)).error.message).toContain('serves model "claude-x"');
  });
});

describe("fallback targets", () => {
  test("when every account of the first target is exhausted, the next serves and X-Mapped-Model says which", async () => {
    const oa = fakeOpenAI(["sk-a"]);
    const an = fakeAnthropic(["sk-an"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: sk-a }\n  - name: an\n    protocol: anthropic\n    base_url: ${an.url}\n    accounts:\n      - { name: c, key: sk-an }\n`,
      mappings: "exact:\n  smart: [oa/gpt-4o-real, an/claude-real]\n",
    });
    cleanup.push(
      () => oa.stop(),
      () => an.stop(),
      () => gw.stop(),
    );
    oa.replyOnce({ status: 503, body: openaiError("overloaded") });
    const openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
    const { data, response } = await openai.chat.completions
      .create({ model: "smart", messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("pong from claude-real: hi");
    expect(response.headers.get("x-mapped-model")).toBe("claude-real");
    expect(response.headers.get("x-upstream")).toBe("an");
    expect(response.headers.get("x-attempts")).toBe("2");
    // The first target is cooling now: the fallback answers at once.
    const again = await openai.chat.completions
      .create({ model: "smart", messages: [{ role: "user", content: "again" }] })
      .withResponse();
    expect(again.response.headers.get("x-attempts")).toBe("1");
    expect(oa.requests).toHaveLength(1);
  });

  test("an upstream that refuses connections falls through to the next target", async () => {
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const deadPort = dead.port;
    await dead.stop(true);
    const oa = fakeOpenAI(["sk-a"]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: dead\n    protocol: openai\n    base_url: http://127.0.0.1:${deadPort}/v1\n    accounts:\n      - { name: x, key: sk-x }\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: sk-a }\n`,
      mappings: "default: [dead/m, oa/m]\n",
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "anything", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("oa");
    expect(gw.log.lines.some((line) => line.includes("ECONNREFUSED"))).toBe(true);
  });
});

describe("state across a restart", () => {
  test("a cooldown survives a restart; an expired one does not; a disabled account stays disabled until its key changes", async () => {
    const setup = openaiPool({ accounts: ["a", "b", "c"] });
    setup.oa.replyOnce(
      {
        status: 429,
        body: openaiError("slow down", "requests"),
        headers: { "retry-after": "120" },
      },
      "sk-a",
    );
    setup.oa.replyOnce(
      { status: 401, body: openaiError("bad key", "invalid_request_error") },
      "sk-b",
    );
    setup.oa.replyOnce(
      { status: 503, body: openaiError("overloaded"), headers: { "retry-after-ms": "50" } },
      "sk-c",
    );
    // a: 429 -> b: 401 -> c: 503 (50 ms) -> no account left.
    await (await ask(setup)).text();
    // Allow the restarted gateway to wait out a short cooldown, so c's 50 ms need not be over yet.
    const config = `${setup.gw.dir}/gateway.yaml`;
    await Bun.write(
      config,
      (await Bun.file(config).text()).replace("cooldown_wait: 0", "cooldown_wait: 2"),
    );
    const restarted = await restartGateway(setup.gw);
    cleanup.push(() => restarted.stop());
    const states = Object.fromEntries(
      ((await bodyOf(await fetch(`${restarted.origin}/levity/accounts`))).accounts as any[]).map(
        (x) => [x.account, x],
      ),
    );
    expect(states.a.state).toBe("cooling");
    expect(Date.parse(states.a.modelCooldowns.m) - Date.now()).toBeGreaterThan(100_000);
    expect(states.b).toMatchObject({ state: "disabled" });
    expect(states.b.disabledReason).toContain("401");
    // c's cooldown was 50 ms, not a backoff: within cooldown_wait, it serves.
    const response = await fetch(`${restarted.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(response.headers.get("x-account")).toBe("c");
    // A new key for b (the fix) starts b afresh.
    await Bun.write(
      `${restarted.dir}/gateway.yaml`,
      (await Bun.file(`${restarted.dir}/gateway.yaml`).text()).replace("key: sk-b", "key: sk-a"),
    );
    const fixed = await restartGateway(restarted);
    cleanup.push(() => fixed.stop());
    const b = (
      (await bodyOf(await fetch(`${fixed.origin}/levity/accounts`))).accounts as any[]
    ).find((x) => x.account === "b");
    expect(b.state).toBe("healthy");
  });
});

describe("visibility", () => {
  test("the accounts endpoint needs the admin key, and shows state, counts and tokens but never a key", async () => {
    const oa = fakeOpenAI(["sk-upstream-a"]);
    const gw = startGateway({
      gateway: `proxy:\n  api_key: sk-client-key-1\n  admin_key: sk-admin-key-1\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: sk-upstream-a }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    await (
      await fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
      })
    ).text();
    expect((await fetch(`${gw.origin}/levity/accounts`)).status).toBe(401);
    expect(
      (
        await fetch(`${gw.origin}/levity/accounts`, {
          headers: { authorization: "Bearer sk-client-key-1" },
        })
      ).status,
    ).toBe(401);
    const response = await fetch(`${gw.origin}/levity/accounts`, {
      headers: { authorization: "Bearer sk-admin-key-1" },
    });
    const text = await response.text();
    expect(text).not.toContain("sk-upstream-a");
    expect(JSON.parse(text).accounts[0]).toMatchObject({
      upstream: "oa",
      account: "a",
      state: "healthy",
      inFlight: 0,
      requests: 1,
      failures: 0,
      tokens: { input: 9, output: 4 },
    });
  });

  test("client keys never open the admin surface: with no admin_key, auth on refuses every key", async () => {
    const statusWith = async (gw: TestGateway, key?: string) =>
      (
        await fetch(`${gw.origin}/levity/accounts`, {
          headers: key ? { authorization: `Bearer ${key}` } : {},
        })
      ).status;
    const withApiKey = startGateway({
      gateway:
        "proxy:\n  auth_mode: strict\n  api_key: sk-client-key-1\n  api_keys:\n    - { name: laptop, key: sk-laptop-key-1 }\n",
    });
    const withAdmin = startGateway({
      gateway:
        "proxy:\n  auth_mode: strict\n  api_key: sk-client-key-1\n  admin_key: sk-admin-key-1\n",
    });
    cleanup.push(
      () => withApiKey.stop(),
      () => withAdmin.stop(),
    );
    expect([
      await statusWith(withApiKey),
      await statusWith(withApiKey, "sk-laptop-key-1"),
      await statusWith(withApiKey, "sk-client-key-1"),
    ]).toEqual([403, 403, 403]);
    expect([
      await statusWith(withAdmin),
      await statusWith(withAdmin, "sk-client-key-1"),
      await statusWith(withAdmin, "sk-admin-key-1"),
    ]).toEqual([401, 401, 200]);
  });

  test("an upstream that quotes the key it refused: the key reaches no client, no log and no accounts view", async () => {
    const keys = ["sk-live-alpha-0123456789", "sk-live-beta-9876543210"];
    const oa = fakeOpenAI(keys);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    strategy: fill_first\n    accounts:\n      - { name: a, key: ${keys[0]} }\n      - { name: b, key: ${keys[1]} }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    const quoting = (key: string, status: number) => ({
      status,
      body: JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${key}.`,
          type: "invalid_request_error",
          param: null,
          code: "invalid_api_key",
        },
      }),
    });
    // A 400 the client must fix goes to it as the upstream wrote it, except for the key (fill_first: a answers).
    oa.replyOnce(
      {
        status: 400,
        body: openaiError(`'messages' is empty (request from ${keys[0]})`, "invalid_request_error"),
      },
      keys[0],
    );
    const final = await (await ask({ gw, oa, openai: undefined as never, keys: () => [] })).text();
    expect(final).toContain("'messages' is empty (request from [account key])");
    // Both keys refused: the 503, the logs and the accounts view name the accounts, not the keys.
    for (const key of keys) oa.replyOnce(quoting(key, 401), key);
    const refused = await (
      await ask({ gw, oa, openai: undefined as never, keys: () => [] })
    ).text();
    expect(refused).toContain("refused the key of its account");
    const view = await (await fetch(`${gw.origin}/levity/accounts`)).text();
    expect(view).toContain("[account key]");
    for (const text of [final, refused, view, gw.log.lines.join("\n")])
      for (const key of keys) expect(text).not.toContain(key);
  });

  test("a key quoted after the commit point, in a translated stream's error event: not in the client's stream, the log or the accounts view", async () => {
    const key = "sk-live-gamma-0123456789";
    const oa = fakeOpenAI([key]);
    const gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: a, key: ${key} }\n`,
    });
    cleanup.push(
      () => oa.stop(),
      () => gw.stop(),
    );
    oa.replyOnce(
      {
        status: 200,
        headers: SSE_HEADERS,
        body: sse(chunk({ role: "assistant", content: "" }), chunk({ content: "half" }), {
          error: {
            message: `the quota of ${key} ran out mid-answer`,
            type: "server_error",
            code: 500,
          },
        }),
      },
      key,
    );
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "m",
        max_tokens: 32,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const streamed = await response.text();
    expect(streamed).toContain("half");
    expect(streamed).toContain("the quota of [account key] ran out mid-answer");
    const view = await (await fetch(`${gw.origin}/levity/accounts`)).text();
    expect(view).toContain("the quota of [account key] ran out");
    for (const text of [streamed, view, gw.log.lines.join("\n")]) expect(text).not.toContain(key);
  });
});

// Echo's failures are asked for by name (echo-error-<status>); the pool itself never lets one
// cool or disable echo, nor stores anything about it, whoever reports the failure.
describe("the echo account in the pool", () => {
  const echo: Upstream = {
    name: "echo",
    protocol: "echo",
    baseUrl: "",
    strategy: "round_robin",
    maxAttempts: 1,
    timeouts: { connect: 1, firstByte: 1, idle: 1, total: 1, commitDeadline: 1, keepAlive: 1 },
    accounts: [ECHO_ACCOUNT],
  };

  test("a refused key, a rate limit, spent credit or a server error leaves echo free at once, and nothing is stored", () => {
    const store = memoryStore();
    const pool = new AccountPool(store, { accountChanged() {} });
    const failures: Failure[] = [
      { kind: "auth", status: 401, message: "simulated" },
      { kind: "rate_limit", status: 429, message: "simulated", hintMs: 60_000 },
      { kind: "quota", status: 402, message: "simulated" },
      { kind: "server", status: 500, message: "simulated" },
    ];
    for (const failure of failures) {
      const acquired = pool.tryAcquire(echo, "m", {}, new Set());
      if (acquired.kind !== "lease")
        throw new Error(`echo unavailable after a simulated failure: ${JSON.stringify(acquired)}`);
      acquired.lease.finish({ ok: false, failure });
    }
    expect(pool.tryAcquire(echo, "m", {}, new Set()).kind).toBe("lease");
    expect(pool.view([echo])[0]).toMatchObject({
      state: "healthy",
      consecutiveFailures: 0,
      modelCooldowns: {},
    });
    pool.reset([echo]);
    expect(store.accounts()).toEqual([]);
  });

  test("a record stored for echo (by an older levity) is not restored", () => {
    const store = memoryStore();
    store.saveAccount({
      upstream: "echo",
      account: "echo",
      keyDigest: createHash("sha256").update(ECHO_ACCOUNT.key).digest("hex"),
      cooldownUntil: Date.now() + 60_000,
      modelCooldowns: {},
      consecutiveFailures: 3,
      disabledReason: "refused",
    });
    const pool = new AccountPool(store, { accountChanged() {} });
    expect(pool.tryAcquire(echo, "m", {}, new Set()).kind).toBe("lease");
  });
});
