import type { StreamEvent } from "../ir.ts";
import type { Emit, StreamParser } from "../codecs/sse.ts";
import type { GuardedSource, RawRead, ReadResult } from "../upstream/forward.ts";

/*
 * A translated stream's events, a batch at a time: from an HTTP upstream, the events of each
 * chunk it sent, read by the dialect's parser as the chunk arrives. The reader (translated
 * stream's body, translated-stream.ts) asks once a chunk, not once an event.
 */
export interface EventBatches {
  /**
   * The next events, at least one; undefined once the stream has ended (its final event was in
   * the last batch, or its body ended). The list is reused: it is read before the next call.
   * Rejects when the stream breaks (a read, or the parser's finding).
   */
  next(): Promise<readonly StreamEvent[] | undefined>;
  /**
   * Where the batches come from an upstream's body: that body's own read of the next chunk, for a
   * reader that awaits it itself and hands what it settles with to batchOf (a then of next()'s
   * around the read, and a second for the reader's, were four objects a chunk: client-body.ts).
   * Undefined once the stream has ended or broken: next() then says what is left.
   */
  rawRead?(): Promise<RawRead> | undefined;
  /** A raw read's events as next() gives them, or READ_AGAIN where it made none; throws where the stream broke. */
  batchOf?(raw: RawRead): readonly StreamEvent[] | undefined | typeof READ_AGAIN;
  /** A raw read's failure as next() gives it: the batches after a release (none: undefined), else why it broke. */
  failure?(error: unknown): Promise<readonly StreamEvent[] | undefined>;
  /** The reader is done (the client left, or the answer is whole): lets go of the body. */
  stop(): void;
}

/** What ParsedBatches.parsed says of a read that made no events: the next read is wanted. */
export const READ_AGAIN: unique symbol = Symbol("read again");

/** An upstream's body, pushed to its dialect's parser a chunk at a time. */
export class ParsedBatches implements EventBatches {
  private readonly ready: StreamEvent[] = [];
  private parser!: StreamParser;
  private ended = false;
  private stopped = false;
  /** The parser broke after handing on some of a chunk's events: its error, for the next call. */
  private broken = false;
  private brokenWith: unknown;

  /** `open` makes the parser with emit; without it, the caller gives it to parseWith. */
  constructor(
    private readonly source: GuardedSource,
    open?: (emit: Emit) => StreamParser,
  ) {
    if (open) this.parser = open(this.emit);
  }

  /** What the parser hands its events to: the batch being read. */
  readonly emit: Emit = (event) => {
    this.ready.push(event);
  };

  /**
   * The parser, made by the caller with emit: a function to make it, taking what the parser is
   * made of, was a closure and its scope for every stream.
   */
  parseWith(parser: StreamParser): this {
    this.parser = parser;
    return this;
  }

  /**
   * Not async: a read's then, with a handler made once a stream, where an async function made
   * a suspended call, its scope and a resumption for every chunk.
   */
  next(): Promise<readonly StreamEvent[] | undefined> {
    if (this.broken) return Promise.reject(this.brokenWith);
    this.ready.length = 0;
    if (this.ended) return Promise.resolve(undefined);
    return this.source.read().then(this.onRead);
  }

  rawRead(): Promise<RawRead> | undefined {
    if (this.broken || this.ended) return undefined;
    this.ready.length = 0;
    return this.source.rawRead();
  }

  batchOf(raw: RawRead): readonly StreamEvent[] | undefined | typeof READ_AGAIN {
    return this.parsed(this.source.taken(raw));
  }

  failure(error: unknown): Promise<readonly StreamEvent[] | undefined> {
    return this.source.failure(error).then(this.onRead);
  }

  /** One read's events; the next read where it made none. */
  private readonly onRead = (
    read: ReadResult,
  ): readonly StreamEvent[] | undefined | Promise<readonly StreamEvent[] | undefined> => {
    const batch = this.parsed(read);
    return batch === READ_AGAIN ? this.source.read().then(this.onRead) : batch;
  };

  /** One read's events (undefined once the stream has ended), or READ_AGAIN where it made none. */
  private parsed(read: ReadResult): readonly StreamEvent[] | undefined | typeof READ_AGAIN {
    const ready = this.ready;
    try {
      if (read.done) {
        this.ended = true;
        this.parser.end();
      } else if (this.parser.push(read.value, 0, read.value.length) >= 0) {
        // The final event has arrived: whatever the body does after it is not the answer's.
        this.ended = true;
        this.stop();
      }
    } catch (error) {
      // The events read before the break come first (content before it commits the answer),
      // the break with the next call.
      this.ended = true;
      if (ready.length === 0) throw error;
      this.broken = true;
      this.brokenWith = error;
    }
    if (ready.length > 0) return ready;
    if (this.ended) return undefined;
    return READ_AGAIN;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.source.release();
  }
}

/**
 * Events from an iterator already started (the echo upstream's, whose first step is taken before
 * the answer is committed to, as an HTTP upstream fails before its first byte), one a batch.
 */
export function eventBatchesOf(
  events: AsyncIterator<StreamEvent>,
  first: IteratorResult<StreamEvent>,
): EventBatches {
  let step: IteratorResult<StreamEvent> | undefined = first;
  const one: StreamEvent[] = [];
  return {
    async next() {
      const taken = step ?? (await events.next());
      step = undefined;
      if (taken.done) return undefined;
      one[0] = taken.value;
      return one;
    },
    stop() {
      void events.return?.();
    },
  };
}
