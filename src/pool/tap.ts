import type { StreamEvent, Usage } from "../ir.ts";
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

  const ended: IteratorResult<Uint8Array> = { done: true, value: undefined };
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
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
  const parserInput: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next, return: async () => ended }) };

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
      // The dialect's final event has arrived: the answer is whole. The body may stay open (a
      // proxy or an HTTP/2 hop holding it), so let go of it: the client's pending read ends cleanly.
      void source.cancel();
    } catch (thrown) {
      error = thrown;
    }
    return { usage, error, reported, id };
  })();

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const first = kept.shift();
      if (first) {
        controller.enqueue(first);
        return;
      }
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
        controller.enqueue(value);
      } catch (error) {
        // After the commit a failure is an error event in the client's dialect, never a quiet end.
        hand({ error });
        controller.enqueue(errorBytes(error));
        controller.close();
      }
    },
    cancel(reason) {
      hand({ done: true });
      return source.cancel(reason);
    },
  });
  return { kind: "content", body, done };
}
