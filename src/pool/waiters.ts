/*
 * Requests waiting for an account to free up. A waiter wakes when anything may have changed (a
 * lease ended, an admin edited an account), when its own wait is up, or when its client leaves;
 * it then looks again, so a spurious wake costs one look and never a wrong answer.
 */
export class Waiters {
  private readonly waiting = new Set<() => void>();

  /** Until `wakeAll`, `ms` pass, or `signal` aborts, whichever is first. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.waiting.add(done);
      signal.addEventListener("abort", done);
    });
  }

  wakeAll(): void {
    // Every lease's end comes here, and usually nobody waits: no copy of an empty set.
    if (this.waiting.size === 0) return;
    for (const wake of [...this.waiting]) wake();
  }
}
