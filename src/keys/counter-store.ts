import type { KeyCounters } from "./admission.ts";
import { emptyWindow, recount, type SlidingWindow, WINDOW_SECONDS } from "./windows.ts";

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

/** A window as stored: only its live buckets, [second, amount], since most of the sixty are empty. */
type StoredWindow = [number, number][];

function storedWindow(window: SlidingWindow): StoredWindow {
  const live: StoredWindow = [];
  for (let i = 0; i < WINDOW_SECONDS; i++)
    if (window.seconds[i]! >= 0 && window.amounts[i] !== 0)
      live.push([window.seconds[i]!, window.amounts[i]!]);
  return live;
}

function restoredWindow(stored: unknown): SlidingWindow {
  const window = emptyWindow();
  if (!Array.isArray(stored)) return window;
  for (const bucket of stored) {
    if (!Array.isArray(bucket)) continue;
    const [second, amount] = bucket as unknown[];
    if (typeof second !== "number" || typeof amount !== "number" || second < 0) continue;
    window.seconds[second % WINDOW_SECONDS] = second;
    window.amounts[second % WINDOW_SECONDS] = amount;
  }
  recount(window);
  return window;
}

/** One key's counters as the state database keeps them (in flight is this process's own: not kept). */
export function counterText(counters: KeyCounters): string {
  return JSON.stringify({
    requests: storedWindow(counters.requests),
    tokens: storedWindow(counters.tokens),
    day: counters.day,
    dayTokens: counters.dayTokens,
    month: counters.month,
    monthUsd: counters.monthUsd,
  });
}

/** The counters read back; anything unreadable starts from zero rather than stopping the gateway. */
export function countersFrom(text: string): KeyCounters {
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object") parsed = value as Record<string, unknown>;
  } catch {}
  const number = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return {
    requests: restoredWindow(parsed.requests),
    tokens: restoredWindow(parsed.tokens),
    day: number(parsed.day),
    dayTokens: number(parsed.dayTokens),
    month: typeof parsed.month === "string" ? parsed.month : "",
    monthUsd: number(parsed.monthUsd),
    inFlight: 0,
  };
}
