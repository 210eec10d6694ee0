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
        // An upstream's own deadline, over proxy.timeouts: the same fake Gemini, given longer.
        { name: "patient", protocol: "gemini", base_url: ge.url, accounts: accounts(KEYS.gemini) },
      ]) +
      "    timeouts: { commit_deadline: 1.5 }\n",
    mappings:
      "exact:\n  to-openai: openai/gpt-real\n  to-anthropic: anthropic/claude-real\n  to-gemini: gemini/gemini-real\n  to-patient: patient/gemini-real\n",
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
  "gemini-sse": "\r\n\r\n",
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

async function send(client: Client, upstream: Upstream | "patient"): Promise<Response> {
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
        // levity's own headers: the upstream's may not have come yet.
        expect(response.headers.get("x-upstream")).toBe(upstream);
        expect(response.headers.get("x-attempts")).toBe("1");
        expect(response.headers.get("x-request-id")).toBeTruthy();
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

/** Provider-shaped overload errors, as each provider sends them. */
const OVERLOADED: Record<Upstream, ScriptedReply> = {
  openai: {
    status: 503,
    body: JSON.stringify({
      error: {
        message: "The server is overloaded.",
        type: "server_error",
        param: null,
        code: null,
      },
    }),
  },
  anthropic: {
    status: 529,
    body: JSON.stringify({
      type: "error",
      error: { type: "overloaded_error", message: "Overloaded" },
    }),
  },
  gemini: {
    status: 503,
    body: JSON.stringify({
      error: {
        code: 503,
        message: "The model is overloaded. Please try again later.",
        status: "UNAVAILABLE",
      },
    }),
  },
};

/** The error a client reads at the end of a stream, in its own dialect, found in the text after the keep-alives. */
function streamedError(client: Client, rest: string): { status?: number; message: string } {
  if (client === "gemini-array") {
    const [only, ...more] = JSON.parse(rest);
    expect(more).toEqual([]);
    return { status: only.error.code, message: only.error.message };
  }
  const events = rest.split(/\r?\n\r?\n/).filter((e) => e.trim() !== "");
  const first = events[0]!;
  const data = JSON.parse(first.slice(first.indexOf("data: ") + 6));
  switch (client) {
    case "chat":
    case "completions":
      expect(events).toEqual([first, "data: [DONE]"]);
      return { message: data.error.message };
    case "responses": {
      // The SDKs' accumulators take nothing before response.created: one comes first.
      expect(first.startsWith("event: response.created\n")).toBe(true);
      expect(data.response).toMatchObject({
        object: "response",
        status: "in_progress",
        output: [],
      });
      expect(events).toHaveLength(2);
      const error = events[1]!;
      expect(error.startsWith("event: error\n")).toBe(true);
      return { message: JSON.parse(error.slice(error.indexOf("data: ") + 6)).message };
    }
    case "anthropic":
      expect(first.startsWith("event: error\n")).toBe(true);
      expect(events).toHaveLength(1);
      return { message: data.error.message };
    case "gemini-sse":
      expect(events).toHaveLength(1);
      return { status: data.error.code, message: data.error.message };
  }
}

const committedLines = () =>
  gw.log.lines.filter((l) => l.includes("timeouts.commit_deadline")).length;

describe("a failure after the commit deadline", () => {
  test.each(ROWS)(
    "%s client, %s upstream (%s): an error event in the client's dialect, and no retry",
    async (client, upstream) => {
      const fake = FAKES()[upstream];
      const before = fake.requests.length;
      const quiet = fake.quietOnce({ reply: OVERLOADED[upstream] });
      const response = await send(client, upstream);
      expect(response.status).toBe(200);
      const body = bodyReader(response);
      const keepAlive = KEEP_ALIVE[client];
      await body.until("a keep-alive", (text) => afterKeepAlives(text, keepAlive).count >= 1);
      quiet.release();
      const { rest } = afterKeepAlives(await body.rest(), keepAlive);
      const error = streamedError(client, rest);
      expect(error.message.toLowerCase()).toContain("overloaded");
      // Gemini's own clients read the status in the error; an OpenAI or Gemini client is shown 503 for Anthropic's 529.
      if (error.status !== undefined) expect(error.status).toBe(503);
      // The other account was there, and not asked: the client already had its 200.
      expect(fake.requests.length).toBe(before + 1);
      // The account that failed is blamed as for any failure: it cools.
      const listed: any = await (await fetch(`${gw.origin}/levity/accounts`)).json();
      const states = listed.accounts
        .filter((a: any) => a.upstream === upstream)
        .map((a: any) => a.state);
      expect(states.filter((s: string) => s !== "healthy")).toHaveLength(1);
    },
  );
});

describe("before the commit deadline", () => {
  test.each(ROWS)(
    "%s client, %s upstream (%s): a failure is retried on another account, unseen",
    async (client, upstream) => {
      const fake = FAKES()[upstream];
      const before = fake.requests.length;
      fake.replyOnce(OVERLOADED[upstream]);
      const response = await send(client, upstream);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-attempts")).toBe("2");
      const text = await response.text();
      expect(text).toContain("silent-ok");
      // An answer that came in time has no keep-alive before it.
      expect(afterKeepAlives(text, KEEP_ALIVE[client]).count).toBe(0);
      expect(fake.requests.length).toBe(before + 2);
    },
  );

  test("the deadline counts from the request's arrival, not from the attempt now running", async () => {
    // The first account fails after 1.2 s of silence; the second is silent. With patient's own
    // 1.5 s deadline, the client's stream is committed at 1.5 s (1.75 s at the latest, checked
    // four times a second), where a deadline per attempt would wait until 2.7 s.
    ge.quietOnce({ ms: 1200, reply: OVERLOADED.gemini });
    const second = ge.quietOnce({});
    const started = performance.now();
    const commits = committedLines();
    const response = await send("gemini-sse", "patient");
    const committedAfter = performance.now() - started;
    expect(committedLines()).toBe(commits + 1);
    expect(committedAfter).toBeGreaterThanOrEqual(1500);
    expect(committedAfter).toBeLessThan(2500);
    second.release();
    const text = await response.text();
    expect(afterKeepAlives(text, KEEP_ALIVE["gemini-sse"]).rest).toContain("silent-ok");
    expect(response.headers.get("x-attempts")).toBe("2");
  });
});

describe("each SDK's stream helper, with its upstream silent past the deadline", () => {
  /** Starts `run`, releases the upstream once the gateway has committed the stream, and returns what `run` got. */
  async function throughSilence<T>(upstream: Upstream, run: () => Promise<T>): Promise<T> {
    const quiet = FAKES()[upstream].quietOnce({ headers: upstream === "anthropic" });
    const commits = committedLines();
    const result = run();
    await waitUntil("the stream's commit", () => committedLines() > commits);
    quiet.release();
    return result;
  }
  const anthropic = () => new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  const openai = () => new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  const genai = () => new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });

  test.each(["anthropic", "gemini"] as const)("Anthropic messages.stream via %s", async (to) => {
    const message = await throughSilence(to, () =>
      anthropic()
        .messages.stream({
          model: `to-${to}`,
          max_tokens: 100,
          messages: [{ role: "user", content: PROMPT }],
        })
        .finalMessage(),
    );
    expect(message.content).toEqual([expect.objectContaining({ type: "text", text: "silent-ok" })]);
    expect(message.stop_reason).toBe("end_turn");
  });

  test.each(["openai", "anthropic"] as const)(
    "OpenAI chat.completions.stream via %s",
    async (to) => {
      const completion = await throughSilence(to, () =>
        openai()
          .chat.completions.stream({
            model: `to-${to}`,
            messages: [{ role: "user", content: PROMPT }],
          })
          .finalChatCompletion(),
      );
      expect(completion.choices[0]!.message.content).toBe("silent-ok");
      expect(completion.choices[0]!.finish_reason).toBe("stop");
    },
  );

  test.each(["openai", "gemini"] as const)("OpenAI responses.stream via %s", async (to) => {
    const response = await throughSilence(to, () =>
      openai()
        .responses.stream({ model: `to-${to}`, input: PROMPT })
        .finalResponse(),
    );
    expect(response.output_text).toBe("silent-ok");
    expect(response.status).toBe("completed");
  });

  test.each(["gemini", "anthropic"] as const)("Gemini generateContentStream via %s", async (to) => {
    const text = await throughSilence(to, async () => {
      let all = "";
      for await (const chunk of await genai().models.generateContentStream({
        model: `to-${to}`,
        contents: PROMPT,
      }))
        all += chunk.text ?? "";
      return all;
    });
    expect(text).toBe("silent-ok");
  });

  test("a failure after the commit reaches each SDK as its own error, with no retry", async () => {
    const before = an.requests.length + ge.requests.length;
    const failing = async <T>(upstream: Upstream, run: () => Promise<T>) => {
      const quiet = FAKES()[upstream].quietOnce({ reply: OVERLOADED[upstream] });
      const commits = committedLines();
      const result = run().then(
        () => undefined,
        (error: Error) => error,
      );
      await waitUntil("the stream's commit", () => committedLines() > commits);
      quiet.release();
      return result;
    };
    const fromAnthropic = await failing("anthropic", () =>
      anthropic()
        .messages.stream({
          model: "to-anthropic",
          max_tokens: 100,
          messages: [{ role: "user", content: PROMPT }],
        })
        .finalMessage(),
    );
    expect(fromAnthropic).toBeInstanceOf(Anthropic.APIError);
    expect(fromAnthropic!.message).toContain("Overloaded");
    const fromOpenAI = await failing("gemini", () =>
      openai().responses.stream({ model: "to-gemini", input: PROMPT }).finalResponse(),
    );
    expect(fromOpenAI?.message).toContain("overloaded");
    const fromGemini = await failing("gemini", async () => {
      for await (const _ of await genai().models.generateContentStream({
        model: "to-gemini",
        contents: PROMPT,
      }));
    });
    expect(fromGemini?.message).toContain("503");
    expect(an.requests.length + ge.requests.length).toBe(before + 3);
  });
});

describe("a whole (non-stream) answer", () => {
  test.each([
    ["chat", "openai"],
    ["anthropic", "gemini"],
  ] as const)(
    "%s client, %s upstream: waits past the deadline, with nothing sent before the answer",
    async (client, upstream) => {
      const fake = FAKES()[upstream];
      const quiet = fake.quietOnce({});
      const commits = committedLines();
      const { path, body } = request(client, `to-${upstream}`);
      const started = performance.now();
      const pending = fetch(`${gw.origin}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...(body as object), stream: false }),
      });
      await quiet.received;
      // Well past the 0.3 s deadline (and its quarter-second check), nothing has come.
      const early = await Promise.race([pending, Bun.sleep(900).then(() => "nothing")]);
      expect(early).toBe("nothing");
      quiet.release();
      const response = await pending;
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(response.headers.get("content-type")).toContain("application/json");
      const text = await response.text();
      expect(JSON.stringify(JSON.parse(text))).toContain("silent-ok");
      expect(committedLines()).toBe(commits);
    },
  );
});

test("a client that leaves during the keep-alives ends the upstream call, and the account is not blamed", async () => {
  const quiet = an.quietOnce({});
  const response = await send("anthropic", "anthropic");
  const body = bodyReader(response);
  await body.until("a ping", (text) => text.startsWith(PING));
  await body.cancel();
  await quiet.aborted;
  const listed: any = await (await fetch(`${gw.origin}/levity/accounts`)).json();
  for (const account of listed.accounts.filter((a: any) => a.upstream === "anthropic"))
    expect(account.state).toBe("healthy");
});
