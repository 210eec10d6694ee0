import { SweepList } from "./sweep.ts";

/*
 * Deadlines for limits of whole seconds (a request body's arrival), checked four times a second.
 * One list per runtime, shared by its requests: a timer each would cost more than the check.
 */

const CHECK_EVERY_MS = 250;

/** Something with a time limit: `fire` is called once, at or after `at` (a performance.now() time). */
export interface Deadline {
  readonly at: number;
  fire(): void;
}

export class Deadlines {
  private readonly pending: SweepList<Deadline> = new SweepList(CHECK_EVERY_MS, (p, now) => {
    if (now < p.at) return;
    this.pending.delete(p);
    p.fire();
  });

  /** Calls `fire` once, about `ms` from now, unless the returned function is called first. */
  after(ms: number, fire: () => void): () => void {
    const p: Deadline = { at: performance.now() + ms, fire };
    this.pending.add(p);
    return () => this.pending.delete(p);
  }

  /**
   * The time `ms` from now, as an entry's `at`. For an object that is its own entry (add, cancel):
   * no closure to fire and none to cancel, where a request's hot path would pay for both.
   */
  from(ms: number): number {
    return performance.now() + ms;
  }

  /** Calls `entry.fire()` once, at about `entry.at`, unless it is cancelled first. */
  add(entry: Deadline): void {
    this.pending.add(entry);
  }

  cancel(entry: Deadline): void {
    this.pending.delete(entry);
  }
}
