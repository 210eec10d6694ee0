import type { StreamEvent, Usage } from "../ir.ts";
import type { EventEndListener, EventLimited } from "../codecs/sse.ts";
import type { GuardedSource } from "../upstream/forward.ts";
import { DEFAULT_UPSTREAM_LIMITS, overLimit, type UpstreamLimits } from "../upstream-limits.ts";
import { untilFirstContent, type Peeked } from "./first-content.ts";
import { type SkippableData, SseSkimmer } from "../codecs/sse-skim.ts";
import { indexOfBytes } from "../codecs/json-bytes.ts";

/*
 * A same-dialect stream is forwarded byte for byte, but it must still be read: to hold it back
 * until its first content event (the commit point), and to learn its usage. One reader serves
 * both, at the client's pace: until the commit the parser pulls and every chunk is kept; after
 * it, the client pulls (the kept chunks first) and hands each new chunk on to the parser.
 * The client's body is the only web stream: the parser is fed through a bare async iterator,
 * because each stream layer costs promises and a queue per chunk.
 */

export type Tapped =
  | {
      kind: "content";
      body: ReadableStream<Uint8Array>;
      done: Promise<{ usage?: Usage; error?: unknown; reported: boolean; id?: string }>;
    }
  | Extract<Peeked, { kind: "failed" }>;

/** A range of chunk number `chunk`, from byte `start`, for the parser. */
type Handed =
  | { value: Uint8Array; chunk: number; start: number }
  | { done: true }
  | { error: unknown };

export async function tapStream(
  source: GuardedSource,
  parse: (input: AsyncIterable<Uint8Array>) => AsyncIterable<StreamEvent>,
  upstream: string,
  /** The bytes that tell the client, in its own dialect, that the stream broke after the commit. */
  errorBytes: (error: unknown) => Uint8Array,
  /** Bytes the dialect's final event always holds: only a chunk that may hold one waits for the parser. */
  finalMarkers: readonly Uint8Array[],
  limits: Pick<UpstreamLimits, "heldBytes" | "eventBytes"> = DEFAULT_UPSTREAM_LIMITS,
  /** The dialect's plain deltas, which its parser need not read after the commit (sse-skim.ts). */
  skippable?: SkippableData,
): Promise<Tapped> {
  const kept: Uint8Array[] = [];
  // Every byte before the commit is held for the client: comments or empty events sent for ever
  // before any content would be held for ever.
  let keptBytes = 0;
  let committed = false;
  const handed: Handed[] = [];
  let waiting: ((item: Handed) => void) | undefined;
  const hand = (item: Handed) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(item);
    } else handed.push(item);
  };
  /** The next handed item: one already waiting, or the next to arrive. */
  const take = (): Handed | Promise<Handed> =>
    handed.shift() ?? new Promise<Handed>((resolve) => (waiting = resolve));

  /*
   * A chunk that may hold the final event goes to the client once the parser is past it, so that a
   * stream is forwarded up to its final event and not a byte further (data after it, in the same
   * read or the next, is not the answer's). The parser asking for range n (a chunk before the
   * commit, a part of one after it) means it is done with range n - 1. Any other chunk goes at
   * once: waiting on the parser for every chunk cost 12% of the chunks per second of 1,000
   * streams at once.
   */
  const mayHoldFinal = finalSpotter(finalMarkers);
  let asked = 0;
  /** Ranges handed to the parser so far (each chunk read before the commit is one). */
  let handedCount = 0;
  /** Where the range the parser reads now lies: its chunk's number and its first byte there. */
  let readingChunk = 0;
  let readingStart = 0;
  let lastEventEnd: { chunk: number; offset: number } | undefined;
  /** Set when the parser has stopped: where the final event ended, if it ended with one. */
  let parserStopped = false;
  let finalEnd: { chunk: number; offset: number } | undefined;
  let progressed: (() => void) | undefined;
  /** The client's pull is waiting on the upstream for its next chunk. */
  let reading = false;
  const progress = () => {
    const resolve = progressed;
    progressed = undefined;
    resolve?.();
  };

  const ended: IteratorResult<Uint8Array> = { done: true, value: undefined };
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    asked++;
    progress();
    if (committed) {
      const item = await take();
      if ("error" in item) throw item.error;
      if ("done" in item) return ended;
      readingChunk = item.chunk;
      readingStart = item.start;
      return { done: false, value: item.value };
    }
    const read = await source.read();
    if (read.done) return ended;
    readingChunk = asked - 1;
    readingStart = 0;
    keptBytes += read.value.length;
    if (keptBytes > limits.heldBytes)
      throw overLimit(
        upstream,
        "its stream's bytes before any content",
        limits.heldBytes,
        "held_mb",
      );
    kept.push(read.value);
    return read;
  };
  // The parser stopping early must never stop the client's stream.
  const parserInput: AsyncIterable<Uint8Array> & EventEndListener & EventLimited = {
    [Symbol.asyncIterator]: () => ({ next, return: async () => ended }),
    eventLimit: { bytes: limits.eventBytes, upstream },
    eventEnded: (offset) => {
      lastEventEnd = { chunk: readingChunk, offset: readingStart + offset };
    },
  };

  const peeked = await untilFirstContent(parse(parserInput), upstream);
  if (peeked.kind !== "content") {
    await source.cancel().catch(() => {});
    return peeked;
  }
  committed = true;
  handedCount = kept.length;
  // Only an SSE stream is skimmed: it follows the bytes the parser has read so far.
  const skimmer = skippable ? new SseSkimmer(skippable, limits.eventBytes) : undefined;
  if (skimmer) for (const chunk of kept) skimmer.follow(chunk);
  /** The chunk being skimmed, and its number, for handRange (made once, not per chunk). */
  let skimming: Uint8Array = new Uint8Array(0);
  let skimmingNumber = 0;
  const handRange = (start: number, end: number) => {
    handedCount++;
    hand({
      value: start === 0 && end === skimming.length ? skimming : skimming.subarray(start, end),
      chunk: skimmingNumber,
      start,
    });
  };

  // The rest of the events are read only for their usage; the bytes go to the client unchanged.
  const done = (async () => {
    let usage: Usage | undefined;
    let id: string | undefined;
    let error: unknown;
    // An error event the upstream sent is in the bytes the client already has.
    let reported = false;
    try {
      for await (const event of peeked.events) {
        if (event.type === "usage" || event.type === "start" || event.type === "finish")
          usage = event.usage;
        if (event.type === "start") id = event.id;
        if (event.type === "error") {
          error = new Error(event.message);
          reported = true;
        }
      }
      // The dialect's final event has arrived: the answer is whole, and ends where that event does.
      finalEnd = lastEventEnd;
      // A read for more is waiting on a body left open: it ends when the body is let go of, cleanly.
      if (reading) source.release();
    } catch (thrown) {
      error = thrown;
    }
    parserStopped = true;
    progress();
    return { usage, error, reported, id };
  })();

  let forwarded = 0;
  const finish = async (
    controller: ReadableStreamDefaultController<Uint8Array>,
    last: Uint8Array,
  ) => {
    if (last.length > 0) controller.enqueue(last);
    // The final event's blank line ended with a CR whose LF is still on its way: pass it on too.
    if (last[last.length - 1] === 13) {
      const after = await source.read().catch(() => ({ done: true as const }));
      if (!after.done && after.value[0] === 10) controller.enqueue(after.value.subarray(0, 1));
    }
    controller.close();
    // The body may stay open (a proxy or an HTTP/2 hop holding it): let go of it.
    source.release();
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = kept.shift();
      if (!chunk) {
        if (finalEnd) return finish(controller, new Uint8Array(0));
        try {
          reading = true;
          let read: Awaited<ReturnType<GuardedSource["read"]>>;
          try {
            read = await source.read();
          } finally {
            reading = false;
          }
          const { done: finished, value } = read;
          if (finished) {
            // A clean end is not a complete answer until the parser has seen the dialect's last event.
            hand({ done: true });
            const verdict = await done;
            if (verdict.error && !verdict.reported) controller.enqueue(errorBytes(verdict.error));
            controller.close();
            return;
          }
          // A parser that has stopped (at an error) reads nothing more: nothing is handed to it.
          if (!parserStopped) {
            if (skimmer) {
              skimming = value;
              skimmingNumber = forwarded;
              skimmer.skim(value, handRange);
            } else {
              handedCount++;
              hand({ value, chunk: forwarded, start: 0 });
            }
          }
          chunk = value;
        } catch (error) {
          // After the commit a failure is an error event in the client's dialect, never a quiet end.
          hand({ error });
          controller.enqueue(errorBytes(error));
          controller.close();
          return;
        }
      }
      const number = forwarded++;
      // The parser asking for range n + 1 means it is done with range n: with all handed so far.
      if (mayHoldFinal(chunk))
        while (!parserStopped && asked <= handedCount)
          await new Promise<void>((resolve) => (progressed = resolve));
      if (finalEnd && number >= finalEnd.chunk)
        return finish(
          controller,
          number === finalEnd.chunk ? chunk.subarray(0, finalEnd.offset) : new Uint8Array(0),
        );
      controller.enqueue(chunk);
    },
    cancel(reason) {
      hand({ done: true });
      return source.cancel(reason);
    },
  });
  return { kind: "content", body, done };
}

/**
 * Whether each chunk, in order, may hold the final event or its end: from the first chunk that
 * holds a marker (in it, or across its start and the end of the chunk before) on, since the
 * event's last bytes (its blank line) may come in a later chunk than the marker. Asked of every
 * chunk a stream forwards, so it allocates nothing per chunk: the last bytes are copied into one
 * buffer made per stream.
 */
export function finalSpotter(finalMarkers: readonly Uint8Array[]): (chunk: Uint8Array) => boolean {
  const overlap = Math.max(0, ...finalMarkers.map((marker) => marker.length - 1));
  // The last bytes read, for a marker that straddles two chunks (or more, when chunks are tiny).
  const tail = new Uint8Array(overlap);
  let tailLength = 0;
  let seen = false;
  return (chunk) => {
    if (seen) return true;
    for (let m = 0; m < finalMarkers.length && !seen; m++) {
      const marker = finalMarkers[m]!;
      seen =
        indexOfBytes(chunk, marker, 0, chunk.length) !== -1 ||
        straddles(tail, tailLength, chunk, marker);
    }
    if (overlap > 0) tailLength = keepLast(tail, tailLength, chunk);
    return seen;
  };
}

/** Moves the last bytes of (tail, then chunk) into tail, as many as it holds; their count. */
function keepLast(tail: Uint8Array, tailLength: number, chunk: Uint8Array): number {
  const size = tail.length;
  if (chunk.length >= size) {
    for (let i = 0; i < size; i++) tail[i] = chunk[chunk.length - size + i]!;
    return size;
  }
  const kept = Math.min(tailLength, size - chunk.length);
  tail.copyWithin(0, tailLength - kept, tailLength);
  for (let i = 0; i < chunk.length; i++) tail[kept + i] = chunk[i]!;
  return kept + chunk.length;
}

/** Whether the marker begins in the last bytes of before[0, beforeLength) and ends in `after`. */
function straddles(
  before: Uint8Array,
  beforeLength: number,
  after: Uint8Array,
  marker: Uint8Array,
): boolean {
  for (
    let split = Math.max(1, marker.length - after.length);
    split < marker.length && split <= beforeLength;
    split++
  ) {
    let matches = true;
    for (let i = 0; i < marker.length && matches; i++)
      matches = (i < split ? before[beforeLength - split + i] : after[i - split]) === marker[i];
    if (matches) return true;
  }
  return false;
}
