import type { KeyCounters } from "./admission.ts";

/*
 * Where the counters are kept between restarts. The live counters are in memory (admission is on
 * every request's path and must not wait for a disk); they are written here in batches and read
 * back at start, so a restart does not reset a minute's window, a day's tokens or a month's spend.
 */
export interface CounterStore {
  load(): Map<string, KeyCounters>;
  save(entries: [string, KeyCounters][]): void;
  close(): void;
}

export function memoryCounterStore(): CounterStore {
  let saved = new Map<string, KeyCounters>();
  return {
    load: () => new Map([...saved].map(([name, c]) => [name, structuredClone(c)])),
    save(entries) {
      saved = new Map(saved);
      for (const [name, counters] of entries) saved.set(name, structuredClone(counters));
    },
    close() {},
  };
}
