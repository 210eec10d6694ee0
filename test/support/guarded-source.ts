import type { GuardedSource, ReadResult } from "../../src/upstream/forward.ts";

const encoder = new TextEncoder();

/** An upstream body as the HTTP client hands it on, read from these chunks, one a read. */
export function guardedSourceOf(chunks: string[]): GuardedSource {
  let next = 0;
  const read = async (): Promise<ReadResult> =>
    next < chunks.length ? { done: false, value: encoder.encode(chunks[next++]!) } : { done: true };
  return {
    read,
    readInto: (reader) => read().then(reader.onRead, reader.onFailure),
    cancel: async () => {},
    release: () => {},
  };
}
