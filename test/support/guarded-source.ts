import type { GuardedSource } from "../../src/upstream/forward.ts";

const encoder = new TextEncoder();

/** An upstream body as the HTTP client hands it on, read from these chunks, one a read. */
export function guardedSourceOf(chunks: string[]): GuardedSource {
  let next = 0;
  return {
    read: async () =>
      next < chunks.length
        ? { done: false, value: encoder.encode(chunks[next++]!) }
        : { done: true },
    cancel: async () => {},
    release: () => {},
  };
}
