import type { Failure } from "../failure.ts";
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

export interface AccountListener {
  accountChanged(event: AccountEvent): void;
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
