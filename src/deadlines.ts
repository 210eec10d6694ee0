import { SweepList } from "./sweep.ts";

/*
 * Deadlines for limits of whole seconds (a request body's arrival), checked four times a second.
 * One list per runtime, shared by its requests: a timer each would cost more than the check.
 */

const CHECK_EVERY_MS = 250;

interface Pending {
  at: number;
  fire: () => void;
}

export class Deadlines {
  private readonly pending: SweepList<Pending> = new SweepList(CHECK_EVERY_MS, (p, now) => {
    if (now < p.at) return;
    this.pending.delete(p);
    p.fire();
  });

  /** Calls `fire` once, about `ms` from now, unless the returned function is called first. */
  after(ms: number, fire: () => void): () => void {
    const p: Pending = { at: performance.now() + ms, fire };
    this.pending.add(p);
    return () => this.pending.delete(p);
  }
}
