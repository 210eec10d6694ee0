import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * A client that stops reading a stream holds the upstream back: levity reads no more of the
 * upstream's stream than the sockets and buffers between them hold, rather than reading it all
 * into memory, and once the client reads again every byte arrives. Forwarded (an OpenAI client)
 * and translated (an Anthropic client, from the same OpenAI upstream). The upstream streams as
 * fast as its socket takes its writes and counts what it got rid of.
 */

const EVENTS = 60_000;
const DELTA = "x".repeat(1000);
const EVENT = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${DELTA}"},"finish_reason":null}]}\n\n`;
const LAST =
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\ndata: [DONE]\n\n';
const TOTAL = EVENTS * EVENT.length;

let sent = 0;
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    sent = 0;
    const body: Bun.DirectUnderlyingSource<Uint8Array> = {
      type: "direct",
      async pull(controller) {
        for (let i = 0; i < EVENTS; i++) {
          const written = controller.write(EVENT);
          if (written === 0) return;
          if (typeof written !== "number") await written;
          sent += EVENT.length;
        }
        controller.write(LAST);
        controller.close();
      },
    };
    return new Response(new ReadableStream(body), {
      headers: { "content-type": "text/event-stream" },
    });
  },
});

let gw: TestGateway;
beforeAll(() => {
  gw = startGateway({
    gateway: `proxy:\n  port: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: http://127.0.0.1:${upstream.port}/v1\n    accounts:\n      - { name: only, key: sk-slow-client-account-0001 }\n`,
    mappings: "exact:\n  m: oa/m\n",
  });
});
afterAll(async () => {
  await gw.stop();
  upstream.stop(true);
});

/** A raw client that sends `body` to `path` and stops reading after its first bytes. */
async function pausingClient(path: string, headers: string, body: string) {
  let received = "";
  const socket: Socket = connect(Number(new URL(gw.origin).port), "127.0.0.1");
  socket.setEncoding("latin1");
  socket.on("data", (data: string) => {
    received += data;
    if (received.length === data.length) socket.pause();
  });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return { socket, received: () => received };
}

const CASES = [
  [
    "forwarded (an OpenAI client)",
    "/v1/chat/completions",
    "",
    { model: "m", messages: [{ role: "user", content: "hi" }], stream: true },
    "data: [DONE]",
  ],
  [
    "translated (an Anthropic client)",
    "/v1/messages",
    "anthropic-version: 2023-06-01\r\n",
    { model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }], stream: true },
    "event: message_stop",
  ],
] as const;

describe.each(CASES)("a stream %s", (_, path, headers, request, end) => {
  test("a client that stops reading holds the upstream back; when it reads again, the stream ends whole", async () => {
    const client = await pausingClient(path, headers, JSON.stringify(request));
    await waitUntil("the first bytes", () => client.received().length > 0, 10_000);
    // The upstream writes until the buffers between it and the paused client are full.
    let last = -1;
    await waitUntil(
      "the upstream held back",
      () => {
        const steady = sent === last && sent > 0;
        last = sent;
        return steady;
      },
      10_000,
      20,
    );
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(TOTAL / 2);
    client.socket.resume();
    await waitUntil("the stream's end", () => client.received().includes(end), 30_000);
    expect(sent).toBe(TOTAL);
    client.socket.destroy();
  }, 60_000);
});
