/*
 * The counting rules of a key's limits, as pure functions of a state and a clock, so that a store
 * shared by many instances (issue 19) can apply the same rules to its own copy of the state.
 *
 * Requests and tokens per minute count over a sliding 60-second window kept as 60 one-second
 * buckets: what was counted in the last 60 whole seconds. Daily tokens count per UTC day, spend
 * per UTC calendar month: a budget has a reset time a person can be told.
 */

export const WINDOW_SECONDS = 60;

/**
 * A sliding window: bucket i holds what was counted in second `seconds[i]` (i = second % 60), and
 * `total` what the buckets of the 60 seconds up to `through` hold together (no bucket is ever
 * later than `through`). A key's limits are checked on every request: summing sixty buckets each
 * time, over a thousand keys' windows that are cold in the cache, cost more than the rest of the
 * check, so the total is kept as buckets change.
 */
export interface SlidingWindow {
  seconds: number[];
  amounts: number[];
  total: number;
  /** The latest second the total is kept for; -1 before anything was counted. */
  through: number;
}

export function emptyWindow(): SlidingWindow {
  return {
    seconds: new Array(WINDOW_SECONDS).fill(-1),
    amounts: new Array(WINDOW_SECONDS).fill(0),
    total: 0,
    through: -1,
  };
}

/** Whether bucket `second` is among the 60 seconds up to `nowSecond`. */
const inWindow = (second: number, nowSecond: number) =>
  second > nowSecond - WINDOW_SECONDS && second <= nowSecond;

/** What the window holds at `nowSecond`, summed bucket by bucket (for a second before `through`). */
function summed(window: SlidingWindow, nowSecond: number): number {
  let total = 0;
  for (let i = 0; i < WINDOW_SECONDS; i++)
    if (inWindow(window.seconds[i]!, nowSecond)) total += window.amounts[i]!;
  return total;
}

/** Moves the total on to `nowSecond`: the buckets that left the window since leave the total. */
function advance(window: SlidingWindow, nowSecond: number): void {
  if (nowSecond <= window.through) return;
  if (nowSecond - window.through >= WINDOW_SECONDS) window.total = 0;
  else
    for (
      let second = window.through - WINDOW_SECONDS + 1;
      second <= nowSecond - WINDOW_SECONDS;
      second++
    ) {
      const i = second % WINDOW_SECONDS;
      if (second >= 0 && window.seconds[i] === second) window.total -= window.amounts[i]!;
    }
  window.through = nowSecond;
}

/**
 * What the window holds at `nowSecond`: the buckets of the last 60 seconds, this one included.
 * Asked for `through` or later, it moves the total on to `nowSecond` (no bucket is added).
 */
export function windowTotal(window: SlidingWindow, nowSecond: number): number {
  if (nowSecond < window.through) return summed(window, nowSecond);
  advance(window, nowSecond);
  return window.total;
}

/** The total made again from the buckets (a window read back from the state database). */
export function recount(window: SlidingWindow): void {
  window.through = Math.max(-1, ...window.seconds);
  window.total = window.through < 0 ? 0 : summed(window, window.through);
}

/** Adds to the bucket of `second` if it is still in the window at `nowSecond`; returns whether it was. */
export function addToWindow(
  window: SlidingWindow,
  second: number,
  amount: number,
  nowSecond = second,
): boolean {
  // Before 1970 there is no bucket (a negative second has no index among the sixty).
  if (second < 0 || second <= nowSecond - WINDOW_SECONDS) return false;
  // A second after now (a ticket timed by the shared store's clock, ahead of this one's) moves
  // the total on to it, so the total still covers every bucket up to `through`.
  advance(window, Math.max(nowSecond, second));
  const i = second % WINDOW_SECONDS;
  const counted = inWindow(second, window.through);
  if (window.seconds[i] !== second) {
    if (inWindow(window.seconds[i]!, window.through)) window.total -= window.amounts[i]!;
    window.seconds[i] = second;
    window.amounts[i] = 0;
  }
  const next = Math.max(0, window.amounts[i]! + amount);
  if (counted) window.total += next - window.amounts[i]!;
  window.amounts[i] = next;
  return true;
}

/**
 * Seconds until the window has room for `need` more under `limit`: the buckets leave it oldest
 * first. At least 1, since a refused request was refused now.
 */
export function secondsUntilRoom(
  window: SlidingWindow,
  nowSecond: number,
  limit: number,
  need: number,
): number {
  const live: { second: number; amount: number }[] = [];
  for (let i = 0; i < WINDOW_SECONDS; i++) {
    const second = window.seconds[i]!;
    if (second > nowSecond - WINDOW_SECONDS && second <= nowSecond)
      live.push({ second, amount: window.amounts[i]! });
  }
  live.sort((a, b) => a.second - b.second);
  let total = live.reduce((sum, bucket) => sum + bucket.amount, 0);
  for (const bucket of live) {
    if (total + need <= limit || total === 0) break;
    total -= bucket.amount;
    // The bucket of second s counts until s + 59 and has left the window at s + 60.
    if (total + need <= limit || total === 0)
      return Math.max(1, bucket.second + WINDOW_SECONDS - nowSecond);
  }
  return 1;
}

const DAY_MS = 86_400_000;

/** The UTC day a time falls in, as days since 1970-01-01. */
export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** "2026-11": the UTC month a time falls in. */
export function utcMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** The next 00:00 UTC after `ms`. */
export function nextUtcDay(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

/** The 1st of the next month, 00:00 UTC, after `ms`. */
export function nextUtcMonth(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
