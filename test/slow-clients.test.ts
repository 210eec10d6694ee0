import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { upstreamsYaml } from "./support/gateway.ts";
import { serveLevityWith } from "./support/process.ts";

/*
 * Clients that are slow, that vanish, or that are many and idle. The gateway runs as its own
 * process, so the 10,000 connections are its sockets and not this test's, and a stuck event
 * loop would show as a request that is not answered.
 */

const CHUNK = (content: string) =>
  `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { role: "assistant", content }, finish_reason: null }] })}\n\n`;

let oa: FakeUpstream;
let gateway: Awaited<ReturnType<typeof serveLevityWith>>;

beforeAll(async () => {
  oa = fakeOpenAI("sk-slow-upstream-001");
  gateway = await serveLevityWith({
    gateway:
      "proxy:\n  auth_mode: off\n  body_timeout: 2\n" +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-slow-upstream-001" }],
        },
      ]),
    mappings: "exact:\n  m: oa/m\n",
  });
});
afterAll(async () => {
  await gateway.stop();
  await oa.stop();
});

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

/** Time for a fresh client to get /healthz. */
async function healthTime(): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${gateway.origin}/healthz`);
  expect(response.status).toBe(200);
  return performance.now() - started;
}

describe("slow senders", () => {
  test("headers sent a byte at a time are cut off by the server's header timeout, and others are served meanwhile", async () => {
    const socket = await openSocket();
    const closed = new Promise<number>((resolve) =>
      socket.on("close", () => resolve(performance.now())),
    );
    const started = performance.now();
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    const drip = setInterval(() => socket.writable && socket.write("a"), 250);
    expect(await healthTime()).toBeLessThan(1000);
    const at = await closed;
    clearInterval(drip);
    // Bun's HTTP server allows about ten seconds for a request's head, however it trickles.
    expect(at - started).toBeLessThan(15_000);
  }, 20_000);
});

describe("clients that vanish", () => {
  test("a client that leaves mid-stream: the pass-through upstream request is aborted within a second", async () => {
    const held = oa.holdOnce(CHUNK("partial "));
    const controller = new AbortController();
    const response = await fetch(`${gateway.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        model: "m",
        stream: true,
        messages: [{ role: "user", content: "hang" }],
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let seen = "";
    while (!seen.includes("partial")) seen += new TextDecoder().decode((await reader.read()).value);
    const left = performance.now();
    controller.abort();
    await held.aborted;
    expect(performance.now() - left).toBeLessThan(1000);
  });

  test("a client that sends half a body and disconnects costs nothing: the next request is served", async () => {
    const socket = await openSocket();
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"model":',
    );
    socket.destroy();
    expect(await healthTime()).toBeLessThan(1000);
  });
});

describe("many idle clients", () => {
  test("10,000 idle keep-alive connections do not stop a new client from being served", async () => {
    const sockets: Socket[] = [];
    try {
      // Each connection makes one request and then sits idle, kept alive.
      for (let batch = 0; batch < 20; batch++) {
        const opened = await Promise.all(
          Array.from({ length: 500 }, async () => {
            const socket = await openSocket();
            await new Promise<void>((resolve) => {
              socket.once("data", () => resolve());
              socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            });
            return socket;
          }),
        );
        sockets.push(...opened);
      }
      expect(sockets.length).toBe(10_000);
      expect(sockets.every((s) => !s.destroyed)).toBe(true);
      const times = [];
      for (let i = 0; i < 5; i++) times.push(await healthTime());
      expect(Math.max(...times)).toBeLessThan(1000);
      const answer = await fetch(`${gateway.origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "still there?" }] }),
      });
      expect(answer.status).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 60_000);
});
