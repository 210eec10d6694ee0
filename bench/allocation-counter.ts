/*
 * Preloaded into a levity run from source by bench/allocations.ts (with the collector off): on
 * SIGUSR2 it writes how many objects of each type the JavaScript heap holds, as one JSON line
 * on stderr. Not part of levity.
 */
import { heapStats } from "bun:jsc";

process.on("SIGUSR2", () => {
  process.stderr.write(`ALLOCATIONS ${JSON.stringify(heapStats().objectTypeCounts)}\n`);
});
