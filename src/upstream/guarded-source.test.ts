import { afterAll, describe, expect, test } from "bun:test";
import type { Timeouts, Upstream } from "../config/snapshot.ts";
import { type GuardedSource, type ReadResult, UpstreamClient } from "./forward.ts";

/*
 * A guarded source read as the client's body reads it (client-body.ts): its raw read awaited by
 * the caller, the result handed to taken() and a failure to failure(), against a real upstream
 * on loopback. The reader gets what read() would have given, chunk for chunk, the end after a
 * release, and a cut body as a failure that says the upstream broke off.
 */

const TIMEOUTS: Timeouts = {
  connect: 2_000,
  firstByte: 5_000,
  idle: 5_000,
  total: 10_000,
  commitDeadline: 5_000,
  keepAlive: 1_000,
};
const UPSTREAM = { name: "loop" } as Upstream;
const encoder = new TextEncoder();

// A whole body in three chunks.
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    const chunks = ["data: one\n\n", "data: two\n\n", "data: three\n\n"];
    return new Response(
      new ReadableStream({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(encoder.encode(next));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  },
});
// A body cut after its first chunk: the connection closes before the chunked body's end.
const cutter = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(socket) {
      socket.end(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
          "b\r\ndata: one\n\n\r\n",
      );
    },
  },
});
afterAll(() => {
  server.stop(true);
  cutter.stop(true);
});

const client = new UpstreamClient({});

async function open(port: number) {
  const opened = await client.open({
    upstream: UPSTREAM,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    body: "{}",
    headers: {},
    clientSignal: new AbortController().signal,
    stream: true,
    timeouts: TIMEOUTS,
  });
  return opened.source!;
}

/** A reader that writes down what it is handed, reading as the client's body does. */
class Recorder {
  readonly seen: string[] = [];
  constructor(private readonly source: GuardedSource) {}

  /** One raw read, awaited here and handed to taken() (or its failure to failure()). */
  async next(): Promise<string> {
    let result: ReadResult;
    try {
      result = this.source.taken(await this.source.rawRead());
    } catch (error) {
      try {
        result = await this.source.failure(error);
      } catch (explained) {
        return this.said(`failed: ${(explained as Error).message}`);
      }
    }
    return this.said(result.done ? "end" : new TextDecoder().decode(result.value));
  }

  private said(what: string): string {
    this.seen.push(what);
    return what;
  }
}

describe("GuardedSource, read raw", () => {
  test("hands each chunk to the reader, in order, then the end", async () => {
    const recorder = new Recorder(await open(server.port!));
    for (;;) if ((await recorder.next()) === "end") break;
    expect(recorder.seen.join("")).toBe("data: one\n\ndata: two\n\ndata: three\n\nend");
    expect(recorder.seen.at(-1)).toBe("end");
  });

  test("after a release, the reader is handed the end, not a failure", async () => {
    const source = await open(server.port!);
    const recorder = new Recorder(source);
    expect(await recorder.next()).toStartWith("data: one\n\n");
    source.release();
    expect(await recorder.next()).toBe("end");
    expect(recorder.seen).toHaveLength(2);
  });

  test("a body the upstream cuts is a failure that says it broke off", async () => {
    const recorder = new Recorder(await open(cutter.port));
    let said = "";
    while (!said.startsWith("failed") && said !== "end") said = await recorder.next();
    expect(said).toStartWith("failed: ");
    expect(said).toContain('upstream "loop" broke off its answer');
  });

  test("a failure after a release is the end, not a fault", async () => {
    const source = await open(server.port!);
    source.release();
    expect(await source.failure(new TypeError("the connection was cut"))).toEqual({ done: true });
  });
});
