import { SweepList } from "../sweep.ts";

/* Deadlines for limits of whole seconds (a request body's arrival), checked four times a second. */

interface Pending {
  at: number;
  fire: () => void;
}

const pending: SweepList<Pending> = new SweepList(250, (p, now) => {
  if (now < p.at) return;
  pending.delete(p);
  p.fire();
});

/** Calls `fire` once, about `ms` from now, unless the returned function is called first. */
export function deadline(ms: number, fire: () => void): () => void {
  const p: Pending = { at: performance.now() + ms, fire };
  pending.add(p);
  return () => pending.delete(p);
}
