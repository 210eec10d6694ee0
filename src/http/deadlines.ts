/*
 * Deadlines without a timer each: every pending deadline sits in one set, and one sweep four
 * times a second fires those that are due. A timer per request costs more than the request's
 * own work on the hot path, and these limits are whole seconds.
 */

const SWEEP_MS = 250;

interface Pending {
  at: number;
  fire: () => void;
}

const pending = new Set<Pending>();
let sweeper: ReturnType<typeof setInterval> | undefined;

function sweep(): void {
  if (pending.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
    return;
  }
  const now = performance.now();
  for (const p of pending) {
    if (now < p.at) continue;
    pending.delete(p);
    p.fire();
  }
}

/** Calls `fire` once, about `ms` from now, unless the returned function is called first. */
export function deadline(ms: number, fire: () => void): () => void {
  const p: Pending = { at: performance.now() + ms, fire };
  pending.add(p);
  if (!sweeper) {
    sweeper = setInterval(sweep, SWEEP_MS);
    (sweeper as { unref?: () => void }).unref?.();
  }
  return () => pending.delete(p);
}
