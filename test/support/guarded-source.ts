import type { GuardedSource, ReadResult } from "../../src/upstream/forward.ts";

const encoder = new TextEncoder();

/** An upstream body as the HTTP client hands it on, read from these chunks, one a read. */
export function guardedSourceOf(chunks: string[]): GuardedSource {
  let next = 0;
  const read = async (): Promise<ReadResult> =>
    next < chunks.length ? { done: false, value: encoder.encode(chunks[next++]!) } : { done: true };
  return {
    read,
    // Called as methods, as the real source calls them: a reader's `this` is kept.
    readInto: (reader) =>
      read().then(
        (result) => reader.onRead(result),
        (error) => reader.onFailure(error),
      ),
    cancel: async () => {},
    release: () => {},
  };
}
