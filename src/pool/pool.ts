import { createHash } from "node:crypto";
import type { Account, Upstream } from "../config/snapshot.ts";
import type { SharedWrite, StateStore } from "../state/store.ts";
import { type Affinity, AffinityMemory } from "./affinity.ts";
import type { AccountListener } from "./events.ts";
import type { Failure } from "../failure.ts";
import * as health from "./health.ts";
import type { Acquired, Lease, Outcome, Unavailable } from "./lease.ts";
import { rpmReadyAt, withinMinute } from "./rpm.ts";
import { SavedHealth } from "./saved-health.ts";
import type { SharedPool, SharedRecord } from "./shared-health.ts";
import { type Candidate, pick, type Ties } from "./strategies.ts";
import { type AccountView, type Activity, viewAccount } from "./view.ts";
import { Waiters } from "./waiters.ts";

/*
 * The accounts of every upstream as levity runs them: which may serve now, which request holds
 * which account, and who waits for one. What a failure does to an account is health.ts's, which
 * account a request gets is strategies.ts's; this class keeps the state those decide on, saves
 * health through the state store, and reports what the failure policy did to its listener.
 */

/** One account, under one key: a changed key is a new account as far as health goes. */
interface AccountState extends Activity {
  readonly upstream: string;
  readonly account: string;
  readonly keyDigest: string;
  /** Echo's: never cooled or disabled by a failure (its failures are asked for), never saved or restored. */
  readonly ephemeral: boolean;
  health: health.Health;
  /** Start times within the last minute, for rpm. */
  recentStarts: number[];
  /** Smooth weighted round robin's running weight. */
  runningWeight: number;
  /** Until then, Redis said the account is at its max_concurrency on other instances: look again then. */
  sharedBusyUntil: number;
  /** Until then, Redis said the account's rpm is spent across instances. */
  sharedRpmUntil: number;
  /** The failure that began its cooldown, in levity's words (never the upstream's): told to a client it is refused for. */
  cooledBy?: string;
}

/**
 * An account ready now, as the strategy sees it (a Candidate) and with what its lease needs: one
 * object per ready account, where a list of the ready and another of their candidates cost two.
 */
interface Ready extends Candidate {
  readonly kind: "ready";
  readonly account: Account;
  readonly state: AccountState;
  readonly now: number;
}

/** Cooling or disabled: worth sharing. */
function unhealthy(state: health.Health, now: number): boolean {
  return (
    state.disabledReason !== undefined ||
    Math.max(state.cooldownUntil, ...Object.values(state.modelCooldowns)) > now
  );
}

/** How soon an account Redis called busy (at max_concurrency on other instances) is asked again. */
const SHARED_BUSY_RECHECK_MS = 50;

/** The ties of a request with no session and no stored response to continue. */
const NO_TIES: Ties = Object.freeze({ session: false });

/** Which accounts an admin action applies to: all, one upstream's, or one. */
export interface AccountFilter {
  upstream?: string;
  account?: string;
}

export interface PoolOptions {
  /** The clock; tests drive it. */
  now?: () => number;
  /** The backoff's jitter, for tests that need a fixed wait. */
  random?: () => number;
  /** Health, max_concurrency and rpm shared with other instances through Redis (`state:`). */
  shared?: SharedPool;
  /** Where sessions and pins are remembered: given when they are shared with other instances. */
  affinity?: AffinityMemory;
}

export class AccountPool {
  private readonly states = new Map<string, AccountState>();
  private readonly saved: SavedHealth;
  private readonly affinity: AffinityMemory;
  private readonly waiters = new Waiters();
  private readonly random: () => number;
  // Per Account object (a reload makes new ones), so selection does not hash keys on every request.
  private readonly digests = new WeakMap<Account, string>();
  // Per Account object too: its "upstream/account" id.
  private readonly ids = new WeakMap<Account, { upstream: string; id: string }>();

  private readonly now: () => number;
  private readonly shared: SharedPool | undefined;
  // Per Upstream object (a reload makes new ones): whether any account has a limit Redis counts.
  private readonly limited = new WeakMap<Upstream, boolean>();

  constructor(
    store: StateStore,
    /** Told each time the failure policy cools or disables an account: logging and counting that is observation's job. */
    private readonly listener: AccountListener,
    options: PoolOptions = {},
  ) {
    this.saved = new SavedHealth(store);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.affinity = options.affinity ?? new AffinityMemory();
    this.shared = options.shared;
    this.shared?.attach({
      apply: (record) => this.applyShared(record),
      applyAbsent: (present) => this.applyAbsent(present),
      unhealthy: () => this.unhealthy(),
      now: () => this.now(),
    });
  }

  /**
   * Whether `tryAcquire` alone may give this upstream's requests an account. Not when Redis
   * counts max_concurrency or rpm across instances: then `acquire` asks it after the local pick
   * (while Redis is down that call fails at once and the local checks decide).
   */
  admitsLocally(upstream: Upstream): boolean {
    if (!this.shared) return true;
    let limited = this.limited.get(upstream);
    if (limited === undefined) {
      limited = upstream.accounts.some(
        (a) => a.rpm !== undefined || a.maxConcurrency !== undefined,
      );
      this.limited.set(upstream, limited);
    }
    return !limited;
  }

  private keyDigest(account: Account): string {
    let digest = this.digests.get(account);
    if (digest === undefined) {
      digest = createHash("sha256").update(account.key).digest("hex");
      this.digests.set(account, digest);
    }
    return digest;
  }

  /** The account's id in `states`, made once per Account object: every pick looks up each serving account. */
  private idOf(upstream: Upstream, account: Account): string {
    const known = this.ids.get(account);
    // Checked against the upstream: one Account object may serve several (echo's built-in one).
    if (known?.upstream === upstream.name) return known.id;
    const id = `${upstream.name}/${account.name}`;
    this.ids.set(account, { upstream: upstream.name, id });
    return id;
  }

  private state(upstream: Upstream, account: Account): AccountState {
    const id = this.idOf(upstream, account);
    const keyDigest = this.keyDigest(account);
    const known = this.states.get(id);
    if (known && known.keyDigest === keyDigest) return known;
    // Health saved for this very key is restored; a changed key starts afresh (it may be the fix).
    // Echo's never is: a record an older levity saved for it must not keep the demo broken.
    const ephemeral = upstream.protocol === "echo";
    const loaded = ephemeral
      ? { stale: false }
      : this.saved.load(upstream.name, account.name, keyDigest, this.now());
    const state: AccountState = {
      upstream: upstream.name,
      account: account.name,
      keyDigest,
      ephemeral,
      health: loaded.health ?? health.HEALTHY,
      inFlight: 0,
      requests: 0,
      failures: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      recentStarts: [],
      runningWeight: 0,
      sharedBusyUntil: 0,
      sharedRpmUntil: 0,
    };
    this.states.set(id, state);
    if (loaded.stale) this.save(state);
    return state;
  }

  /** `merge`: a settled attempt, which must not erase what another instance set meanwhile; `replace`: an admin's edit. */
  private save(state: AccountState, mode: "merge" | "replace" = "merge"): void {
    if (state.ephemeral) return;
    const record = this.saved.save(state.upstream, state.account, state.keyDigest, state.health);
    this.shared?.put(record, mode);
  }

  /** Another instance changed an account's health (or Redis holds it): this instance takes it. */
  private applyShared(record: SharedRecord): void {
    const id = `${record.upstream}/${record.account}`;
    const known = this.states.get(id);
    // Another key (a config the instances do not share yet): its health is not this account's.
    if (known && known.keyDigest !== record.keyDigest) return;
    const restored = health.restore(record, this.now());
    this.saved.save(record.upstream, record.account, record.keyDigest, restored);
    if (known && !known.ephemeral) known.health = restored;
    this.waiters.wakeAll();
  }

  /**
   * Redis holds nothing for these accounts any more: healthy on every instance. That includes
   * accounts this instance has not served since it started, whose saved record would otherwise
   * bring back a cooldown or a disable the others have since ended.
   */
  private applyAbsent(present: ReadonlySet<string>): void {
    const now = this.now();
    for (const record of this.saved.all()) {
      const id = `${record.upstream}/${record.account}`;
      if (present.has(id) || !unhealthy(health.restore(record, now), now)) continue;
      this.saved.save(record.upstream, record.account, record.keyDigest, health.HEALTHY);
      const state = this.states.get(id);
      if (state && state.keyDigest === record.keyDigest) state.health = health.HEALTHY;
    }
    this.waiters.wakeAll();
  }

  /** What this instance knows of accounts still cooling or disabled, for a Redis that lost it. */
  private unhealthy(): SharedRecord[] {
    const now = this.now();
    return this.saved
      .all()
      .map((record) => ({ record, health: health.prune(health.restore(record, now), now) }))
      .filter(({ health }) => unhealthy(health, now))
      .map(({ record, health }) =>
        this.saved.record(record.upstream, record.account, record.keyDigest, health),
      );
  }

  /** When this account may next serve `model`: now, a time, or never (disabled). */
  private readyAt(state: AccountState, account: Account, model: string, now: number): number {
    const ready = Math.max(health.readyAt(state.health, model, now), state.sharedRpmUntil);
    if (!account.rpm) return ready;
    state.recentStarts = withinMinute(state.recentStarts, now);
    return Math.max(ready, rpmReadyAt(state.recentStarts, account.rpm, now));
  }

  /** Picks an account now, or says why none can serve. */
  tryAcquire(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string> | undefined,
  ): Acquired {
    const picked = this.pickNow(upstream, model, affinity, exclude);
    if (picked.kind === "unavailable") return picked;
    const { account, state, now } = picked;
    return this.begin(upstream, account, state, model, now);
  }

  /** The account the strategy picks among those ready now, not yet taken. */
  private pickNow(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string> | undefined,
  ): Ready | ({ kind: "unavailable" } & Unavailable) {
    const now = this.now();
    const ready: Ready[] = [];
    // Counted in locals, and the account of why none is ready made only when none is: the usual
    // request finds one, and the object and its list cost every request before.
    let cooling = 0;
    let busy = 0;
    let serving = 0;
    let tried = 0;
    let soonestMs: number | undefined;
    let coolingBecause: string | undefined;
    let disabled: Unavailable["disabled"] | undefined;
    for (const account of upstream.accounts) {
      if (!account.serves(model)) continue;
      serving++;
      const state = this.state(upstream, account);
      if (exclude?.has(account.name)) {
        tried++;
        continue;
      }
      if (state.health.disabledReason) {
        disabled ??= [];
        disabled.push({ name: account.name, reason: state.health.disabledReason });
        continue;
      }
      const at = this.readyAt(state, account, model, now);
      if (at > now) {
        cooling++;
        // Said only when its health is what holds it (not its own rpm), of the one soonest free.
        if (at - now < (soonestMs ?? Infinity))
          coolingBecause =
            health.readyAt(state.health, model, now) > now ? state.cooledBy : undefined;
        soonestMs = Math.min(soonestMs ?? Infinity, at - now);
        continue;
      }
      if (account.maxConcurrency !== undefined && state.inFlight >= account.maxConcurrency) {
        busy++;
        continue;
      }
      if (state.sharedBusyUntil > now) {
        busy++;
        // Another instance's lease ends without a word to this one: look again soon.
        soonestMs = Math.min(soonestMs ?? Infinity, state.sharedBusyUntil - now);
        continue;
      }
      ready.push({
        kind: "ready",
        name: account.name,
        weight: account.weight,
        inFlight: state.inFlight,
        runningWeight: state.runningWeight,
        account,
        state,
        now,
      });
    }
    if (ready.length === 0) {
      const unavailable: { kind: "unavailable" } & Unavailable = {
        kind: "unavailable",
        cooling,
        busy,
        disabled: disabled ?? [],
        serving,
        tried,
      };
      if (soonestMs !== undefined) unavailable.soonestMs = soonestMs;
      if (coolingBecause !== undefined) unavailable.coolingBecause = coolingBecause;
      return unavailable;
    }
    return this.choose(upstream, ready, affinity);
  }

  /** Asks the strategy table, and keeps what the pick asks to be kept. */
  private choose(upstream: Upstream, ready: Ready[], affinity: Affinity): Ready {
    const { session, previousResponseId } = affinity;
    // A request tied to nothing (most) is asked about with one shared object, not one of its own.
    const ties =
      previousResponseId || session !== undefined
        ? {
            pinnedTo: previousResponseId
              ? this.affinity.pinnedTo(upstream.name, previousResponseId)
              : undefined,
            session: session !== undefined,
            stuckTo:
              session !== undefined ? this.affinity.stuckTo(upstream.name, session) : undefined,
          }
        : NO_TIES;
    const picked = pick(upstream.strategy, ready, ties);
    const weights = picked.runningWeights;
    if (weights)
      for (let i = 0; i < weights.length; i++) ready[i]!.state.runningWeight = weights[i]!;
    const chosen = ready[picked.index]!;
    if (picked.sticks && session !== undefined)
      this.affinity.stick(upstream.name, session, chosen.account.name);
    return chosen;
  }

  /**
   * Picks an account, waiting up to `waitMs` for a cooling or busy one to become free (the
   * reference system slept and then cleared every limit; here nothing is cleared early).
   */
  async acquire(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string> | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<Acquired> {
    const deadline = this.now() + waitMs;
    for (;;) {
      const acquired = this.admitsLocally(upstream)
        ? this.tryAcquire(upstream, model, affinity, exclude)
        : await this.tryAcquireShared(upstream, model, affinity, exclude);
      if (acquired.kind === "lease" || signal.aborted) return acquired;
      const left = deadline - this.now();
      const soonest = acquired.soonestMs ?? Infinity;
      const canWait = (acquired.busy > 0 && left > 0) || soonest <= left;
      if (!canWait) return acquired;
      await this.waiters.wait(Math.min(soonest, left), signal);
    }
  }

  /**
   * The local pick, then Redis's word on the account's max_concurrency and rpm across instances
   * (one round trip). An account Redis refuses is marked busy or cooling here, and the next is
   * tried; when Redis does not answer, the local checks alone decide.
   */
  private async tryAcquireShared(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string> | undefined,
  ): Promise<Acquired> {
    const shared = this.shared!;
    for (;;) {
      const picked = this.pickNow(upstream, model, affinity, exclude);
      if (picked.kind === "unavailable") return picked;
      const { account, state } = picked;
      if (account.rpm === undefined && account.maxConcurrency === undefined)
        return this.begin(upstream, account, state, model, picked.now);
      const id = `${upstream.name}/${account.name}`;
      const verdict = await shared.admit(id, account.maxConcurrency, account.rpm);
      const now = this.now();
      if (verdict.kind === "busy") state.sharedBusyUntil = now + SHARED_BUSY_RECHECK_MS;
      else if (verdict.kind === "rpm") state.sharedRpmUntil = now + verdict.waitMs;
      else {
        const release =
          verdict.kind === "admitted"
            ? shared.hold(id, verdict.leaseId, account.maxConcurrency)
            : undefined;
        return this.begin(upstream, account, state, model, now, release);
      }
    }
  }

  private begin(
    upstream: Upstream,
    account: Account,
    state: AccountState,
    model: string,
    now: number,
    release?: () => void,
  ): PoolLease {
    state.inFlight++;
    state.requests++;
    if (account.rpm) state.recentStarts.push(now);
    return new PoolLease(this, upstream, account, state, model, release);
  }

  /** A lease ends (PoolLease.finish, once): the account is free again, and its health settled. */
  ended(state: AccountState, model: string, outcome: Outcome, release?: () => void): void {
    release?.();
    state.inFlight--;
    this.settle(state, model, outcome);
    this.waiters.wakeAll();
  }

  /** This account stored a response upstream (PoolLease.pinResponse). */
  pinned(upstream: Upstream, responseId: string, account: Account): SharedWrite {
    return this.affinity.pin(upstream.name, responseId, account.name);
  }

  /** Counts the attempt, lets the failure policy change the account's health, and reports what it did. */
  private settle(state: AccountState, model: string, outcome: Outcome): void {
    if ("neutral" in outcome) return;
    if (outcome.ok) {
      state.inputTokens += outcome.usage?.input ?? 0;
      state.outputTokens += outcome.usage?.output ?? 0;
      state.cachedTokens += outcome.usage?.cached ?? 0;
      state.cacheWriteTokens += outcome.usage?.cacheWrite ?? 0;
    }
    // Already without the account's key: serveWithPool clears every failure before it gets here.
    const failure = outcome.ok ? undefined : outcome.failure;
    if (failure) {
      state.failures++;
      state.lastError = `${failure.status} ${failure.message}`.slice(0, 300);
    }
    if (state.ephemeral) return;
    // The outcome as it came (its failure the one counted above): not a copy of it a request.
    const settled = health.settle(state.health, outcome, model, this.now(), this.random);
    if (settled.health !== state.health) {
      state.health = settled.health;
      this.save(state);
    }
    if (failure && settled.effect?.kind === "cooling") state.cooledBy = coolingWords(failure);
    if (failure && settled.effect)
      this.listener.accountChanged({
        upstream: state.upstream,
        account: state.account,
        model,
        failure,
        effect: settled.effect,
      });
  }

  /**
   * An admin takes an account out of rotation, or puts it back (which also ends a disable levity
   * made itself, such as a refused key). Returns the accounts changed.
   */
  setEnabled(upstreams: Upstream[], filter: AccountFilter, enabled: boolean): string[] {
    return this.change(upstreams, filter, enabled ? health.enable : health.disable);
  }

  /**
   * Clears cooldowns, failure counts and disables: of every account, of one upstream's, or of
   * one account. Returns the accounts reset.
   */
  reset(upstreams: Upstream[], filter: AccountFilter = {}): string[] {
    return this.change(upstreams, filter, health.reset);
  }

  /** Applies `edit` to each account the filter names, saves it, wakes waiting requests; returns the accounts changed. */
  private change(
    upstreams: Upstream[],
    filter: AccountFilter,
    edit: (health: health.Health) => health.Health,
  ): string[] {
    const changed: string[] = [];
    for (const upstream of upstreams) {
      if (filter.upstream && upstream.name !== filter.upstream) continue;
      for (const account of upstream.accounts) {
        if (filter.account && account.name !== filter.account) continue;
        const state = this.state(upstream, account);
        state.health = edit(state.health);
        this.save(state, "replace");
        changed.push(`${upstream.name}/${account.name}`);
      }
    }
    // A waiting request may now be served by an account put back, or learn it never will.
    this.waiters.wakeAll();
    return changed;
  }

  view(upstreams: Upstream[]): AccountView[] {
    const now = this.now();
    return upstreams.flatMap((upstream) =>
      upstream.accounts.map((account) => {
        const state = this.state(upstream, account);
        state.health = health.prune(state.health, now);
        return viewAccount(upstream.name, account.name, state.health, state, now);
      }),
    );
  }
}

/** One attempt's hold on an account: a class, so that a lease is one object rather than two closures and their scope. */
class PoolLease implements Lease {
  /*
   * A lease is its own Acquired ({ kind: "lease", lease }): the wrapper object tryAcquire made
   * around it was one more object every request.
   */
  readonly kind = "lease";
  readonly lease: Lease = this;
  private finished = false;

  constructor(
    private readonly pool: AccountPool,
    readonly upstream: Upstream,
    readonly account: Account,
    private readonly state: AccountState,
    readonly model: string,
    private readonly release: (() => void) | undefined,
  ) {}

  finish(outcome: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    this.pool.ended(this.state, this.model, outcome, this.release);
  }

  pinResponse(responseId: string): SharedWrite {
    return this.pool.pinned(this.upstream, responseId, this.account);
  }
}

/**
 * Why an account cools, as a client refused for it may read it: the kind of failure and the
 * upstream's status, not the upstream's words (they may name its organisation or an internal
 * address, and the client refused may not be the one whose request failed).
 */
function coolingWords(failure: Failure): string {
  switch (failure.kind) {
    case "rate_limit":
      return `the upstream rate-limited it (${failure.status})`;
    case "quota":
      return `the upstream says its credit is spent (${failure.status})`;
    case "server":
      return `the upstream answered a server error (${failure.status})`;
    case "network":
      return "the upstream could not be reached";
    case "timeout":
      return "the upstream did not answer in time";
    case "empty":
      return "the upstream answered with nothing in it";
    default:
      return "the upstream broke off its answer";
  }
}
