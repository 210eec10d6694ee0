/*
 * levity's HTTP/1.1 client against a raw TCP server on loopback that answers with exactly the bytes
 * each case gives it, split however the case says: the framing, the head, the reuse of connections
 * and the failures, as a real server (or a broken one) sends them.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { type Http1Answer, Http1Client } from "./http1.ts";

interface Seen {
  /** Each request's raw bytes as the server read them, by connection. */
  requests: string[][];
  closed: number;
}

type Answerer = (
  request: string,
  socket: Socket<{ conn: number }>,
  seen: Seen,
) => void | Promise<void>;

const servers: TCPSocketListener<{ conn: number }>[] = [];
const clients: Http1Client[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) server.stop(true);
});

/** A server that hands each complete request (head and content-length body) to `answer`. */
function rawServer(answer: Answerer): { url: string; seen: Seen } {
  const seen: Seen = { requests: [], closed: 0 };
  const buffers = new Map<number, string>();
  const server = Bun.listen<{ conn: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { conn: seen.requests.length };
        seen.requests.push([]);
        buffers.set(socket.data.conn, "");
      },
      data(socket, data) {
        // Latin-1: one character a byte, so that lengths are the bytes' (the body is decoded later).
        let buffer = buffers.get(socket.data.conn)! + Buffer.from(data).toString("latin1");
        for (;;) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end < 0) break;
          const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
          if (buffer.length < end + 4 + length) break;
          const request = buffer.slice(0, end + 4 + length);
          buffer = buffer.slice(end + 4 + length);
          seen.requests[socket.data.conn]!.push(request);
          void answer(request, socket, seen);
        }
        buffers.set(socket.data.conn, buffer);
      },
      close() {
        seen.closed++;
      },
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}/v1/chat/completions?x=1`, seen };
}

/** Writes `bytes` one piece at a time, a turn of the event loop apart, so that they arrive apart. */
async function writeInPieces(socket: Socket<unknown>, bytes: string, size: number): Promise<void> {
  socket.setNoDelay(true);
  for (let at = 0; at < bytes.length; at += size) {
    socket.write(bytes.slice(at, at + size));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function client(): Http1Client {
  const made = new Http1Client();
  clients.push(made);
  return made;
}

function post(
  to: Http1Client,
  url: string,
  body = '{"model":"m"}',
  signal = new AbortController().signal,
) {
  return to.request(url, {
    method: "POST",
    headers: new Headers({ "content-type": "application/json", authorization: "Bearer sk-up" }),
    body,
    signal,
  });
}

async function bodyText(answer: Http1Answer): Promise<string> {
  if (answer.bytes !== undefined)
    return answer.bytes === null ? "" : new TextDecoder().decode(answer.bytes);
  return new Response(answer.body).text();
}

const JSON_BODY =
  '{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"héllo"}}]}';
const LENGTH_ANSWER = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON_BODY)}\r\nX-Request-Id: up-1\r\n\r\n${JSON_BODY}`;
const CHUNKED_ANSWER =
  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
  'f;ext=1\r\ndata: {"a":1}\n\n\r\n' +
  "0E\r\ndata: [DONE]\n\n\r\n" +
  "0\r\nX-Trailer: ignored\r\n\r\n";

describe("framing: the same answer however its bytes are split", () => {
  for (const [name, raw, expected] of [
    ["content-length", LENGTH_ANSWER, JSON_BODY],
    [
      "chunked, with an extension and a trailer",
      CHUNKED_ANSWER,
      'data: {"a":1}\n\ndata: [DONE]\n\n',
    ],
  ] as const)
    for (const size of [1, 2, 3, 7, 64, 100_000])
      test(`${name}, in pieces of ${size} bytes`, async () => {
        const { url, seen } = rawServer((_, socket) => writeInPieces(socket, raw, size));
        const to = client();
        const answer = await post(to, url);
        expect(answer.head.status).toBe(200);
        expect(answer.head.statusText).toBe("OK");
        expect(answer.head.ok).toBe(true);
        expect(await bodyText(answer)).toBe(expected);
        // The connection is kept: a second request goes on the same one.
        const again = await post(to, url);
        expect(await bodyText(again)).toBe(expected);
        expect(seen.requests.length).toBe(1);
        expect(seen.requests[0]!.length).toBe(2);
      });
});

test("a request is written as fetch writes it: path and query, host with its port, its headers, the body's byte length", async () => {
  const { url, seen } = rawServer((_, socket) => {
    socket.write(LENGTH_ANSWER);
  });
  const body = '{"model":"m","messages":[{"role":"user","content":"ünïcödé ✓"}]}';
  await post(client(), url, body);
  const request = seen.requests[0]![0]!;
  const [head, sent] = request.split("\r\n\r\n") as [string, string];
  const lines = head.split("\r\n");
  const port = new URL(url).port;
  expect(lines[0]).toBe("POST /v1/chat/completions?x=1 HTTP/1.1");
  expect(lines).toContain(`host: 127.0.0.1:${port}`);
  expect(lines).toContain("authorization: Bearer sk-up");
  expect(lines).toContain("content-type: application/json");
  expect(lines).toContain(`content-length: ${Buffer.byteLength(body)}`);
  expect(lines.filter((line) => line.startsWith("content-length")).length).toBe(1);
  expect(Buffer.from(sent, "latin1").toString("utf8")).toBe(body);
});

test("a header value's bytes go out as they are, not UTF-8 encoded again", async () => {
  const { url, seen } = rawServer((_, socket) => {
    socket.write(LENGTH_ANSWER);
  });
  // As Bun.serve hands a client's UTF-8 "café" over: one character a byte.
  const value = Buffer.from("café", "utf8").toString("latin1");
  await client().request(url, {
    method: "POST",
    headers: new Headers({ "x-client-name": value }),
    body: "{}",
    signal: new AbortController().signal,
  });
  const raw = Buffer.from(seen.requests[0]![0]!, "latin1");
  expect(raw.includes(Buffer.from("x-client-name: café\r\n", "utf8"))).toBe(true);
});

test("a body framed by its connection's close ends with it even when the close is a reset; a chunked one closed after its last chunk is whole", async () => {
  const { url } = rawServer((request, socket) => {
    if (request.includes("reset")) {
      socket.write('HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":1}');
      socket.terminate();
    } else socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n");
  });
  const to = client();
  expect(await bodyText(await post(to, url, "reset"))).toBe('{"a":1}');
  expect(await bodyText(await post(to, url, "last chunk"))).toBe("{}");
});

test("an answer without a length ends with its connection, which is then not reused", async () => {
  const { url, seen } = rawServer(async (_, socket) => {
    await writeInPieces(
      socket,
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":',
      5,
    );
    socket.end('"b"}');
  });
  const to = client();
  expect(await bodyText(await post(to, url))).toBe('{"a":"b"}');
  expect(await bodyText(await post(to, url))).toBe('{"a":"b"}');
  expect(seen.requests.length).toBe(2);
});

test("1xx heads before the answer are passed over; a 204 has no body", async () => {
  const { url } = rawServer((request, socket) => {
    if (request.includes("no-content")) socket.write("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    else
      socket.write(
        `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${LENGTH_ANSWER}`,
      );
  });
  const to = client();
  const answer = await post(to, url);
  expect(answer.head.status).toBe(200);
  expect(answer.head.headers.get("x-request-id")).toBe("up-1");
  expect(answer.head.headers.get("link")).toBeNull();
  const empty = await post(to, url, "no-content");
  expect(empty.head.status).toBe(204);
  expect(empty.bytes).toBeNull();
});

test("headers keep every value of a repeated name, and an error status is not ok", async () => {
  const { url } = rawServer((_, socket) => {
    socket.write(
      "HTTP/1.1 429 Too Many Requests\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}",
    );
  });
  const answer = await post(client(), url);
  expect(answer.head.status).toBe(429);
  expect(answer.head.ok).toBe(false);
  expect(answer.head.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  expect(answer.head.headers.get("retry-after")).toBe("7");
});

describe("a head is read by index, as the status-line pattern and trim read it", () => {
  // [name, the status line and headers, status, statusText, the x-a header, reused after]
  for (const [name, head, status, statusText, xa, kept] of [
    ["a plain status line", "HTTP/1.1 200 OK\r\nX-A: 1", 200, "OK", "1", true],
    ["two spaces before the status", "HTTP/1.1  201 Created\r\nX-A: 1", 201, "Created", "1", true],
    ["no reason phrase", "HTTP/1.1 202\r\nX-A: 1", 202, "", "1", true],
    ["an empty reason phrase", "HTTP/1.1 200 \r\nX-A: 1", 200, "", "1", true],
    [
      "a reason of several words",
      "HTTP/1.1 200 All Good Here\r\nX-A: 1",
      200,
      "All Good Here",
      "1",
      true,
    ],
    ["lines ended by a bare LF", "HTTP/1.1 200 OK\nX-A: 1", 200, "OK", "1", true],
    [
      "a value padded with spaces and tabs",
      "HTTP/1.1 200 OK\r\nX-A: \t two  words \t",
      200,
      "OK",
      "two  words",
      true,
    ],
    ["a value with a colon in it", "HTTP/1.1 200 OK\r\nX-A: a:b", 200, "OK", "a:b", true],
    ["an empty value", "HTTP/1.1 200 OK\r\nX-A:", 200, "OK", "", true],
    ["HTTP/1.0, not kept alive", "HTTP/1.0 200 OK\r\nX-A: 1", 200, "OK", "1", false],
    [
      "HTTP/1.0 asking to be kept alive",
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nX-A: 1",
      200,
      "OK",
      "1",
      true,
    ],
    [
      "a length given twice alike",
      "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2, 2",
      200,
      "OK",
      "1",
      true,
    ],
  ] as const)
    test(name, async () => {
      const { url, seen } = rawServer((_, socket) => {
        socket.write(
          `${head}${head.includes("Content-Length") ? "" : "\r\nContent-Length: 2"}\r\n\r\n{}`,
        );
      });
      const to = client();
      const answer = await post(to, url);
      expect(answer.head.status).toBe(status);
      expect(answer.head.statusText).toBe(statusText);
      expect(answer.head.headers.get("x-a")).toBe(xa);
      expect(await bodyText(answer)).toBe("{}");
      await bodyText(await post(to, url));
      expect(seen.requests.length).toBe(kept ? 1 : 2);
    });

  for (const [name, statusLine] of [
    ["a version other than 1.0 and 1.1", "HTTP/1.2 200 OK"],
    ["HTTP/2", "HTTP/2 200 OK"],
    ["no space before the status", "HTTP/1.1200 OK"],
    ["a status of four digits", "HTTP/1.1 2000 OK"],
    ["a status of two digits", "HTTP/1.1 20 OK"],
    ["a status that is not digits", "HTTP/1.1 2x0 OK"],
    ["lower-case http", "http/1.1 200 OK"],
    ["a CR inside the status line", "HTTP/1.1 200 O\rK"],
  ] as const)
    test(`${name} is refused`, async () => {
      const { url } = rawServer((_, socket) => {
        socket.write(`${statusLine}\r\nContent-Length: 0\r\n\r\n`);
      });
      await expect(post(client(), url)).rejects.toMatchObject({
        code: "ERR_INVALID_HTTP_RESPONSE",
      });
    });
});

describe("a broken answer is refused with a code, and its connection dropped", () => {
  for (const [name, raw] of [
    ["not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n"],
    ["a status out of range", "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n"],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nbroken\r\nContent-Length: 0\r\n\r\n"],
    [
      "two different lengths",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    ],
    ["a head over 256 KB", `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(270_000)}\r\n\r\n`],
  ] as const)
    test(name, async () => {
      const { url, seen } = rawServer((_, socket) => {
        socket.write(raw);
      });
      const failure = post(client(), url);
      await expect(failure).rejects.toMatchObject({ code: "ERR_INVALID_HTTP_RESPONSE" });
      expect(seen.requests.length).toBe(1);
    });

  test("a chunk size that is not hex fails the body being read", async () => {
    const { url } = rawServer((_, socket) => {
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
    });
    const answer = await post(client(), url);
    expect(answer.body).toBeDefined();
    await expect(new Response(answer.body).text()).rejects.toMatchObject({
      code: "ERR_INVALID_HTTP_RESPONSE",
    });
  });

  test("a connection that closes mid-body fails the body, one that closes before any answer fails the call", async () => {
    const { url } = rawServer((request, socket) => {
      if (request.includes("mid"))
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial');
      else socket.end();
    });
    const to = client();
    const answer = await post(to, url, "mid");
    await expect(new Response(answer.body).text()).rejects.toMatchObject({ code: "ECONNRESET" });
    await expect(post(to, url, "none")).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  test("nobody listening: the connection's own error, with its code", async () => {
    const { url } = rawServer(() => {});
    servers.pop()!.stop(true);
    await expect(post(client(), url)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});

test("a request written whole is never sent again: a kept connection closed before its answer fails the call", async () => {
  const { url, seen } = rawServer((_, socket, state) => {
    // The first connection answers once, then reads the second request and drops it unanswered,
    // as an upstream whose worker died while generating does.
    if (socket.data.conn === 0 && state.requests[0]!.length === 2) socket.end();
    else socket.write(LENGTH_ANSWER);
  });
  const to = client();
  expect(await bodyText(await post(to, url))).toBe(JSON_BODY);
  await expect(post(to, url)).rejects.toMatchObject({ code: "ECONNRESET" });
  expect(seen.requests.map((requests) => requests.length)).toEqual([2]);
});

test("a request a kept connection closed on before it was all written is sent again on a new one", async () => {
  // 32 MB: more than the socket takes in one write, so the upstream can close mid-body.
  const big = `{"input":"${"x".repeat(32 * 1024 * 1024)}"}`;
  let connections = 0;
  let whole = 0;
  const server = Bun.listen<{ conn: number; seen: number; requests: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { conn: connections++, seen: 0, requests: 0 };
      },
      data(socket, data) {
        const state = socket.data;
        const text = Buffer.from(data).toString("latin1");
        // The first connection answers its first (small) request, then closes as the big one's
        // head arrives, the way a server closing an idle connection meets a request in flight.
        if (state.conn === 0 && state.requests === 1) {
          socket.end();
          return;
        }
        state.seen += data.length;
        const end = text.indexOf("\r\n\r\n");
        if (state.requests === 0 && end >= 0 && state.conn === 0) {
          state.requests = 1;
          state.seen = 0;
          socket.write(LENGTH_ANSWER);
          return;
        }
        if (state.seen >= big.length) {
          whole++;
          socket.write(LENGTH_ANSWER);
        }
      },
    },
  });
  servers.push(server);
  const url = `http://127.0.0.1:${server.port}/v1/files`;
  const to = client();
  expect(await bodyText(await post(to, url, "{}"))).toBe(JSON_BODY);
  expect(await bodyText(await post(to, url, big))).toBe(JSON_BODY);
  expect(connections).toBe(2);
  expect(whole).toBe(1);
});

test("a new connection that closes before any answer is not sent again", async () => {
  const { url, seen } = rawServer((_, socket) => {
    socket.end();
  });
  await expect(post(client(), url)).rejects.toMatchObject({ code: "ECONNRESET" });
  expect(seen.requests.length).toBe(1);
});

test("an abort before the answer rejects with the signal's reason and closes the connection", async () => {
  const controller = new AbortController();
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const { url, seen } = rawServer(() => arrived());
  const to = client();
  const pending = post(to, url, "{}", controller.signal);
  await requestArrived;
  const reason = new Error("the client left");
  controller.abort(reason);
  await expect(pending).rejects.toBe(reason);
  await waitFor(() => seen.closed === 1);
});

test("an abort while the body streams errors the body and closes the connection", async () => {
  const controller = new AbortController();
  const { url, seen } = rawServer((_, socket) => {
    socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n");
  });
  const answer = await post(client(), url, "{}", controller.signal);
  const reader = answer.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("data: ");
  controller.abort(new Error("idle limit"));
  await expect(reader.read()).rejects.toThrow("idle limit");
  await waitFor(() => seen.closed === 1);
});

test("a reader that cancels the body closes the connection; the next request opens another", async () => {
  const { url, seen } = rawServer((request, socket) => {
    if (request.includes("stream"))
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
    else socket.write(LENGTH_ANSWER);
  });
  const to = client();
  const answer = await post(to, url, "stream");
  const reader = answer.body!.getReader();
  await reader.read();
  await reader.cancel();
  await waitFor(() => seen.closed === 1);
  expect(await bodyText(await post(to, url))).toBe(JSON_BODY);
  expect(seen.requests.length).toBe(2);
});

test("bytes after an answer's declared end are not taken as the next answer", async () => {
  const { url, seen } = rawServer((_, socket) => {
    socket.write(`${LENGTH_ANSWER}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}`);
  });
  const to = client();
  expect(await bodyText(await post(to, url))).toBe(JSON_BODY);
  expect(await bodyText(await post(to, url))).toBe(JSON_BODY);
  expect(seen.requests.length).toBe(2);
});

test("a body larger than the socket's reads arrives whole, in order", async () => {
  const big = Array.from({ length: 40_000 }, (_, i) => `line ${i}\n`).join("");
  const { url } = rawServer((_, socket) => {
    const bytes = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
    let at = socket.write(bytes);
    // The rest as the socket drains.
    const drain = setInterval(() => {
      if (at >= bytes.length) clearInterval(drain);
      else at += Math.max(0, socket.write(bytes.subarray(at)));
    }, 1);
  });
  const answer = await post(client(), url);
  expect(await bodyText(answer)).toBe(big);
});

/** Waits for a condition the event loop will make true (a close reported by the server). */
async function waitFor(condition: () => boolean): Promise<void> {
  const until = performance.now() + 5_000;
  while (!condition() && performance.now() < until)
    await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

test("it calls plain http: URLs only; https:, and a URL with credentials in it, stay fetch's", () => {
  const to = client();
  expect(to.handles("http://127.0.0.1:8080/v1/chat/completions")).toBe(true);
  expect(to.handles("http://[::1]:8080/v1")).toBe(true);
  expect(to.handles("https://api.openai.com/v1/chat/completions")).toBe(false);
  expect(to.handles("http://user:secret@127.0.0.1:8080/v1")).toBe(false);
});
