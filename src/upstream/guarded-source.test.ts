import { afterAll, describe, expect, test } from "bun:test";
import type { Timeouts, Upstream } from "../config/snapshot.ts";
import { type ChunkReader, type ReadResult, UpstreamClient } from "./forward.ts";

/*
 * A guarded source's readInto against a real upstream on loopback: the reader is handed what
 * read() would have given, chunk for chunk, the end after a release, and a cut body as a failure
 * that says the upstream broke off.
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

/** A reader that writes down what it is handed. */
class Recorder implements ChunkReader<string> {
  readonly seen: string[] = [];
  onRead(result: ReadResult): string {
    const said = result.done ? "end" : new TextDecoder().decode(result.value);
    this.seen.push(said);
    return said;
  }
  onFailure(error: unknown): string {
    const said = `failed: ${(error as Error).message}`;
    this.seen.push(said);
    return said;
  }
}

describe("GuardedSource.readInto", () => {
  test("hands each chunk to the reader, in order, then the end", async () => {
    const source = await open(server.port!);
    const recorder = new Recorder();
    for (;;) if ((await source.readInto(recorder)) === "end") break;
    expect(recorder.seen.join("")).toBe("data: one\n\ndata: two\n\ndata: three\n\nend");
    expect(recorder.seen.at(-1)).toBe("end");
  });

  test("after a release, the reader is handed the end, not a failure", async () => {
    const source = await open(server.port!);
    const recorder = new Recorder();
    expect(await source.readInto(recorder)).toStartWith("data: one\n\n");
    source.release();
    expect(await source.readInto(recorder)).toBe("end");
    expect(recorder.seen).toHaveLength(2);
  });

  test("a body the upstream cuts is a failure that says it broke off", async () => {
    const source = await open(cutter.port);
    const recorder = new Recorder();
    let said = "";
    while (!said.startsWith("failed") && said !== "end") said = await source.readInto(recorder);
    expect(said).toStartWith("failed: ");
    expect(said).toContain('upstream "loop" broke off its answer');
  });
});
