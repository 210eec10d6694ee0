import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import type { RawRead } from "../upstream/forward.ts";
import { type BodyWriter, ClientOutlet, clientBody, READING, type Step } from "./client-body.ts";
import { waitUntil } from "../../test/support/wait.ts";

/*
 * The client's body of a stream levity writes itself, of both kinds (Bun's direct stream, and the
 * standard stream Deno gets), read in the process and, for what only a socket shows (the client
 * going, a client that stops reading), served on loopback by Bun.serve as levity serves it.
 */

/**
 * A writer of `chunks`, one a step, that counts its steps and the cancels it gets. `reads` says
 * how each chunk comes: written at once, or as a forwarded stream's do, from a read its driver
 * awaits (a READING step; an empty read in between that gives nothing to write, and the ending
 * error as the read's failure).
 */
class CountingWriter implements BodyWriter {
  readonly outlet = new ClientOutlet();
  steps = 0;
  cancels = 0;
  reading: Promise<RawRead> | undefined = undefined;
  private next = 0;
  /** The next read is an empty one: the driver must come back with a second read. */
  private emptyRead = true;

  constructor(
    private readonly chunks: readonly (string | Uint8Array)[],
    /** What ends the body once the chunks are written: a close, or a failure. */
    private readonly ending: Error | undefined = undefined,
    /** Waits this long before each step, as a writer waiting for its upstream. */
    private readonly stepMs = 0,
    private readonly reads = false,
  ) {}

  pull(): Step {
    this.steps++;
    if (this.reads) return this.read();
    return this.stepMs > 0 ? Bun.sleep(this.stepMs).then(() => this.step()) : this.step();
  }

  private read(): typeof READING {
    const waited = this.stepMs > 0 ? Bun.sleep(this.stepMs) : Promise.resolve();
    this.emptyRead = !this.emptyRead;
    if (this.emptyRead)
      this.reading = waited.then(() => ({ done: false, value: new Uint8Array() }));
    else if (this.next < this.chunks.length) {
      const chunk = this.chunks[this.next++]!;
      const value = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
      this.reading = waited.then(() => ({ done: false, value }));
    } else {
      const { ending } = this;
      this.reading = waited.then(() => (ending ? Promise.reject(ending) : { done: true }));
    }
    return READING;
  }

  took(raw: RawRead): Step {
    if (raw.done) {
      this.outlet.close();
      return undefined;
    }
    // An empty read: nothing to write, and the next read at once.
    if (raw.value!.length === 0) return this.read();
    return this.outlet.put(raw.value!);
  }

  readFailed(error: unknown): undefined {
    this.outlet.fail(error as Error);
    return undefined;
  }

  private step(): Promise<void> | undefined {
    if (this.next < this.chunks.length) return this.outlet.put(this.chunks[this.next++]!);
    if (this.ending) this.outlet.fail(this.ending);
    else this.outlet.close();
    return undefined;
  }

  cancel(): void {
    this.cancels++;
  }
}

const KINDS = [
  ["a direct stream (Bun), chunks written", true, false],
  ["a standard stream (Deno), chunks written", false, false],
  ["a direct stream (Bun), chunks from reads its driver awaits", true, true],
  ["a standard stream (Deno), chunks from reads its driver awaits", false, true],
] as const;

describe.each(KINDS)("%s", (_, direct, reads) => {
  test("text and bytes reach the reader in order, whole, and the body ends", async () => {
    const writer = new CountingWriter(
      ["data: 1\n\n", new TextEncoder().encode("data: é\n\n"), "x"],
      undefined,
      0,
      reads,
    );
    expect(await new Response(clientBody(writer, direct)).text()).toBe("data: 1\n\ndata: é\n\nx");
    expect(writer.cancels).toBe(0);
  });

  test("a failure after some chunks: the reader gets them, then the error, not a quiet end", async () => {
    const writer = new CountingWriter(["data: 1\n\n"], new Error("the upstream broke"), 0, reads);
    const reader = clientBody(writer, direct).getReader();
    let text = "";
    const decoder = new TextDecoder();
    const failure = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          text += decoder.decode(value);
        }
      } catch (error) {
        return error;
      }
    })();
    expect((failure as Error | undefined)?.message).toBe("the upstream broke");
    // A direct stream that fails drops what it had not handed over; a standard one has handed it.
    if (!direct) expect(text).toBe("data: 1\n\n");
  });

  test("a reader that cancels: the writer is told once and writes no more", async () => {
    const writer = new CountingWriter(
      Array.from({ length: 50 }, (_, i) => `data: ${i}\n\n`),
      undefined,
      5,
      reads,
    );
    const reader = clientBody(writer, direct).getReader();
    await reader.read();
    await reader.cancel("gone");
    const steps = writer.steps;
    await Bun.sleep(50);
    expect(writer.cancels).toBe(1);
    expect(writer.outlet.closed).toBe(true);
    // At most the step under way when the reader left.
    expect(writer.steps - steps).toBeLessThanOrEqual(1);
  });
});

describe.each([
  ["chunks written", false],
  ["chunks from reads its driver awaits", true],
] as const)("served on loopback as levity serves a stream (a direct stream), %s", (_, reads) => {
  let writer: CountingWriter;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () =>
      new Response(clientBody(writer), { headers: { "content-type": "text/event-stream" } }),
  });
  afterAll(() => server.stop(true));

  /** A raw client: sends the request, and reads as long as `reading` says. */
  function rawClient(): { socket: Socket; received: () => number; opened: Promise<void> } {
    let received = 0;
    const socket = connect(server.port!, "127.0.0.1");
    socket.on("data", (data: Buffer) => {
      received += data.length;
    });
    socket.on("error", () => {});
    const opened = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    void opened.then(() => socket.write("GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
    return { socket, received: () => received, opened };
  }

  test("a client that goes mid-stream: the writer is told once, and stops", async () => {
    writer = new CountingWriter(
      Array.from({ length: 1000 }, (_, i) => `data: ${i}\n\n`),
      undefined,
      5,
      reads,
    );
    const client = rawClient();
    await waitUntil("the first bytes", () => client.received() > 0, 5000);
    client.socket.destroy();
    await waitUntil("the writer's cancel", () => writer.cancels > 0, 5000);
    const steps = writer.steps;
    await Bun.sleep(100);
    expect(writer.cancels).toBe(1);
    expect(writer.steps - steps).toBeLessThanOrEqual(1);
  });

  test("a client that stops reading holds the writer back; once it reads again, every byte arrives", async () => {
    // 64 MB in 64 KB chunks, far more than the sockets' and the server's buffers hold.
    const chunk = new Uint8Array(64 * 1024).fill(120);
    const chunks = Array.from({ length: 1024 }, () => chunk);
    writer = new CountingWriter(chunks, undefined, 0, reads);
    const client = rawClient();
    await client.opened;
    client.socket.pause();
    // The writer fills what the buffers take, then waits on its write.
    await waitUntil("the first step", () => writer.steps > 0, 5000);
    let steady = -1;
    await waitUntil(
      "the writer held back",
      () => {
        const same = writer.steps === steady;
        steady = writer.steps;
        return same;
      },
      5000,
      10,
    );
    expect(writer.steps).toBeLessThan(chunks.length / 2);
    client.socket.resume();
    await waitUntil("all 64 MB", () => client.received() >= 64 * 1024 * 1024, 20_000);
    // The step that ends the body may come after the client has the last byte: with chunks from
    // reads, it follows one more read (seen in CI as 1,024 steps of 1,025).
    await waitUntil("the writer's last step", () => writer.steps > chunks.length, 5000);
    expect(writer.steps).toBe(chunks.length + 1);
    client.socket.destroy();
  });
});
