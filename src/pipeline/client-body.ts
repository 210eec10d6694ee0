import type { RawRead } from "../upstream/forward.ts";

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

/**
 * A writer's step that waits on the upstream's own read: the loop that drives the writer awaits
 * `writer.reading` itself and hands what it settles with to `took` (or why it failed to
 * `readFailed`). A then of the writer's own around the read was a promise and a reaction more a
 * chunk of every stream.
 */
export const READING: unique symbol = Symbol("reading");

/** What a writer's step gives its driver: nothing to wait for, a promise to wait for, or a read. */
export type Step = Promise<void> | undefined | typeof READING;

/** What writes a client's body, one step at a time, through its outlet. */
export interface BodyWriter {
  readonly outlet: ClientOutlet;
  /**
   * Writes the next chunk (or closes the outlet); a promise when the step waits (for the client
   * to take what it has, say), READING when it waits for the upstream's read. Called again until
   * the outlet is closed.
   */
  pull(): Step;
  /** The read a READING step waits for (set by the step that said READING). */
  readonly reading: Promise<RawRead> | undefined;
  /** What the read settled with: the next step. */
  took(raw: RawRead): Step;
  /** Why the read failed: the next step (never READING). */
  readFailed(error: unknown): Promise<void> | undefined;
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

/**
 * A direct stream's one pull: the writer's steps until its body is closed or its client gone.
 * Not async: an async function here around steps() was a promise and its reactions a stream.
 */
function writeAll(writer: BodyWriter, controller: DirectController): Promise<void> {
  writer.outlet.attachDirect(controller);
  // No step yet: steps() pulls the first (unless the client went before the body was pulled).
  return steps(writer, undefined, true);
}

/** As the cancel the runtime makes when the client goes (a writer takes a second one calmly). */
function cancelIfGone(writer: BodyWriter): undefined {
  if (writer.outlet.gone) writer.cancel(undefined);
  return undefined;
}

/**
 * A step as a promise, or nothing to wait for: where it is READING, its read awaited, and the
 * steps that follow it until one is not a read. For a step taken where only a promise will do
 * (a standard stream's pull, a writer's own then).
 */
export function settled(writer: BodyWriter, step: Step): Promise<void> | undefined {
  return step === READING ? steps(writer, step, false) : step;
}

/**
 * The writer's steps from `first`, a READING step's read awaited here (see READING): until its
 * outlet is closed (`untilClosed`, a direct stream's one pull), or until a step is not a read.
 */
async function steps(writer: BodyWriter, first: Step, untilClosed: boolean): Promise<void> {
  let step = first;
  for (;;) {
    while (step === READING) {
      let raw: RawRead;
      try {
        raw = await writer.reading!;
      } catch (error) {
        step = writer.readFailed(error);
        break;
      }
      step = writer.took(raw);
    }
    if (step) await step;
    if (!untilClosed) return;
    if (writer.outlet.closed) return cancelIfGone(writer);
    step = writer.pull();
  }
}

/** A standard stream's source over a writer: the stream asks for each step itself. */
class StandardSource {
  constructor(private readonly writer: BodyWriter) {}

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.writer.outlet.attachStandard(controller);
  }

  pull(): Promise<void> | undefined {
    return settled(this.writer, this.writer.pull());
  }

  cancel(reason: unknown): void | Promise<void> {
    this.writer.outlet.closed = true;
    return this.writer.cancel(reason);
  }
}
