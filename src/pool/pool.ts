import { createHash } from "node:crypto";
import type { Account, Upstream } from "../config/snapshot.ts";
import type { Usage } from "../ir.ts";
import type { Logger } from "../log.ts";
import type { AccountRecord, StateStore } from "../state/store.ts";
import type { Failure } from "./failure.ts";
import {
  backoff,
  clampHint,
  ERROR_BACKOFF,
  MAX_HINT_MS,
  QUOTA_BACKOFF,
  RATE_LIMIT_BACKOFF,
} from "./hints.ts";
import { scrubFailure } from "../scrub.ts";

/*
 * The accounts of every upstream and their health: which may serve now, which are cooling (and
 * until when, per model where the limit is per model), which are disabled (and why), and what
 * each is doing. Cooldowns and disables are written to the state store, with their expiry, so a
 * restart neither forgets one nor keeps a stale one.
 */

interface AccountState extends AccountRecord {
  /** Echo's: never cooled or disabled by a failure (its failures are asked for), never saved or restored. */
  ephemeral: boolean;
  inFlight: number;
  requests: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  /** Start times within the last minute, for rpm. */
  recentStarts: number[];
  /** Smooth weighted round robin's running weight. */
  currentWeight: number;
  lastError?: string;
}

export type Outcome =
  | { ok: true; usage?: Usage }
  | { ok: false; failure: Failure }
  | { neutral: true };

/** What ties a request to an account: its conversation (for sticky), and a stored response it continues. */
export interface Affinity {
  session?: string;
  previousResponseId?: string;
}

/** One attempt on one account; finish it exactly once with how it went. */
export interface Lease {
  upstream: Upstream;
  account: Account;
  model: string;
  finish(outcome: Outcome): void;
  /** This account stored a response upstream: a request that continues it must come back here. */
  pinResponse(responseId: string): void;
}

export interface Unavailable {
  /** Accounts that serve the model and are cooling, and the soonest one recovers. */
  cooling: number;
  soonestMs?: number;
  /** Accounts at their max_concurrency. */
  busy: number;
  disabled: { name: string; reason: string }[];
  /** Accounts that serve the model at all. */
  serving: number;
  /** Accounts this request has already tried. */
  tried: number;
}

export type Acquired = { kind: "lease"; lease: Lease } | ({ kind: "unavailable" } & Unavailable);

export interface AccountView {
  upstream: string;
  account: string;
  state: "healthy" | "cooling" | "disabled";
  coolingUntil?: string;
  modelCooldowns: Record<string, string>;
  disabledReason?: string;
  consecutiveFailures: number;
  inFlight: number;
  requests: number;
  failures: number;
  tokens: { input: number; output: number };
  lastError?: string;
}

const MINUTE_MS = 60_000;
/** Which accounts an admin action applies to: all, one upstream's, or one. */
export interface AccountFilter {
  upstream?: string;
  account?: string;
}

export const ADMIN_DISABLED = "disabled by an admin (levity accounts enable puts it back)";
/** Sessions (sticky) and stored responses (pins) remembered per pool. */
const REMEMBERED = 10_000;

/** Sets `key` as the most recently used entry, forgetting the oldest past the bound. */
function remember(map: Map<string, string>, key: string, value: string): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
}

// Per Account object (a reload makes new ones), so selection does not hash keys on every request.
const digests = new WeakMap<Account, string>();

/**
 * A saved expiry as levity keeps it: a number no later than MAX_HINT_MS from now. An older levity
 * saved hints unclamped (Retry-After: 1e13 became a cooldown past the year 275760, which no Date
 * can show); such a record is cut to the longest wait levity now allows.
 */
function clampUntil(until: unknown, now: number): number {
  if (typeof until !== "number" || Number.isNaN(until)) return 0;
  return Math.min(until, now + MAX_HINT_MS);
}

function clampModelCooldowns(
  saved: Record<string, number> | undefined,
  now: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [model, until] of Object.entries(saved ?? {})) {
    const clamped = clampUntil(until, now);
    if (clamped > now) out[model] = clamped;
  }
  return out;
}

/** A time for a view: an ISO string, or nothing for a value no Date can hold (never an exception). */
function isoTime(ms: number): string | undefined {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function keyDigest(account: Account): string {
  let digest = digests.get(account);
  if (digest === undefined) {
    digest = createHash("sha256").update(account.key).digest("hex");
    digests.set(account, digest);
  }
  return digest;
}

export class AccountPool {
  private readonly states = new Map<string, AccountState>();
  private readonly persisted = new Map<string, AccountRecord>();
  private readonly sticky = new Map<string, string>();
  /** Responses an upstream stored, by upstream and id, and the account that holds them. */
  private readonly pinnedResponses = new Map<string, string>();
  private readonly releaseWaiters = new Set<() => void>();
  /** Cooldowns and disables started since levity started, by upstream, account and reason (for the metrics). */
  private readonly cooldownCounts = new Map<
    string,
    { upstream: string; account: string; reason: string; count: number }
  >();

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const record of store.accounts())
      this.persisted.set(`${record.upstream}/${record.account}`, record);
  }

  private state(upstream: Upstream, account: Account): AccountState {
    const id = `${upstream.name}/${account.name}`;
    const digest = keyDigest(account);
    let state = this.states.get(id);
    if (state && state.keyDigest !== digest) state = undefined;
    if (!state) {
      // Health saved for this very key is restored; a changed key starts afresh (it may be the fix).
      // Echo's never is: a record an older levity saved for it must not keep the demo broken.
      const ephemeral = upstream.protocol === "echo";
      const saved = ephemeral ? undefined : this.persisted.get(id);
      const restored = saved?.keyDigest === digest ? saved : undefined;
      state = {
        ephemeral,
        upstream: upstream.name,
        account: account.name,
        keyDigest: digest,
        cooldownUntil: clampUntil(restored?.cooldownUntil ?? 0, this.now()),
        modelCooldowns: clampModelCooldowns(restored?.modelCooldowns, this.now()),
        consecutiveFailures: restored?.consecutiveFailures ?? 0,
        disabledReason: restored?.disabledReason,
        inFlight: 0,
        requests: 0,
        failures: 0,
        inputTokens: 0,
        outputTokens: 0,
        recentStarts: [],
        currentWeight: 0,
      };
      this.states.set(id, state);
      if (saved && !restored) this.save(state);
    }
    return state;
  }

  private save(state: AccountState): void {
    if (state.ephemeral) return;
    const record: AccountRecord = {
      upstream: state.upstream,
      account: state.account,
      keyDigest: state.keyDigest,
      cooldownUntil: state.cooldownUntil,
      modelCooldowns: state.modelCooldowns,
      consecutiveFailures: state.consecutiveFailures,
      disabledReason: state.disabledReason,
    };
    this.persisted.set(`${state.upstream}/${state.account}`, record);
    this.store.saveAccount(record);
  }

  /** When this account may next serve `model`: now, a time, or never (disabled). */
  private readyAt(state: AccountState, account: Account, model: string, now: number): number {
    if (state.disabledReason) return Infinity;
    let at = Math.max(state.cooldownUntil, state.modelCooldowns[model] ?? 0);
    if (account.rpm) {
      state.recentStarts = state.recentStarts.filter((t) => t > now - MINUTE_MS);
      if (state.recentStarts.length >= account.rpm)
        at = Math.max(at, state.recentStarts[0]! + MINUTE_MS);
    }
    return at <= now ? now : at;
  }

  private choose(
    upstream: Upstream,
    candidates: { account: Account; state: AccountState }[],
    session: string | undefined,
  ) {
    switch (upstream.strategy) {
      case "fill_first":
        return candidates[0]!;
      case "least_busy":
        return candidates.reduce((best, c) =>
          c.state.inFlight / c.account.weight < best.state.inFlight / best.account.weight
            ? c
            : best,
        );
      case "sticky": {
        if (session !== undefined) {
          const key = `${upstream.name}\u0000${session}`;
          const bound = this.sticky.get(key);
          const keep = candidates.find((c) => c.account.name === bound);
          const chosen = keep ?? this.roundRobin(candidates);
          remember(this.sticky, key, chosen.account.name);
          return chosen;
        }
        return this.roundRobin(candidates);
      }
      default:
        return this.roundRobin(candidates);
    }
  }

  /** Smooth weighted round robin: each account in proportion to its weight, spread out rather than in runs. */
  private roundRobin(candidates: { account: Account; state: AccountState }[]) {
    let total = 0;
    let best = candidates[0]!;
    for (const candidate of candidates) {
      candidate.state.currentWeight += candidate.account.weight;
      total += candidate.account.weight;
      if (candidate.state.currentWeight > best.state.currentWeight) best = candidate;
    }
    best.state.currentWeight -= total;
    return best;
  }

  /** Picks an account now, or says why none can serve. */
  tryAcquire(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string>,
  ): Acquired {
    const now = this.now();
    const candidates: { account: Account; state: AccountState }[] = [];
    const unavailable: Unavailable = { cooling: 0, busy: 0, disabled: [], serving: 0, tried: 0 };
    for (const account of upstream.accounts) {
      if (!account.serves(model)) continue;
      unavailable.serving++;
      const state = this.state(upstream, account);
      if (exclude.has(account.name)) {
        unavailable.tried++;
        continue;
      }
      if (state.disabledReason) {
        unavailable.disabled.push({ name: account.name, reason: state.disabledReason });
        continue;
      }
      const ready = this.readyAt(state, account, model, now);
      if (ready > now) {
        unavailable.cooling++;
        unavailable.soonestMs = Math.min(unavailable.soonestMs ?? Infinity, ready - now);
        continue;
      }
      if (account.maxConcurrency !== undefined && state.inFlight >= account.maxConcurrency) {
        unavailable.busy++;
        continue;
      }
      candidates.push({ account, state });
    }
    if (candidates.length === 0) return { kind: "unavailable", ...unavailable };
    // A response stored upstream lives in one account; any other would answer 404 to its continuation.
    const holder =
      affinity.previousResponseId &&
      this.pinnedResponses.get(`${upstream.name}\u0000${affinity.previousResponseId}`);
    const chosen =
      (holder && candidates.find((c) => c.account.name === holder)) ||
      this.choose(upstream, candidates, affinity.session);
    return { kind: "lease", lease: this.begin(upstream, chosen.account, chosen.state, model, now) };
  }

  /**
   * Picks an account, waiting up to `waitMs` for a cooling or busy one to become free (the
   * reference system slept and then cleared every limit; here nothing is cleared early).
   */
  async acquire(
    upstream: Upstream,
    model: string,
    affinity: Affinity,
    exclude: ReadonlySet<string>,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<Acquired> {
    const deadline = this.now() + waitMs;
    for (;;) {
      const acquired = this.tryAcquire(upstream, model, affinity, exclude);
      if (acquired.kind === "lease" || signal.aborted) return acquired;
      const left = deadline - this.now();
      const soonest = acquired.soonestMs ?? Infinity;
      const canWait = (acquired.busy > 0 && left > 0) || soonest <= left;
      if (!canWait) return acquired;
      await this.waitForChange(Math.min(soonest, left), signal);
    }
  }

  /** Until a lease ends or `ms` pass, whichever is first. */
  private waitForChange(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.releaseWaiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.releaseWaiters.add(done);
      signal.addEventListener("abort", done);
    });
  }

  private begin(
    upstream: Upstream,
    account: Account,
    state: AccountState,
    model: string,
    now: number,
  ): Lease {
    state.inFlight++;
    state.requests++;
    if (account.rpm) state.recentStarts.push(now);
    let finished = false;
    return {
      upstream,
      account,
      model,
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        state.inFlight--;
        this.settle(
          state,
          model,
          "failure" in outcome
            ? { ok: false, failure: scrubFailure(outcome.failure, account.key) }
            : outcome,
        );
        for (const wake of [...this.releaseWaiters]) wake();
      },
      pinResponse: (responseId) =>
        remember(this.pinnedResponses, `${upstream.name}\u0000${responseId}`, account.name),
    };
  }

  private settle(state: AccountState, model: string, outcome: Outcome): void {
    if ("neutral" in outcome) return;
    if (outcome.ok) {
      if (outcome.usage) {
        state.inputTokens += outcome.usage.input;
        state.outputTokens += outcome.usage.output;
      }
      // One success heals the account: failures in a row start again from zero.
      if (state.consecutiveFailures > 0) {
        state.consecutiveFailures = 0;
        this.save(state);
      }
      return;
    }
    const { failure } = outcome;
    state.failures++;
    state.lastError = `${failure.status} ${failure.message}`.slice(0, 300);
    if (state.ephemeral) return;
    state.consecutiveFailures++;
    const where = `${state.upstream}/${state.account}`;
    this.countCooldown(state, failure.kind);
    if (failure.kind === "auth") {
      state.disabledReason = `the upstream refused its key (${failure.status}: ${failure.message.slice(0, 200)})`;
      this.log.warn(
        `account ${where} disabled: ${state.disabledReason}; it stays off until its key changes`,
      );
    } else if (failure.kind === "rate_limit") {
      const wait =
        clampHint(failure.hintMs) ?? backoff(RATE_LIMIT_BACKOFF, state.consecutiveFailures);
      state.modelCooldowns[model] = this.now() + wait;
      this.log.info(
        `account ${where} cooling ${Math.ceil(wait / 1000)} s for ${model} (${failure.status} rate limited${failure.hintMs !== undefined ? ", as the upstream asked" : ""})`,
      );
    } else if (failure.kind === "quota") {
      // Spent credit is the whole account's and does not come back in seconds; a top-up plus `levity accounts reset` ends it early.
      const wait = clampHint(failure.hintMs) ?? backoff(QUOTA_BACKOFF, state.consecutiveFailures);
      state.cooldownUntil = this.now() + wait;
      this.log.warn(
        `account ${where} is out of credit (${failure.status}: ${failure.message.slice(0, 120)}); cooling ${Math.ceil(wait / 60_000)} min`,
      );
    } else {
      const wait = clampHint(failure.hintMs) ?? backoff(ERROR_BACKOFF, state.consecutiveFailures);
      state.cooldownUntil = this.now() + wait;
      this.log.info(
        `account ${where} cooling ${Math.ceil(wait / 1000)} s (${failure.kind}: ${failure.message.slice(0, 120)})`,
      );
    }
    this.save(state);
  }

  private countCooldown(state: AccountState, reason: string): void {
    const key = `${state.upstream}\u0000${state.account}\u0000${reason}`;
    const entry = this.cooldownCounts.get(key);
    if (entry) entry.count++;
    else
      this.cooldownCounts.set(key, {
        upstream: state.upstream,
        account: state.account,
        reason,
        count: 1,
      });
  }

  cooldowns(): { upstream: string; account: string; reason: string; count: number }[] {
    return [...this.cooldownCounts.values()];
  }

  /**
   * An admin takes an account out of rotation, or puts it back (which also ends a disable levity
   * made itself, such as a refused key). Returns the accounts changed.
   */
  setEnabled(upstreams: Upstream[], filter: AccountFilter, enabled: boolean): string[] {
    return this.change(upstreams, filter, (state) => {
      state.disabledReason = enabled ? undefined : ADMIN_DISABLED;
      if (enabled) state.consecutiveFailures = 0;
    });
  }

  /** Applies `edit` to each account the filter names, saves it, wakes waiting requests; returns the accounts changed. */
  private change(
    upstreams: Upstream[],
    filter: AccountFilter,
    edit: (state: AccountState) => void,
  ): string[] {
    const changed: string[] = [];
    for (const upstream of upstreams) {
      if (filter.upstream && upstream.name !== filter.upstream) continue;
      for (const account of upstream.accounts) {
        if (filter.account && account.name !== filter.account) continue;
        const state = this.state(upstream, account);
        edit(state);
        this.save(state);
        changed.push(`${upstream.name}/${account.name}`);
      }
    }
    for (const wake of [...this.releaseWaiters]) wake();
    return changed;
  }

  /** Clears expired model cooldowns, so the saved record stays small. */
  private prune(state: AccountState, now: number): void {
    for (const [model, until] of Object.entries(state.modelCooldowns))
      if (until <= now) delete state.modelCooldowns[model];
  }

  /**
   * Clears cooldowns, failure counts and disables: of every account, of one upstream's, or of
   * one account. Returns the accounts reset.
   */
  reset(upstreams: Upstream[], filter: AccountFilter = {}): string[] {
    return this.change(upstreams, filter, (state) => {
      state.cooldownUntil = 0;
      state.modelCooldowns = {};
      state.consecutiveFailures = 0;
      state.disabledReason = undefined;
    });
  }

  view(upstreams: Upstream[]): AccountView[] {
    const now = this.now();
    return upstreams.flatMap((upstream) =>
      upstream.accounts.map((account) => {
        const state = this.state(upstream, account);
        this.prune(state, now);
        const cooling = state.cooldownUntil > now;
        return {
          upstream: upstream.name,
          account: account.name,
          state: state.disabledReason
            ? "disabled"
            : cooling || Object.keys(state.modelCooldowns).length > 0
              ? "cooling"
              : "healthy",
          ...(cooling ? { coolingUntil: isoTime(state.cooldownUntil) } : {}),
          modelCooldowns: Object.fromEntries(
            Object.entries(state.modelCooldowns).flatMap(([model, until]) => {
              const at = isoTime(until);
              return at ? [[model, at]] : [];
            }),
          ),
          ...(state.disabledReason ? { disabledReason: state.disabledReason } : {}),
          consecutiveFailures: state.consecutiveFailures,
          inFlight: state.inFlight,
          requests: state.requests,
          failures: state.failures,
          tokens: { input: state.inputTokens, output: state.outputTokens },
          ...(state.lastError ? { lastError: state.lastError } : {}),
        } satisfies AccountView;
      }),
    );
  }
}
