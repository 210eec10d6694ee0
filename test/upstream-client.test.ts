import { afterEach, expect, test } from "bun:test";
import { connect } from "node:net";
import OpenAI from "openai";
import { startGateway, upstreamsYaml } from "./support/gateway.ts";
import { rawRequest } from "./support/raw-client.ts";
import { waitUntil } from "./support/wait.ts";
import {
  httpResponse,
  LAST_CHUNK,
  type RawRequest,
  type RawUpstream,
  rawUpstream,
  SSE_HEAD,
  sseChunk,
} from "./support/raw-upstream.ts";

/*
 * Which HTTP client calls a plain-HTTP upstream (src/upstream/http1.ts, forward.ts): levity's own
 * for a whole answer while fewer than two other calls wait, fetch for a stream, for a call made
 * while two wait, and for everything when LEVITY_UPSTREAM_CLIENT=fetch. Seen from the upstream:
 * levity's client writes header names in lower case, Bun's fetch writes the ones it knows
 * capitalised (`Connection: keep-alive`).
 */

const KEY = "sk-upstream-client-test";
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

const ANSWER = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-test",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

function byLevity(request: RawRequest): boolean {
  return request.raw.includes("\r\nconnection: keep-alive");
}
function byFetch(request: RawRequest): boolean {
  return request.raw.includes("\r\nConnection: keep-alive");
}

async function setUp(script: (request: RawRequest, socket: import("node:net").Socket) => void) {
  const seen: RawRequest[] = [];
  const upstream: RawUpstream = await rawUpstream((request, socket) => {
    seen.push(request);
    script(request, socket);
  });
  const gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n` +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${upstream.url}/v1`,
          accounts: [{ name: "one", key: "sk-upstream-one" }],
        },
      ]),
    mappings: "exact:\n  gpt-test: oa/gpt-test\n",
  });
  stops.push(
    () => gw.stop(),
    () => upstream.stop(),
  );
  const client = new OpenAI({ baseURL: `${gw.origin}/v1`, apiKey: KEY, maxRetries: 0 });
  return { seen, upstream, gw, client };
}

const ask = { model: "gpt-test", messages: [{ role: "user" as const, content: "hi" }] };

test("a whole answer comes through levity's own client, its connection kept for the next calls, the upstream's headers passed on", async () => {
  const { seen, upstream, client } = await setUp((_, socket) => {
    socket.write(
      httpResponse(200, ANSWER, "application/json", "x-ratelimit-remaining-requests: 41\r\n"),
    );
  });
  for (let i = 0; i < 3; i++) {
    const { data, response } = await client.chat.completions.create(ask).withResponse();
    expect(data.choices[0]!.message.content).toBe("hello");
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("41");
  }
  expect(seen.length).toBe(3);
  expect(seen.every(byLevity)).toBe(true);
  // The account's key, never the client's, and one connection for the three (the other is
  // forward.ts's probe of a host not heard from lately, which connects and closes).
  expect(seen.every((request) => request.headers.authorization === "Bearer sk-upstream-one")).toBe(
    true,
  );
  expect(upstream.accepted()).toBe(2);
});

test("LEVITY_UPSTREAM_CLIENT=fetch leaves every call to fetch", async () => {
  // Read from the process's environment when the runtime starts, as `levity serve` reads it.
  process.env.LEVITY_UPSTREAM_CLIENT = "fetch";
  let set: Awaited<ReturnType<typeof setUp>>;
  try {
    set = await setUp((_, socket) => {
      socket.write(httpResponse(200, ANSWER));
    });
  } finally {
    delete process.env.LEVITY_UPSTREAM_CLIENT;
  }
  const { seen, client } = set;
  await client.chat.completions.create(ask);
  expect(seen.length).toBe(1);
  expect(byFetch(seen[0]!)).toBe(true);
});

test("a stream goes through fetch", async () => {
  const { seen, client } = await setUp((_, socket) => {
    socket.write(SSE_HEAD);
    const chunk = {
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1,
      model: "gpt-test",
      choices: [{ index: 0, delta: { content: "hello" }, finish_reason: "stop" }],
    };
    socket.write(sseChunk(`data: ${JSON.stringify(chunk)}\n\n`));
    socket.write(sseChunk("data: [DONE]\n\n"));
    socket.write(LAST_CHUNK);
  });
  let text = "";
  for await (const chunk of await client.chat.completions.create({ ...ask, stream: true }))
    text += chunk.choices[0]?.delta.content ?? "";
  expect(text).toBe("hello");
  expect(byFetch(seen[0]!)).toBe(true);
});

test("a call made while two others wait for their answers goes through fetch; the waiting ones through levity's", async () => {
  const held: import("node:net").Socket[] = [];
  let third!: () => void;
  const thirdArrived = new Promise<void>((resolve) => {
    third = resolve;
  });
  const { seen, client } = await setUp((request, socket) => {
    if (request.body.includes("hold")) held.push(socket);
    else third();
    // The first two wait until the third has arrived; then all three are answered.
    if (!request.body.includes("hold"))
      for (const waiting of [...held, socket]) waiting.write(httpResponse(200, ANSWER));
  });
  const hold = (n: number) =>
    client.chat.completions.create({ ...ask, messages: [{ role: "user", content: `hold ${n}` }] });
  const first = hold(1);
  const second = hold(2);
  // Both held before the third is sent: each has reached the upstream.
  while (seen.length < 2) await new Promise((resolve) => setImmediate(resolve));
  const last = client.chat.completions.create(ask);
  await thirdArrived;
  await Promise.all([first, second, last]);
  const [a, b, c] = seen as [RawRequest, RawRequest, RawRequest];
  expect([byLevity(a), byLevity(b)]).toEqual([true, true]);
  expect(byFetch(c)).toBe(true);
});

test("behind HTTP_PROXY every call goes to the proxy through fetch, never straight to the upstream", async () => {
  const proxied: RawRequest[] = [];
  const proxy = await rawUpstream((request, socket) => {
    proxied.push(request);
    socket.write(httpResponse(200, ANSWER));
  });
  stops.push(() => proxy.stop());
  // fetch reads it at each call; the test's own request below goes over a raw socket instead.
  process.env.HTTP_PROXY = proxy.url;
  try {
    const { seen, gw } = await setUp((_, socket) => {
      socket.write(httpResponse(200, ANSWER));
    });
    const body = JSON.stringify(ask);
    const answer = await rawRequest(
      Number(new URL(gw.origin).port),
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${new URL(gw.origin).host}\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer.status).toBe(200);
    expect(seen.length).toBe(0);
    expect(proxied.length).toBe(1);
    // The proxy's form of the request line: the upstream's whole URL.
    expect(proxied[0]!.raw).toStartWith("POST http://127.0.0.1:");
  } finally {
    delete process.env.HTTP_PROXY;
  }
});

test("a call made while the gateway serves two other requests goes through fetch, though none waits upstream", async () => {
  const { seen, gw, client } = await setUp((_, socket) => {
    socket.write(httpResponse(200, ANSWER));
  });
  // Two requests whose bodies have not come yet: being served, not yet calling anyone.
  const port = Number(new URL(gw.origin).port);
  const slow = [0, 1].map(() => connect(port, "127.0.0.1"));
  for (const socket of slow) {
    socket.on("error", () => {});
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${new URL(gw.origin).host}\r\nauthorization: Bearer ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n`,
    );
  }
  try {
    await waitUntil("the two slow requests to be in flight", async () => {
      const metrics = await (
        await fetch(`${gw.origin}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })
      ).text();
      return /^levity_requests_in_flight 2$/m.test(metrics);
    });
    await client.chat.completions.create(ask);
    expect(seen.length).toBe(1);
    expect(byFetch(seen[0]!)).toBe(true);
  } finally {
    for (const socket of slow) socket.destroy();
  }
});

test("an upstream that does not answer in HTTP/1.1: a 502 that says so, with the code Troubleshooting names", async () => {
  const { client } = await setUp((_, socket) => {
    socket.end("SSH-2.0-OpenSSH_9.6\r\n\r\n");
  });
  const failure = await client.chat.completions.create(ask).then(
    () => undefined,
    (error: { status?: number; message?: string }) => error,
  );
  expect(failure?.status).toBe(502);
  expect(failure?.message).toContain("ERR_INVALID_HTTP_RESPONSE");
  expect(failure?.message).toContain("not valid HTTP/1.1");
});
