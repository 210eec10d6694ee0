/*
 * The client's body of a stream levity writes itself: a forwarded stream's tap (tap.ts) and a
 * translated stream (translated-stream.ts). On Bun it is a direct stream, whose chunks go to the
 * server's sink as they are written: the sink of a standard stream read each one back, a read
 * request, a promise and their reactions for every chunk, and two errors at each stream's end.
 * Deno has no direct streams: there it is a standard stream whose source is the writer.
 */

/** Bun's streams written straight to their destination (`type: "direct"`). */
const DIRECT_STREAMS = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** As much of a direct stream's controller as an outlet uses (Bun's ReadableStreamDirectController). */
type DirectController = Pick<ReadableStreamDirectController, "write" | "close">;

/** What writes a client's body, one step at a time, through its outlet. */
export interface BodyWriter {
  readonly outlet: ClientOutlet;
  /**
   * Writes the next chunk (or closes the outlet); a promise when the step waits (for the
   * upstream, or for the client to take what it has). Called again until the outlet is closed.
   */
  pull(): Promise<void> | undefined;
  /** The client has gone: a promise while the upstream is let go. */
  cancel(reason: unknown): void | Promise<void>;
}

function ignoreCount(): void {}

/** Where a stream's chunks go: a standard stream's controller, or a direct stream's. */
export class ClientOutlet {
  /** The body is closed, or the client has gone: nothing more is written. */
  closed = false;
  /** A write found the client gone (before, or without, the stream's cancel). */
  gone = false;
  private standard: ReadableStreamDefaultController<Uint8Array> | undefined = undefined;
  private direct: DirectController | undefined = undefined;

  /** The body's controller, whichever kind of stream it is: set once, when the stream starts. */
  attachDirect(controller: DirectController): void {
    this.direct = controller;
  }

  attachStandard(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.standard = controller;
  }

  /** A chunk to the client; a promise only while a direct stream's destination is full. */
  put(chunk: Uint8Array | string): Promise<void> | undefined {
    if (this.closed) return undefined;
    const direct = this.direct;
    if (!direct) {
      this.standard!.enqueue(typeof chunk === "string" ? ENCODER.encode(chunk) : chunk);
      return undefined;
    }
    const written = direct.write(chunk);
    // Rare: waited for before the writer reads any more from the upstream.
    if (typeof written !== "number") return written.then(ignoreCount);
    // The destination has gone before its cancel came: nothing more is written.
    if (written === 0 && chunk.length > 0) this.closed = this.gone = true;
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.direct) this.direct.close();
    else this.standard!.close();
  }

  /** Ends the body with an error: the client that is still reading sees it fail, not end. */
  fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.direct) this.direct.close(error);
    else this.standard!.error(error);
  }
}

const ENCODER = new TextEncoder();

/**
 * The client's body, written by `writer`: a direct stream on Bun, a standard one elsewhere
 * (`direct` says which: its tests take both kinds on Bun).
 */
export function clientBody(
  writer: BodyWriter,
  direct: boolean = DIRECT_STREAMS,
): ReadableStream<Uint8Array> {
  if (!direct) return new ReadableStream<Uint8Array>(new StandardSource(writer));
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    pull: (controller) => writeAll(writer, controller),
    // What the writer's cancel returns is returned: a caller that awaits a cancel waits for the upstream to be let go.
    cancel: (reason) => {
      writer.outlet.closed = true;
      return writer.cancel(reason);
    },
  };
  return new ReadableStream<Uint8Array>(source);
}

/** A direct stream's one pull: the writer's steps until its body is closed or its client gone. */
async function writeAll(writer: BodyWriter, controller: DirectController): Promise<void> {
  const { outlet } = writer;
  outlet.attachDirect(controller);
  while (!outlet.closed) {
    const waiting = writer.pull();
    if (waiting) await waiting;
  }
  // As the cancel the runtime makes when the client goes (a writer takes a second one calmly).
  if (outlet.gone) writer.cancel(undefined);
}

/** A standard stream's source over a writer: the stream asks for each step itself. */
class StandardSource {
  constructor(private readonly writer: BodyWriter) {}

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.writer.outlet.attachStandard(controller);
  }

  pull(): Promise<void> | undefined {
    return this.writer.pull();
  }

  cancel(reason: unknown): void | Promise<void> {
    this.writer.outlet.closed = true;
    return this.writer.cancel(reason);
  }
}
