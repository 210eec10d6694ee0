import type { GuardedSource, RawRead, ReadResult } from "../../src/upstream/forward.ts";

const encoder = new TextEncoder();

/** An upstream body as the HTTP client hands it on, read from these chunks, one a read. */
export function guardedSourceOf(chunks: string[]): GuardedSource {
  let next = 0;
  const rawRead = async (): Promise<RawRead> =>
    next < chunks.length ? { done: false, value: encoder.encode(chunks[next++]!) } : { done: true };
  const taken = (raw: RawRead): ReadResult =>
    raw.done ? { done: true } : { done: false, value: raw.value! };
  return {
    read: () => rawRead().then(taken),
    rawRead,
    taken,
    failure: (error) => Promise.reject(error),
    cancel: async () => {},
    release: () => {},
  };
}
