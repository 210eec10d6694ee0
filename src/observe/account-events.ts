import type { Logger } from "../log.ts";
import { type AccountEvent, type AccountListener, describeAccountEvent } from "../pool/events.ts";

/*
 * What the pool's failure policy does to accounts, observed: each cooldown or disable logged in
 * the pool's words and counted for the metrics (levity_cooldowns_total). The pool only reports
 * the events; the runtime builds one of these and gives it to the pool.
 */

/** Cooldowns and disables started since levity started, by account and reason (the failure's kind). */
export interface CooldownCount {
  upstream: string;
  account: string;
  reason: string;
  count: number;
}

/** Cooldowns and disables started since levity started, by upstream, account and reason. */
export class CooldownCounter {
  private readonly counts = new Map<string, CooldownCount>();

  record(event: AccountEvent): void {
    const reason = event.failure.kind;
    const key = `${event.upstream}\u0000${event.account}\u0000${reason}`;
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    else
      this.counts.set(key, { upstream: event.upstream, account: event.account, reason, count: 1 });
  }

  list(): CooldownCount[] {
    return [...this.counts.values()];
  }
}

/** The listener to give AccountPool: logs each event and counts it in `counter`. */
export function observeAccounts(
  log: Logger,
  counter = new CooldownCounter(),
): AccountListener & { counter: CooldownCounter } {
  return {
    counter,
    accountChanged(event) {
      const { level, message } = describeAccountEvent(event);
      log[level](message);
      counter.record(event);
    },
  };
}
