/*
 * Time limits without a timer each: items sit in one set, and one interval visits them all. A
 * timer per request (or per chunk) costs more than the request's own work on the hot path, and
 * levity's limits are whole seconds, so a sweep a few times a second is precise enough. The
 * interval is unref'd, and stops itself after a run of sweeps with nothing to visit.
 */

// Sweeps with nothing to visit before the interval stops (it starts again with the next item).
const IDLE_SWEEPS = 50;

export class SweepList<T> {
  private readonly items = new Set<T>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private emptySweeps = 0;

  constructor(
    private readonly everyMs: number,
    /** Called for each item on each sweep, with performance.now(); it may delete the item. */
    private readonly visit: (item: T, now: number) => void,
  ) {}

  add(item: T): void {
    this.items.add(item);
    if (!this.timer) this.start();
  }

  // Its own method: an arrow written in add() gave every add a scope for it, started or not.
  private start(): void {
    this.timer = setInterval(() => this.sweep(), this.everyMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  private sweep(): void {
    if (this.items.size === 0) {
      if (++this.emptySweeps >= IDLE_SWEEPS) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.emptySweeps = 0;
      }
      return;
    }
    this.emptySweeps = 0;
    const now = performance.now();
    for (const item of this.items) this.visit(item, now);
  }
}
