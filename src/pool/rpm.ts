/*
 * An account's requests-per-minute limit, over the start times of its recent requests: a sliding
 * minute, so a burst at the limit waits for its oldest start to leave the window, not for a
 * fixed minute to turn over.
 */

const MINUTE_MS = 60_000;

/** The starts still inside the minute before `now`, oldest first. */
export function withinMinute(starts: readonly number[], now: number): number[] {
  return starts.filter((t) => t > now - MINUTE_MS);
}

/**
 * When one more request may start under `rpm`, given the starts within the minute (oldest first):
 * at the limit, when the oldest leaves the window (after a reload lowered the limit, the caller
 * asks again then and waits for the next).
 */
export function rpmReadyAt(recent: readonly number[], rpm: number, now: number): number {
  if (recent.length < rpm) return now;
  return Math.max(now, recent[0]! + MINUTE_MS);
}
