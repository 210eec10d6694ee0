import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { rawRequest } from "./support/raw-client.ts";
import { waitUntil } from "./support/wait.ts";

// The Responses API over a WebSocket, as Codex speaks it (docs/codex-transports.md): each
// response.create message is served as POST /v1/responses with stream: true, and each event comes
// back as one text message.

const KEY = "sk-levity-ws-client-key";
// Client keys never open the admin surface: the request log is read with this one.
const ADMIN_KEY = "sk-ws-admin-key-0001";
const GEMINI_KEY = "gemini-ws-account-key";
const OPENAI_KEY = "sk-openai-ws-account-key";

let echo: TestGateway;
let ge: FakeUpstream;
let oa: FakeUpstream;
let guarded: TestGateway;

beforeAll(() => {
  echo = startGateway({});
  ge = fakeGemini(GEMINI_KEY);
  oa = fakeOpenAI(OPENAI_KEY);
  guarded = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  admin_key: ${ADMIN_KEY}\n  cooldown_wait: 0\n` +
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
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "a", key: OPENAI_KEY }],
        },
        { name: "echo", protocol: "echo" },
      ]),
    mappings:
      "exact:\n  to-gemini: gemini/gemini-2.5-flash-real\n  gemini-logged: gemini/gemini-2.5-flash-real\n  to-openai: openai/gpt-4o-real\n  to-echo: echo/echo\n",
  });
});
afterAll(async () => {
  await echo.stop();
  await guarded.stop();
  await ge.stop();
  await oa.stop();
});

/** A WebSocket client that queues every message, so a test reads them in order without timers. */
class Client {
  readonly ws: WebSocket;
  private readonly inbox: string[] = [];
  private waiting: ((message: string | undefined) => void) | undefined;
  private closedWith: { code: number; reason: string } | undefined;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, headers: Record<string, string> = {}) {
    // Bun's WebSocket takes headers for the upgrade request, as Codex sends its Authorization.
    this.ws = new WebSocket(url, { headers } as unknown as string[]);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error("WebSocket failed to open")), {
        once: true,
      });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) => {
        this.closedWith = { code: event.code, reason: event.reason };
        this.waiting?.(undefined);
        resolve(this.closedWith);
      });
    });
    this.ws.addEventListener("message", (event) => {
      const text =
        typeof event.data === "string"
          ? event.data
          : new TextDecoder().decode(event.data as ArrayBuffer);
      if (this.waiting) {
        const wake = this.waiting;
        this.waiting = undefined;
        wake(text);
      } else this.inbox.push(text);
    });
  }

  next(): Promise<any> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(JSON.parse(queued));
    if (this.closedWith) return Promise.reject(new Error(`closed ${this.closedWith.code}`));
    return new Promise((resolve, reject) => {
      this.waiting = (text) =>
        text === undefined
          ? reject(new Error("closed while waiting for a message"))
          : resolve(JSON.parse(text));
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === "string" ? value : JSON.stringify(value));
  }

  /** Every event of one response, up to and including its last (completed, failed, incomplete or error). */
  async turn(): Promise<any[]> {
    const events: any[] = [];
    for (;;) {
      const event = await this.next();
      events.push(event);
      if (
        ["response.completed", "response.failed", "response.incomplete", "error"].includes(
          event.type,
        )
      )
        return events;
    }
  }

  async close(): Promise<void> {
    this.ws.close(1000, "done");
    await this.closed;
  }
}

function wsUrl(gw: TestGateway, path = "/v1/responses"): string {
  return gw.origin.replace(/^http/, "ws") + path;
}

function textOf(events: any[]): string {
  return events
    .filter((e) => e.type === "response.output_text.delta")
    .map((e) => e.delta)
    .join("");
}

async function open(
  gw: TestGateway,
  path?: string,
  headers?: Record<string, string>,
): Promise<Client> {
  const client = new Client(wsUrl(gw, path), headers);
  await client.opened;
  return client;
}

describe("Responses over a WebSocket, echo upstream", () => {
  test("one response.create: the stream's events, one message each, from response.created to response.completed", async () => {
    const client = await open(echo);
    client.send({
      type: "response.create",
      model: "gpt-5",
      input: [
        {
          type: "message",
          role: "user",
          content: [{ type: "input_text", text: "the quick brown fox" }],
        },
      ],
      store: false,
    });
    const events = await client.turn();
    expect(events[0].type).toBe("response.created");
    expect(events.at(-1).type).toBe("response.completed");
    expect(textOf(events)).toBe("the quick brown fox");
    const completed = events.at(-1).response;
    expect(completed.id).toStartWith("resp_");
    expect(completed.output[0].content[0].text).toBe("the quick brown fox");
    await client.close();
  });

  test("two turns on one connection; the second continues the first by previous_response_id, though store was false", async () => {
    const client = await open(echo);
    client.send({ type: "response.create", model: "gpt-5", input: "first question", store: false });
    const first = await client.turn();
    const id = first.at(-1).response.id;
    client.send({
      type: "response.create",
      model: "gpt-5",
      previous_response_id: id,
      input: [{ type: "message", role: "user", content: "second question" }],
      store: false,
    });
    const second = await client.turn();
    expect(second.at(-1).type).toBe("response.completed");
    expect(textOf(second)).toBe("second question");
    expect(second.at(-1).response.id).not.toBe(id);
    await client.close();
  });

  test("a continuation that fails evicts the response it continued: naming it again is previous_response_not_found", async () => {
    const client = await open(echo);
    client.send({ type: "response.create", model: "m", input: "remember ember", store: false });
    const id = (await client.turn()).at(-1).response.id;
    client.send({
      type: "response.create",
      model: "m",
      previous_response_id: id,
      input: [{ type: "function_call_output", call_id: "call_missing", output: "x" }],
      store: false,
    });
    expect((await client.turn()).at(-1).type).toBe("error");
    client.send({
      type: "response.create",
      model: "m",
      previous_response_id: id,
      input: "again",
      store: false,
    });
    const stale = await client.next();
    expect(stale).toMatchObject({ type: "error", error: { code: "previous_response_not_found" } });
    await client.close();
  });

  test("generate: false (Codex's warm-up) completes at once, and the next request continues from it", async () => {
    const client = await open(echo);
    client.send({
      type: "response.create",
      model: "gpt-5",
      input: [{ type: "message", role: "user", content: "warm" }],
      generate: false,
      store: false,
    });
    const warm = await client.turn();
    expect(warm.map((e) => e.type)).toEqual(["response.created", "response.completed"]);
    client.send({
      type: "response.create",
      model: "gpt-5",
      previous_response_id: warm.at(-1).response.id,
      input: [],
      store: false,
    });
    const events = await client.turn();
    expect(textOf(events)).toBe("warm");
    await client.close();
  });

  test("the route table's path variants are accepted: /responses and /v1/v1/responses", async () => {
    for (const path of ["/responses", "/v1/v1/responses"]) {
      const client = await open(echo, path);
      client.send({ type: "response.create", model: "m", input: `via ${path}` });
      expect(textOf(await client.turn())).toBe(`via ${path}`);
      await client.close();
    }
  });

  test("bad messages get an error message and the connection keeps serving", async () => {
    const client = await open(echo);
    client.send("this is not json");
    const notJson = await client.next();
    expect(notJson).toMatchObject({
      type: "error",
      status: 400,
      error: { type: "invalid_request_error" },
    });
    client.send({ type: "session.update" });
    expect((await client.next()).error.message).toContain("response.create");
    client.send([1, 2, 3]);
    expect((await client.next()).status).toBe(400);
    client.ws.send(new Uint8Array([1, 2, 3]));
    expect((await client.next()).error.message).toContain("text messages");
    // A request the gateway refuses comes back as Codex reads a refusal: type error, with the HTTP status.
    client.send({ type: "response.create", input: "no model" });
    const refused = await client.next();
    expect(refused).toMatchObject({ type: "error", status: 400, error: { param: "model" } });
    client.send({ type: "response.create", model: "m" });
    expect(await client.next()).toMatchObject({
      type: "error",
      status: 400,
      error: { param: "input", message: "input is required." },
    });
    client.send({ type: "response.create", model: "m", input: 42 });
    expect((await client.next()).error.param).toBe("input");
    // Codex's acknowledgement needs no answer.
    client.send({ type: "response.processed", response_id: "resp_x" });
    client.send({ type: "response.create", model: "m", input: "still here" });
    expect(textOf(await client.turn())).toBe("still here");
    await client.close();
  });

  test("a message over max_body_mb closes the socket with 1009 (message too big); the gateway keeps serving", async () => {
    const gw = startGateway({ gateway: "proxy:\n  max_body_mb: 1\n" });
    const client = await open(gw);
    client.send({ type: "response.create", model: "m", input: "x".repeat(2 * 1024 * 1024) });
    expect((await client.closed).code).toBe(1009);
    const again = await open(gw);
    again.send({ type: "response.create", model: "m", input: "small" });
    expect(textOf(await again.turn())).toBe("small");
    await again.close();
    await gw.stop();
  });

  test("a browser's upgrade from a foreign origin is refused while auth is off, as its POST would be", async () => {
    const { status, text } = await rawRequest(
      echo.server.port,
      upgradeHead("/v1/responses", { origin: "http://evil.example" }),
    );
    expect(status).toBe(403);
    expect(text).toContain("Browser requests from http://evil.example are refused");
  });

  test("an upgrade on a path that is not the Responses route is refused before the upgrade", async () => {
    for (const path of ["/v1/chat/completions", "/v1/responses/compact", "/levity/status"]) {
      const { status, text } = await rawRequest(echo.server.port, upgradeHead(path, {}));
      expect(status).toBe(404);
      expect(text).toContain("only on the Responses path");
    }
  });
});

describe("Responses over a WebSocket, with auth and a Gemini upstream", () => {
  test("the upgrade without the client key is refused with 401 in OpenAI's shape; with a wrong one too", async () => {
    const none = await rawRequest(guarded.server.port, upgradeHead("/v1/responses", {}));
    expect(none.status).toBe(401);
    expect(none.text).toContain('"invalid_api_key"');
    const wrong = await rawRequest(
      guarded.server.port,
      upgradeHead("/v1/responses", { authorization: "Bearer sk-wrong" }),
    );
    expect(wrong.status).toBe(401);
    const right = await rawRequest(
      guarded.server.port,
      upgradeHead("/v1/responses", { authorization: `Bearer ${KEY}` }),
    );
    expect(right.status).toBe(101);
  });

  test("the Bun WebSocket client without a key cannot open the socket", async () => {
    const client = new Client(wsUrl(guarded));
    expect(client.opened).rejects.toThrow();
    await client.closed;
  });

  test("translated to Gemini: the events, and the second turn's history reaches the upstream whole", async () => {
    const client = await open(guarded, "/v1/responses", { authorization: `Bearer ${KEY}` });
    client.send({
      type: "response.create",
      model: "to-gemini",
      instructions: "be brief",
      input: [{ type: "message", role: "user", content: "hello gemini" }],
      store: false,
      stream: true,
    });
    const first = await client.turn();
    expect(first[0].type).toBe("response.created");
    expect(first.at(-1).type).toBe("response.completed");
    expect(textOf(first).length).toBeGreaterThan(0);
    expect(first.at(-1).response.model).toBeDefined();
    const before = ge.requests.length;
    client.send({
      type: "response.create",
      model: "to-gemini",
      instructions: "be brief",
      previous_response_id: first.at(-1).response.id,
      input: [{ type: "message", role: "user", content: "and again" }],
      store: false,
    });
    const second = await client.turn();
    expect(second.at(-1).type).toBe("response.completed");
    expect(ge.requests.length).toBe(before + 1);
    const contents = ge.last().json.contents as { role: string; parts: { text?: string }[] }[];
    expect(contents.map((c) => c.role)).toEqual(["user", "model", "user"]);
    expect(contents[0]!.parts[0]!.text).toBe("hello gemini");
    expect(contents[2]!.parts[0]!.text).toBe("and again");
    expect(ge.last().headers.get("x-goog-api-key")).toBe(GEMINI_KEY);
    await client.close();
  });

  test("forwarded as it is to an upstream serving Responses natively; the second turn's previous_response_id is expanded, since store was false", async () => {
    const client = await open(guarded, "/v1/responses", { authorization: `Bearer ${KEY}` });
    client.send({
      type: "response.create",
      model: "to-openai",
      input: [{ type: "message", role: "user", content: "native one" }],
      store: false,
    });
    const first = await client.turn();
    expect(first.at(-1).type).toBe("response.completed");
    expect(oa.last().path).toBe("/v1/responses");
    expect(oa.last().json.stream).toBe(true);
    expect(oa.last().json.model).toBe("gpt-4o-real");
    client.send({
      type: "response.create",
      model: "to-openai",
      previous_response_id: first.at(-1).response.id,
      input: [{ type: "message", role: "user", content: "native two" }],
      store: false,
    });
    const second = await client.turn();
    expect(second.at(-1).type).toBe("response.completed");
    const sent = oa.last().json;
    expect(sent.previous_response_id).toBeUndefined();
    expect(sent.input.map((item: any) => item.role ?? item.type)).toEqual([
      "user",
      "assistant",
      "user",
    ]);
    expect(oa.last().headers.get("authorization")).toBe(`Bearer ${OPENAI_KEY}`);
    await client.close();
  });

  test("an upstream error reaches the socket as an error message with its status, and the socket stays usable", async () => {
    const client = await open(guarded, "/v1/responses", { authorization: `Bearer ${KEY}` });
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
    client.send({ type: "response.create", model: "to-gemini", input: "refused" });
    const refused = await client.next();
    expect(refused.type).toBe("error");
    expect(refused.status).toBe(400);
    expect(refused.error.message).toContain("invalid argument");
    client.send({ type: "response.create", model: "to-echo", input: "after the error" });
    expect(textOf(await client.turn())).toBe("after the error");
    await client.close();
  });

  test("the client leaving mid-stream aborts the upstream call", async () => {
    const client = await open(guarded, "/v1/responses", { authorization: `Bearer ${KEY}` });
    const held = ge.holdOnce(
      `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "partial " }] }, index: 0 }] })}\r\n\r\n`,
    );
    client.send({ type: "response.create", model: "to-gemini", input: "hold on" });
    await held.received;
    expect((await client.next()).type).toBe("response.created");
    client.ws.close(1000, "bye");
    await held.aborted;
  });

  test("each turn is a request in the request log, finished cleanly though the client closes the socket at response.completed", async () => {
    const client = await open(guarded, "/v1/responses", { authorization: `Bearer ${KEY}` });
    client.send({ type: "response.create", model: "gemini-logged", input: "logged turn" });
    await client.turn();
    await client.close();
    const row = await waitUntil("the turn's row in the request log", async () => {
      const logs = await fetch(`${guarded.origin}/levity/logs?limit=50`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      const rows = ((await logs.json()) as { requests: any[] }).requests;
      return rows.find((r) => r.requestedModel === "gemini-logged");
    });
    expect(row.route).toBe("/v1/responses");
    expect(row.stream).toBe(true);
    expect(row.error ?? null).toBeNull();
  });
});

describe("Responses over a WebSocket when levity stops", () => {
  test("an idle socket is closed at once (1001) instead of holding the drain; one with an answer in flight gets its answer first", async () => {
    const gw = startGateway({
      gateway:
        "proxy:\n  cooldown_wait: 0\n" +
        upstreamsYaml([
          {
            name: "gemini",
            protocol: "gemini",
            base_url: ge.url,
            accounts: [{ name: "a", key: GEMINI_KEY }],
          },
        ]),
      mappings: "exact:\n  to-gemini: gemini/gemini-2.5-flash-real\n",
    });
    const idle = await open(gw);
    const busy = await open(gw);
    const chunk = (text: string, last: boolean) =>
      `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2, totalTokenCount: 3 } })}\r\n\r\n`;
    const held = ge.holdOnce(chunk("first ", false));
    busy.send({ type: "response.create", model: "to-gemini", input: "slow answer" });
    await held.received;
    expect((await busy.next()).type).toBe("response.created");
    const started = performance.now();
    const stopping = gw.stop();
    expect((await idle.closed).code).toBe(1001);
    held.release(chunk("second", true));
    const rest = await busy.turn();
    expect(rest.at(-1).type).toBe("response.completed");
    expect((await busy.closed).code).toBe(1001);
    await stopping;
    // Far below the one-second drain limit the test gateway stops with: nothing waited for the idle socket.
    expect(performance.now() - started).toBeLessThan(900);
  });
});

function upgradeHead(path: string, headers: Record<string, string>): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

describe("Responses over a WebSocket, a key with concurrency 1", () => {
  test("messages sent back to back are served one after the other: each answer's slot is free before the next starts", async () => {
    const serialKey = "sk-ws-serial-key-0123456789";
    const serial = startGateway({
      gateway:
        "proxy:\n  auth_mode: strict\n  api_keys:\n" +
        `    - { name: serial, key: ${serialKey}, concurrency: 1 }\n` +
        upstreamsYaml([{ name: "echo", protocol: "echo" }]),
      mappings: "exact:\n  gpt-5: echo/echo\n",
    });
    try {
      const client = await open(serial, undefined, { authorization: `Bearer ${serialKey}` });
      // Queued by the socket and served in turn; the next starts as soon as the last one ends.
      for (const input of ["one", "two", "three"])
        client.send({ type: "response.create", model: "gpt-5", input, store: false });
      const last = [];
      for (let i = 0; i < 3; i++) last.push((await client.turn()).at(-1));
      expect(last.map((event) => event.type)).toEqual(Array(3).fill("response.completed"));
      await client.close();
    } finally {
      await serial.stop();
    }
  });
});
