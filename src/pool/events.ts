import type { Logger } from "../log.ts";
import type { Failure } from "./failure.ts";
import type { Effect } from "./health.ts";

/*
 * What the pool tells the rest of levity about its accounts: each time the failure policy cools or
 * disables one. Logging and counting these is observation's job (src/observe/account-events.ts),
 * not the pool's; the pool only reports them to the listener it was given. How an event reads
 * sits here, beside the event, so that every listener words it the same.
 */

export interface AccountEvent {
  upstream: string;
  account: string;
  model: string;
  /** The failure, with the account's key already scrubbed from it. */
  failure: Failure;
  effect: Effect;
}

/** Cooldowns and disables started since levity started, by account and reason (the failure's kind). */
export interface CooldownCount {
  upstream: string;
  account: string;
  reason: string;
  count: number;
}

export interface AccountListener {
  accountChanged(event: AccountEvent): void;
  /**
   * The counts, when this listener keeps them: AccountPool.cooldowns() answers from here, for
   * callers that still ask the pool.
   */
  cooldowns?(): CooldownCount[];
}

/** How an event reads in the log: what the policy did, and what ends it. */
export function describeAccountEvent(event: AccountEvent): {
  level: "info" | "warn";
  message: string;
} {
  const { failure, effect } = event;
  const where = `${event.upstream}/${event.account}`;
  if (effect.kind === "disabled")
    return {
      level: "warn",
      message: `account ${where} disabled: ${effect.reason}; it stays off until its key changes`,
    };
  if (failure.kind === "rate_limit")
    return {
      level: "info",
      message: `account ${where} cooling ${Math.ceil(effect.waitMs / 1000)} s for ${event.model} (${failure.status} rate limited${failure.hintMs !== undefined ? ", as the upstream asked" : ""})`,
    };
  if (failure.kind === "quota")
    return {
      level: "warn",
      message: `account ${where} is out of credit (${failure.status}: ${failure.message.slice(0, 120)}); cooling ${Math.ceil(effect.waitMs / 60_000)} min`,
    };
  return {
    level: "info",
    message: `account ${where} cooling ${Math.ceil(effect.waitMs / 1000)} s (${failure.kind}: ${failure.message.slice(0, 120)})`,
  };
}

/**
 * For a pool built without a listener: logs and counts as the pool itself once did, so hosts that
 * assemble the pool by hand keep their log lines and levity_cooldowns_total. It goes once every
 * host passes observeAccounts(log) from src/observe/account-events.ts (the pool cannot import it:
 * observe sits above pool).
 */
export function fallbackListener(log: Logger): AccountListener {
  const counts = new Map<string, CooldownCount>();
  return {
    accountChanged(event) {
      const { level, message } = describeAccountEvent(event);
      log[level](message);
      const key = `${event.upstream}\u0000${event.account}\u0000${event.failure.kind}`;
      const entry = counts.get(key);
      if (entry) entry.count++;
      else
        counts.set(key, {
          upstream: event.upstream,
          account: event.account,
          reason: event.failure.kind,
          count: 1,
        });
    },
    cooldowns: () => [...counts.values()],
  };
}
