import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "node:net";
import { resetAccounts, startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import {
  answerWell,
  ANTHROPIC_STREAM,
  chatAnswer,
  chunk,
  OPENAI_TAIL,
} from "./support/raw-answers.ts";
import {
  httpResponse,
  LAST_CHUNK,
  rawUpstream,
  SSE_HEAD,
  sseChunk,
  type RawRequest,
  type RawUpstream,
} from "./support/raw-upstream.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * Upstreams that break in every way a socket can. Account a of each upstream breaks as the test
 * scripts; account b answers properly. Before the commit point a break is retried on b and the
 * client never knows; after it the client gets a well-formed error in its own dialect. Either
 * way the broken connection is closed.
 */

const KEY_A = "sk-flaky-aaaa-0001";
const KEY_B = "sk-flaky-bbbb-0002";

let raw: RawUpstream;
let gw: TestGateway;
/** What account a's requests get in the current test. */
let fault: (request: RawRequest, socket: Socket) => void = () => {};
/** Sockets whose answer was cut off or hung in the current test; each must be closed by its end. */
let broken: Socket[] = [];
/** Marks this answer as broken: the gateway must not keep its connection. */
const breaks = (socket: Socket) => broken.push(socket);
let attemptsOnA = 0;

beforeAll(async () => {
  raw = await rawUpstream((request, socket) => {
    const key =
      request.headers.authorization?.replace("Bearer ", "") ?? request.headers["x-api-key"];
    if (key === KEY_A) {
      attemptsOnA++;
      fault(request, socket);
    } else answerWell(request, socket);
  });
  const accounts = [
    { name: "a", key: KEY_A },
    { name: "b", key: KEY_B },
  ];
  const yaml = upstreamsYaml([
    { name: "flaky", protocol: "openai", base_url: `${raw.url}/v1`, accounts },
    { name: "flakyan", protocol: "anthropic", base_url: raw.url, accounts },
  ]).replace(
    /( {4}protocol: \w+\n)/g,
    "$1    strategy: fill_first\n    timeouts: { idle: 1, total: 3 }\n",
  );
  gw = startGateway({
    gateway: `proxy:\n  auth_mode: off\n  cooldown_wait: 0\n${yaml}`,
    mappings: "exact:\n  m: flaky/m\n  claude-m: flakyan/m\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await raw.stop();
});
afterEach(async () => {
  // The broken connection is closed by the end of each test, whichever side broke it.
  await waitUntil(
    "the broken connections closed",
    () => broken.every((s) => s.destroyed || s.readyState === "closed"),
    3000,
  );
  broken = [];
  attemptsOnA = 0;
  fault = () => {};
  await resetAccounts(gw.origin);
});

const chat = (stream: boolean) =>
  fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", stream, messages: [{ role: "user", content: "hi" }] }),
  });
const messages = (stream: boolean, model = "claude-m") =>
  fetch(`${gw.origin}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({
      model,
      max_tokens: 16,
      stream,
      messages: [{ role: "user", content: "hi" }],
    }),
  });

/** The content of an OpenAI stream, and its error event if it ended in one. */
function parseChatSse(text: string): { content: string; error?: string; done: boolean } {
  let content = "";
  let error: string | undefined;
  let done = false;
  for (const event of text.split("\n\n")) {
    const data = event
      .split("\n")
      .find((line) => line.startsWith("data: "))
      ?.slice(6);
    if (!data) continue;
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    let json: any;
    try {
      json = JSON.parse(data);
    } catch {
      // A pass-through stream forwards the upstream's bytes as they come, a broken line included.
      continue;
    }
    if (json.error) error = json.error.message;
    content += json.choices?.[0]?.delta?.content ?? "";
  }
  return { content, error, done };
}

async function expectServedByB(response: Response, stream: boolean): Promise<void> {
  expect(response.status).toBe(200);
  expect(response.headers.get("x-account")).toBe("b");
  const text = await response.text();
  if (stream) expect(parseChatSse(text)).toEqual({ content: "fine", error: undefined, done: true });
  else expect(JSON.parse(text).choices[0].message.content).toBe("fine");
  expect(attemptsOnA).toBe(1);
}

describe("before the commit point: retried on the next account", () => {
  test("reset before any answer", async () => {
    fault = (_, socket) => breaks(socket) && socket.resetAndDestroy();
    await expectServedByB(await chat(false), false);
  });

  test("reset in the middle of the status line and headers", async () => {
    fault = (_, socket) => {
      breaks(socket);
      socket.write("HTTP/1.1 200 OK\r\ncontent-ty");
      setImmediate(() => socket.resetAndDestroy());
    };
    await expectServedByB(await chat(false), false);
  });

  test("reset after the headers, before any of a stream's body", async () => {
    fault = (_, socket) => {
      breaks(socket);
      socket.write(SSE_HEAD);
      setImmediate(() => socket.resetAndDestroy());
    };
    await expectServedByB(await chat(true), true);
  });

  test("reset halfway through a whole answer", async () => {
    fault = (_, socket) => {
      breaks(socket);
      socket.write(httpResponse(200, chatAnswer("x".repeat(400))).slice(0, 200));
      setImmediate(() => socket.resetAndDestroy());
    };
    await expectServedByB(await chat(false), false);
  });

  test("a 200 that is an HTML error page", async () => {
    fault = (_, socket) =>
      socket.write(
        httpResponse(200, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
      );
    await expectServedByB(await chat(false), false);
  });

  test("a stream request answered with a whole JSON answer (the wrong content type)", async () => {
    fault = (_, socket) => socket.write(httpResponse(200, chatAnswer("whole")));
    await expectServedByB(await chat(true), true);
  });

  test("a stream that stops before any content (timeouts.idle)", async () => {
    fault = (_, socket) =>
      breaks(socket) && socket.write(SSE_HEAD + sseChunk(chunk({ role: "assistant" })));
    const started = performance.now();
    await expectServedByB(await chat(true), true);
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test("an endless trickle of keep-alive comments with no content (timeouts.total)", async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    fault = (_, socket) => {
      breaks(socket);
      socket.write(SSE_HEAD);
      timer = setInterval(
        () =>
          socket.writable ? socket.write(sseChunk(": still thinking\n\n")) : clearInterval(timer),
        200,
      );
      socket.on("close", () => clearInterval(timer));
    };
    const started = performance.now();
    await expectServedByB(await chat(true), true);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(2900);
    expect(elapsed).toBeLessThan(4500);
  });

  test("a data line that is not JSON", async () => {
    fault = (_, socket) => socket.write(SSE_HEAD + sseChunk("data: {not json\n\n") + LAST_CHUNK);
    await expectServedByB(await chat(true), true);
  });

  test("Anthropic events out of order (a delta before message_start)", async () => {
    fault = (_, socket) =>
      socket.write(
        SSE_HEAD + [ANTHROPIC_STREAM[2]!, ...ANTHROPIC_STREAM].map(sseChunk).join("") + LAST_CHUNK,
      );
    const response = await messages(true);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-account")).toBe("b");
    const text = await response.text();
    expect(text.indexOf("message_start")).toBeLessThan(text.indexOf("content_block_delta"));
    expect(attemptsOnA).toBe(1);
  });
});

describe("noise that is not a failure", () => {
  test("garbage lines, comments and stray blank lines between events are passed over", async () => {
    fault = (_, socket) =>
      socket.write(
        SSE_HEAD +
          [
            ": comment\n",
            "garbage without a colon\n",
            chunk({ role: "assistant", content: "fi" }),
            "\n\n\u0000\u0001junk\n\n",
            chunk({ content: "ne" }),
            "retry: 10\n\n",
            ...OPENAI_TAIL,
          ]
            .map(sseChunk)
            .join("") +
          LAST_CHUNK,
      );
    const response = await chat(true);
    expect(response.headers.get("x-account")).toBe("a");
    expect(parseChatSse(await response.text())).toEqual({
      content: "fine",
      error: undefined,
      done: true,
    });
  });

  test("a 20 MB answer arrives whole", async () => {
    const big = "y".repeat(20 * 1024 * 1024);
    fault = (_, socket) => socket.write(httpResponse(200, chatAnswer(big)));
    const response = await chat(false);
    expect(response.headers.get("x-account")).toBe("a");
    expect(((await response.json()) as any).choices[0].message.content.length).toBe(big.length);
  });
});

describe("after the commit point: a well-formed error in the client's dialect", () => {
  test("a stream that stops after its first content: the content, then an error event, within the idle limit", async () => {
    fault = (_, socket) =>
      breaks(socket) &&
      socket.write(SSE_HEAD + sseChunk(chunk({ role: "assistant", content: "half" })));
    const started = performance.now();
    const response = await chat(true);
    expect(response.status).toBe(200);
    const read = parseChatSse(await response.text());
    expect(read.content).toBe("half");
    expect(read.error).toMatch(/no data for 1 s/);
    expect(performance.now() - started).toBeLessThan(2500);
  });

  test("a reset after the first content", async () => {
    fault = (_, socket) => {
      breaks(socket);
      socket.write(SSE_HEAD + sseChunk(chunk({ role: "assistant", content: "half" })));
      setTimeout(() => socket.resetAndDestroy(), 20);
    };
    const read = parseChatSse(await (await chat(true)).text());
    expect(read.content).toBe("half");
    expect(read.error).toMatch(/broke off/);
  });

  test("invalid JSON after the first content", async () => {
    fault = (_, socket) =>
      socket.write(
        SSE_HEAD +
          sseChunk(chunk({ role: "assistant", content: "half" })) +
          sseChunk("data: {oops\n\n") +
          LAST_CHUNK,
      );
    const read = parseChatSse(await (await chat(true)).text());
    expect(read.content).toBe("half");
    expect(read.error).toMatch(/not JSON/);
  });

  test("an Anthropic client on a translated stream that stops: an event: error", async () => {
    fault = (_, socket) =>
      breaks(socket) &&
      socket.write(SSE_HEAD + sseChunk(chunk({ role: "assistant", content: "half" })));
    const response = await messages(true, "m");
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('"text":"half"');
    const errorEvent = text.split("\n\n").find((e) => e.startsWith("event: error"));
    expect(errorEvent).toBeDefined();
    expect(JSON.parse(errorEvent!.split("\ndata: ")[1]!)).toMatchObject({
      type: "error",
      error: { type: expect.any(String), message: expect.stringMatching(/no data/) },
    });
  });
});
