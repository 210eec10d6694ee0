import type { StreamEvent, Usage } from "../ir.ts";
import type { EventEndListener } from "../codecs/sse.ts";
import type { GuardedSource } from "../upstream/forward.ts";
import { untilFirstContent, type Peeked } from "./first-content.ts";

/*
 * A same-dialect stream is forwarded byte for byte, but it must still be read: to hold it back
 * until its first content event (the commit point), and to learn its usage. One reader serves
 * both, at the client's pace: until the commit the parser pulls and every chunk is kept; after
 * it, the client pulls (the kept chunks first) and hands each new chunk on to the parser.
 * The client's body is the only web stream: the parser is fed through a bare async iterator,
 * because each stream layer costs promises and a queue per chunk.
 */

export type Tapped =
  | { kind: "content"; body: ReadableStream<Uint8Array>; done: Promise<{ usage?: Usage; error?: unknown; reported: boolean; id?: string }> }
  | Exclude<Peeked, { kind: "content" }>;

type Handed = { value: Uint8Array } | { done: true } | { error: unknown };

export async function tapStream(
  source: GuardedSource,
  parse: (input: AsyncIterable<Uint8Array>) => AsyncIterable<StreamEvent>,
  upstream: string,
  /** The bytes that tell the client, in its own dialect, that the stream broke after the commit. */
  errorBytes: (error: unknown) => Uint8Array,
): Promise<Tapped> {
  const kept: Uint8Array[] = [];
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
  const take = (): Handed | Promise<Handed> => handed.shift() ?? new Promise<Handed>((resolve) => (waiting = resolve));

  /*
   * The client gets a chunk once the parser is past it, so that a stream is forwarded up to its
   * final event and not a byte further (data after it, in the same read or the next, is not the
   * answer's). The parser asking for chunk n means it is done with chunk n - 1.
   */
  let asked = 0;
  let lastEventEnd: { chunk: number; offset: number } | undefined;
  /** Set when the parser has stopped: where the final event ended, if it ended with one. */
  let parserStopped = false;
  let finalEnd: { chunk: number; offset: number } | undefined;
  let progressed: (() => void) | undefined;
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
      return "done" in item ? ended : { done: false, value: item.value };
    }
    const read = await source.read();
    if (read.done) return ended;
    kept.push(read.value);
    return read;
  };
  // The parser stopping early must never stop the client's stream.
  const parserInput: AsyncIterable<Uint8Array> & EventEndListener = {
    [Symbol.asyncIterator]: () => ({ next, return: async () => ended }),
    eventEnded: (offset) => {
      lastEventEnd = { chunk: asked - 1, offset };
    },
  };

  const peeked = await untilFirstContent(parse(parserInput), upstream);
  if (peeked.kind !== "content") {
    await source.cancel().catch(() => {});
    return peeked;
  }
  committed = true;

  // The rest of the events are read only for their usage; the bytes go to the client unchanged.
  const done = (async () => {
    let usage: Usage | undefined;
    let id: string | undefined;
    let error: unknown;
    // An error event the upstream sent is in the bytes the client already has.
    let reported = false;
    try {
      for await (const event of peeked.events) {
        if (event.type === "usage" || event.type === "start" || event.type === "finish") usage = event.usage;
        if (event.type === "start") id = event.id;
        if (event.type === "error") {
          error = new Error(event.message);
          reported = true;
        }
      }
      // The dialect's final event has arrived: the answer is whole, and ends where that event does.
      finalEnd = lastEventEnd;
    } catch (thrown) {
      error = thrown;
    }
    parserStopped = true;
    progress();
    return { usage, error, reported, id };
  })();

  let forwarded = 0;
  const finish = async (controller: ReadableStreamDefaultController<Uint8Array>, last: Uint8Array) => {
    if (last.length > 0) controller.enqueue(last);
    // The final event's blank line ended with a CR whose LF is still on its way: pass it on too.
    if (last[last.length - 1] === 13) {
      const after = await source.read().catch(() => ({ done: true as const }));
      if (!after.done && after.value[0] === 10) controller.enqueue(after.value.subarray(0, 1));
    }
    controller.close();
    // The body may stay open (a proxy or an HTTP/2 hop holding it): let go of it.
    void source.cancel();
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = kept.shift();
      if (!chunk) {
        if (finalEnd) return finish(controller, new Uint8Array(0));
        try {
          const { done: finished, value } = await source.read();
          if (finished) {
            // A clean end is not a complete answer until the parser has seen the dialect's last event.
            hand({ done: true });
            const verdict = await done;
            if (verdict.error && !verdict.reported) controller.enqueue(errorBytes(verdict.error));
            controller.close();
            return;
          }
          hand({ value });
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
      while (!parserStopped && asked <= number + 1) await new Promise<void>((resolve) => (progressed = resolve));
      if (finalEnd && number >= finalEnd.chunk) return finish(controller, number === finalEnd.chunk ? chunk.subarray(0, finalEnd.offset) : new Uint8Array(0));
      controller.enqueue(chunk);
    },
    cancel(reason) {
      hand({ done: true });
      return source.cancel(reason);
    },
  });
  return { kind: "content", body, done };
}
