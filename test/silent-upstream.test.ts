import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream, ScriptedReply } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  resetAccounts,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * Silent reasoning: an upstream that sends nothing for longer than proxy.timeouts.commit_deadline
 * (0.3 s here, keep-alives every 0.1 s) gets its client's stream committed anyway, with the
 * client dialect's keep-alive until content comes; for every client dialect, forwarded and
 * translated, before and after the upstream's headers. The fakes hold their answer until the test
 * has seen keep-alives arrive (quietOnce), so nothing here waits on a clock.
 */

const KEYS = {
  openai: ["sk-oa-1", "sk-oa-2"],
  anthropic: ["sk-an-1", "sk-an-2"],
  gemini: ["ge-1", "ge-2"],
};
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;

const accounts = (keys: string[]) => keys.map((key, i) => ({ name: `a${i + 1}`, key }));

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({
    gateway:
      "proxy:\n  cooldown_wait: 0\n  timeouts: { commit_deadline: 0.3, keepalive_interval: 0.1 }\n" +
      upstreamsYaml([
        {
          name: "openai",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: accounts(KEYS.openai),
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: an.url,
          accounts: accounts(KEYS.anthropic),
        },
        { name: "gemini", protocol: "gemini", base_url: ge.url, accounts: accounts(KEYS.gemini) },
      ]) +
      // fill_first: the first account answers first, so a test knows which one a script reaches.
      "",
    mappings:
      "exact:\n  to-openai: openai/gpt-real\n  to-anthropic: anthropic/claude-real\n  to-gemini: gemini/gemini-real\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
});
afterEach(() => resetAccounts(gw.origin));

const FAKES = () => ({ openai: oa, anthropic: an, gemini: ge });
type Upstream = "openai" | "anthropic" | "gemini";
type Client = "chat" | "responses" | "completions" | "anthropic" | "gemini-sse" | "gemini-array";

const PROMPT = "Reply with exactly this text and nothing else: silent-ok";
const PING = 'event: ping\ndata: {"type": "ping"}\n\n';
const COMMENT = ": keep-alive\n\n";
const KEEP_ALIVE: Record<Client, string> = {
  chat: COMMENT,
  responses: COMMENT,
  completions: COMMENT,
  anthropic: PING,
  "gemini-sse": COMMENT,
  "gemini-array": "\n",
};

/** The raw streaming request a client of each dialect sends for `model`. */
function request(client: Client, model: string): { path: string; body: unknown } {
  switch (client) {
    case "chat":
      return {
        path: "/v1/chat/completions",
        body: { model, stream: true, messages: [{ role: "user", content: PROMPT }] },
      };
    case "responses":
      return { path: "/v1/responses", body: { model, stream: true, input: PROMPT } };
    case "completions":
      return { path: "/v1/completions", body: { model, stream: true, prompt: PROMPT } };
    case "anthropic":
      return {
        path: "/v1/messages",
        body: {
          model,
          max_tokens: 100,
          stream: true,
          messages: [{ role: "user", content: PROMPT }],
        },
      };
    case "gemini-sse":
    case "gemini-array":
      return {
        path: `/v1beta/models/${model}:streamGenerateContent${client === "gemini-sse" ? "?alt=sse" : ""}`,
        body: { contents: [{ role: "user", parts: [{ text: PROMPT }] }] },
      };
  }
}

/** The client's own upstream: the same dialect, forwarded byte for byte. */
const OWN: Record<Client, Upstream> = {
  chat: "openai",
  responses: "openai",
  completions: "openai",
  anthropic: "anthropic",
  "gemini-sse": "gemini",
  "gemini-array": "gemini",
};
/** Another dialect's upstream, through the IR. */
const OTHER: Record<Client, Upstream> = {
  chat: "anthropic",
  responses: "gemini",
  completions: "gemini",
  anthropic: "gemini",
  "gemini-sse": "anthropic",
  "gemini-array": "openai",
};
const CLIENTS = Object.keys(OWN) as Client[];

/** A streamed body read as it comes: what has arrived so far, and reading on until a condition holds. */
function bodyReader(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let done = false;
  return {
    text: () => text,
    async until(what: string, holds: (text: string) => boolean): Promise<string> {
      while (!holds(text)) {
        if (done) throw new Error(`the stream ended before ${what}: ${JSON.stringify(text)}`);
        const read = await reader.read();
        if (read.done) done = true;
        else text += decoder.decode(read.value, { stream: true });
      }
      return text;
    },
    async rest(): Promise<string> {
      await this.until("its end", () => done);
      return text;
    },
    cancel: () => reader.cancel(),
  };
}

/** How many keep-alives lead the text, and what follows them. */
function afterKeepAlives(text: string, keepAlive: string): { count: number; rest: string } {
  let count = 0;
  while (text.startsWith(keepAlive, count * keepAlive.length)) count++;
  return { count, rest: text.slice(count * keepAlive.length) };
}

async function send(client: Client, upstream: Upstream): Promise<Response> {
  const { path, body } = request(client, `to-${upstream}`);
  return fetch(`${gw.origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const ROWS = CLIENTS.flatMap((client) => [
  [client, OWN[client], "forwarded"] as const,
  [client, OTHER[client], "translated"] as const,
]);

describe("an upstream silent past the commit deadline", () => {
  for (const headers of [false, true]) {
    test.each(ROWS)(
      `%s client, %s upstream (%s), ${headers ? "after its headers" : "before its headers"}: keep-alives, then the answer`,
      async (client, upstream, path) => {
        const fake = FAKES()[upstream];
        const before = fake.requests.length;
        const quiet = fake.quietOnce({ headers });
        const response = await send(client, upstream);
        // The status and headers came while the upstream had sent nothing of its answer.
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toContain(
          client === "gemini-array" ? "application/json" : "text/event-stream",
        );
        const body = bodyReader(response);
        const keepAlive = KEEP_ALIVE[client];
        await body.until(
          "three keep-alives",
          (text) => afterKeepAlives(text, keepAlive).count >= 3,
        );
        // Nothing but whole keep-alives so far.
        expect(afterKeepAlives(body.text(), keepAlive).rest).toBe("");
        quiet.release();
        const { count, rest } = afterKeepAlives(await body.rest(), keepAlive);
        expect(count).toBeGreaterThanOrEqual(3);
        expect(rest).toContain("silent-ok");
        // A forwarded stream is the upstream's bytes, untouched, after the keep-alives.
        if (path === "forwarded") expect(rest).toBe(fake.lastStreamBody());
        if (client === "gemini-array")
          expect(JSON.parse(await body.text()).at(-1).candidates[0].finishReason).toBe("STOP");
        expect(fake.requests.length).toBe(before + 1);
      },
    );
  }
});
