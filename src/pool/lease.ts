import type { Account, Upstream } from "../config/snapshot.ts";
import type { Usage } from "../ir.ts";
import type { Failure } from "../failure.ts";
import type { SharedWrite } from "../state/store.ts";

/* What a request holds while an account serves it, and what it is told when none can. */

/** How an attempt went: a success (with the tokens it used), a failure, or neither (the client left). */
export type Outcome =
  | { ok: true; usage?: Usage }
  | { ok: false; failure: Failure }
  | { neutral: true };

/** One attempt on one account; finish it exactly once with how it went. */
export interface Lease {
  upstream: Upstream;
  account: Account;
  model: string;
  finish(outcome: Outcome): void;
  /**
   * This account stored a response upstream: a request that continues it must come back here.
   * Where pins are shared, their write to the other instances, which the answer waits for.
   */
  pinResponse(responseId: string): SharedWrite;
}

/**
 * A lease that wraps another (the trace's, the key scrubber's) and hands its end on: a class, so
 * that a wrapper is one object an attempt rather than an object of closures and their scopes.
 */
export abstract class LeaseWrapper implements Lease {
  readonly upstream: Upstream;
  readonly account: Account;
  readonly model: string;

  constructor(protected readonly inner: Lease) {
    this.upstream = inner.upstream;
    this.account = inner.account;
    this.model = inner.model;
  }

  pinResponse(responseId: string): SharedWrite {
    return this.inner.pinResponse(responseId);
  }

  abstract finish(outcome: Outcome): void;
}

export interface Unavailable {
  /** Accounts that serve the model and are cooling, and the soonest one recovers. */
  cooling: number;
  soonestMs?: number;
  /** Why the account soonest free cools, in levity's words, when its failure was seen since start. */
  coolingBecause?: string;
  /** Accounts at their max_concurrency. */
  busy: number;
  disabled: { name: string; reason: string }[];
  /** Accounts that serve the model at all. */
  serving: number;
  /** Accounts this request has already tried. */
  tried: number;
}

export type Acquired = { kind: "lease"; lease: Lease } | ({ kind: "unavailable" } & Unavailable);
