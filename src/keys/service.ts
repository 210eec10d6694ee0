import picomatch from "picomatch";
import { type Cidr, cidrMatches, parseAddress, parseCidr } from "../config/address-policy.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import type { RequestRecord } from "../observe/record.ts";
import {
  admit,
  count,
  freshCounters,
  isRefusal,
  type KeyCounters,
  type Refusal,
  rollOver,
  settle,
  type Ticket,
} from "./admission.ts";
import type { CounterStore } from "./counter-store.ts";
import type { SharedKeys } from "./shared-keys.ts";
import { type KeyStore, KeyStoreError } from "./key-store.ts";
import type { KeyChanges, KeyLimits, KeyRecord } from "../config/key-record.ts";
import { digestOf, KEY_NAME, KEY_NAME_RULE, newSecret } from "./secret.ts";
import { nextUtcDay, nextUtcMonth, windowTotal } from "./windows.ts";
import { SharedRules } from "./shared-rules.ts";

/*
 * Every client key levity knows, gateway.yaml's and those made with `levity keys add`, and what
 * each has used. The request path asks it two things: whose key a secret is, and whether that key
 * may send one more request now; the record of a finished request settles what it used.
 */

/** What a key has used, as `keys show`, the admin API and the monitor page report it. */
export interface KeyUsageNow {
  requestsLastMinute: number;
  tokensLastMinute: number;
  inFlight: number;
  tokensToday: number;
  usdThisMonth: number;
  dayResetsAt: number;
  monthResetsAt: number;
}

// Counters are written to disk this often (and at close): a crash loses at most this much counting.
const FLUSH_MS = 1000;
// Proven secrets are remembered so a request is not hashed each time; past this many, forgotten.
const PROVEN_MAX = 10_000;
// Addresses remembered per list of networks; past this many, forgotten.
const ADDRESSES_MAX = 1_000;
// Models remembered per list of model globs; past this many, forgotten. Longer names are judged
// each time (a model name is refused past 256 characters anyway: operations/generate.ts).
const MODELS_MAX = 1_000;
const REMEMBERED_MODEL_LENGTH = 256;

/** A list of model globs, compiled, and the model names already judged against it. */
interface ModelRule {
  matches: (model: string) => boolean;
  verdicts: Map<string, boolean>;
}
/** A list of networks, parsed, and the addresses already judged against it. */
interface NetworkRule {
  networks: Cidr[];
  verdicts: Map<string, boolean>;
}

export class KeyService {
  private readonly stored = new Map<string, KeyRecord>();
  private readonly storedByDigest = new Map<string, KeyRecord>();
  private readonly fromConfig = new WeakMap<ConfigSnapshot, Map<string, KeyRecord>>();
  private readonly configNameSets = new WeakMap<ConfigSnapshot, ReadonlySet<string>>();
  /** Secret to digest, for secrets that matched a key: hashing each request's key cost measurably. */
  private readonly proven = new Map<string, string>();
  private readonly counters: Map<string, KeyCounters>;
  private readonly tickets = new Map<
    string,
    {
      name: string;
      ticket: Ticket;
      spends: boolean;
      /** By the shared counters; by this instance alone while they are away (owed to them); here only. */
      counted: "shared" | "alone" | "here";
    }
  >();
  /** Set when keys and counters are shared with other instances (issue 19). */
  private shared: SharedKeys | undefined;
  /** Keys changed here while Redis was away: pushed, over Redis's copy, when it is back. */
  private readonly unpublished = new Set<string>();
  /** Each key's write to Redis under way, settled when Redis has answered it (or could not). */
  private readonly telling = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  /**
   * The flush timer's callback, made once: an arrow written in markDirty made the engine keep a
   * scope for `this` on each call, that is on every request a key admits.
   */
  private readonly flushLater = () => {
    this.flushTimer = undefined;
    this.flush();
  };
  /** Keys' model globs, compiled once per distinct list, and the models judged against each. */
  private readonly modelRules = new SharedRules<KeyRecord, ModelRule>((models) => ({
    matches: picomatch([...models], { dot: true }),
    verdicts: new Map(),
  }));
  /** Keys' networks, parsed once per distinct list, and the addresses judged against each. */
  private readonly networkRules = new SharedRules<KeyRecord, NetworkRule>((ips) => ({
    networks: ips.flatMap((text) => parseCidr(text) ?? []),
    verdicts: new Map(),
  }));

  constructor(
    private readonly store: KeyStore,
    private readonly counterStore: CounterStore,
    private readonly now: () => number = Date.now,
  ) {
    for (const record of store.list()) this.remember(record);
    this.counters = counterStore.load();
  }

  /** gateway.yaml's keys as records, by digest: built once per configuration. */
  private configKeys(snapshot: ConfigSnapshot): Map<string, KeyRecord> {
    let found = this.fromConfig.get(snapshot);
    if (!found) {
      found = new Map();
      for (const key of snapshot.proxy.clientKeys) {
        const digest = digestOf(key.key);
        found.set(digest, {
          name: key.name,
          source: "gateway.yaml",
          digest,
          createdAt: this.now(),
          ...key.limits,
        });
      }
      this.fromConfig.set(snapshot, found);
    }
    return found;
  }

  /** The names gateway.yaml's keys hold: those names are theirs, whatever was made before. */
  private configNames(snapshot: ConfigSnapshot): ReadonlySet<string> {
    let names = this.configNameSets.get(snapshot);
    if (!names) {
      names = new Set([...this.configKeys(snapshot).values()].map((r) => r.name));
      this.configNameSets.set(snapshot, names);
    }
    return names;
  }

  private remember(record: KeyRecord): void {
    this.stored.set(record.name, record);
    this.storedByDigest.set(record.digest, record);
  }

  /** The key a presented secret belongs to, revoked and expired ones included (the caller says why it refuses). */
  identify(snapshot: ConfigSnapshot, secret: string): KeyRecord | undefined {
    let digest = this.proven.get(secret);
    const known = digest !== undefined;
    digest ??= digestOf(secret);
    const config = this.configKeys(snapshot);
    let record = config.get(digest);
    if (!record) {
      record = this.storedByDigest.get(digest);
      // A name is one key's: a made key whose name gateway.yaml has since given to another is
      // hidden from the list and cannot be revoked, so its secret must not keep working unseen.
      if (record && this.configNames(snapshot).has(record.name)) return undefined;
    }
    if (record && !known) {
      if (this.proven.size >= PROVEN_MAX) this.proven.clear();
      this.proven.set(secret, digest);
    }
    return record;
  }

  /** Whether a client key may name this model; no key, or a key without `models`, may name any. */
  allowsModel(record: KeyRecord | undefined, model: string): boolean {
    if (!record?.models) return true;
    const known = this.modelRules.of(record, record.models);
    // A client names the same few models: running the glob matcher for each request cost more
    // than the rest of the key's rules together (a CPU profile of 1,000 keys with every limit).
    let verdict = known.verdicts.get(model);
    if (verdict === undefined) {
      verdict = known.matches(model);
      // Only names of a model's length are kept: a client's body can name anything, up to the
      // body limit, and a thousand such names must not be held for it.
      if (model.length <= REMEMBERED_MODEL_LENGTH) {
        if (known.verdicts.size >= MODELS_MAX) known.verdicts.clear();
        known.verdicts.set(model, verdict);
      }
    }
    return verdict;
  }

  /** Whether a key limited to networks may be used from this address (as the connection shows it). */
  allowsAddress(record: KeyRecord, peer: string | undefined): boolean {
    if (!record.ips) return true;
    if (peer === undefined) return false;
    const known = this.networkRules.of(record, record.ips);
    // A client sends from the same few addresses: each is parsed and matched once.
    let verdict = known.verdicts.get(peer);
    if (verdict === undefined) {
      const address = parseAddress(peer);
      verdict = address !== undefined && known.networks.some((n) => cidrMatches(n, address));
      if (known.verdicts.size >= ADDRESSES_MAX) known.verdicts.clear();
      known.verdicts.set(peer, verdict);
    }
    return verdict;
  }

  /** How many keys made with `levity keys add` a client may use now. */
  usableMade(): number {
    const now = this.now();
    let count = 0;
    for (const record of this.stored.values())
      if (
        record.revokedAt === undefined &&
        (record.expiresAt === undefined || now < record.expiresAt)
      )
        count++;
    return count;
  }

  /** Every key: gateway.yaml's first, then the stored ones, by name. */
  list(snapshot: ConfigSnapshot): KeyRecord[] {
    const config = [...this.configKeys(snapshot).values()];
    const names = new Set(config.map((r) => r.name));
    const stored = [...this.stored.values()]
      .filter((r) => !names.has(r.name))
      .sort((a, b) => a.name.localeCompare(b.name));
    return [...config, ...stored];
  }

  get(snapshot: ConfigSnapshot, name: string): KeyRecord | undefined {
    for (const record of this.configKeys(snapshot).values())
      if (record.name === name) return record;
    return this.stored.get(name);
  }

  /**
   * Shares keys and counters with the other instances: the keys Redis holds are adopted (and
   * this instance's pushed there) now and at every reconnection, each change another instance
   * publishes is adopted as it comes, and what was counted alone while Redis was down is merged.
   */
  share(shared: SharedKeys): void {
    this.shared = shared;
    shared.listen((record) => this.adopt(record));
    const reconcile = async () => {
      let remote: KeyRecord[];
      try {
        remote = await shared.records();
      } catch {
        return; // Tried again at the next reconnection.
      }
      const byName = new Map(remote.map((r) => [r.name, r]));
      for (const local of this.stored.values()) {
        const there = byName.get(local.name);
        // Made or changed here while Redis was down; a revoke is never undone by a stale copy.
        const pushed = !there || this.unpublished.has(local.name) || revokeStands(local, there);
        if (!pushed) this.adopt(there);
        else this.written(local.name, await shared.write(local));
      }
      for (const record of remote) if (!this.stored.has(record.name)) this.adopt(record);
      await shared.merge();
    };
    shared.onReconnect(() => void reconcile());
    if (shared.up()) void reconcile();
  }

  /** A key as another instance made or changed it. */
  private adopt(record: KeyRecord): void {
    const known = this.stored.get(record.name);
    if (known && JSON.stringify(known) === JSON.stringify(record)) return;
    // A revoke stands: a late copy from before it does not bring the key back.
    const next =
      known && revokeStands(known, record) ? { ...record, revokedAt: known.revokedAt } : record;
    this.store.put(next);
    this.remember(next);
  }

  /**
   * Tells the other instances of a change made here; told() waits for it. Never rejects: a write
   * that fails leaves the key unpublished, and reconciling makes good the loss.
   */
  private publish(record: KeyRecord): void {
    if (!this.shared) return;
    const shared = this.shared;
    const { name } = record;
    this.unpublished.add(name);
    if (!shared.up()) return;
    const write = shared.write(record).then((outcome) => {
      this.written(name, outcome);
      if (this.telling.get(name) === write) this.telling.delete(name);
    });
    this.telling.set(name, write);
  }

  /**
   * Settled once Redis holds the key's last change made here, and so once every instance listening
   * has been sent it (or once Redis could not be asked, within the link's deadline): an admin's
   * revoke is answered only then, so the key is refused everywhere as the answer says.
   */
  told(name: string): Promise<void> {
    return this.telling.get(name) ?? Promise.resolve();
  }

  /** What a write to Redis came to: taken, failed (pushed at the next reconcile), or a revoke kept. */
  private written(name: string, outcome: boolean | KeyRecord): void {
    if (outcome === false) return;
    this.unpublished.delete(name);
    if (outcome !== true) this.adopt(outcome);
  }

  /** Makes a key; its secret is returned here once and kept nowhere. */
  add(
    snapshot: ConfigSnapshot,
    name: string,
    limits: KeyLimits,
  ): { record: KeyRecord; secret: string } {
    if (!KEY_NAME.test(name))
      throw new KeyStoreError(400, `"${name.slice(0, 80)}" is not a key name: ${KEY_NAME_RULE}.`);
    if (this.get(snapshot, name))
      throw new KeyStoreError(
        409,
        `A key named "${name}" already exists; choose another name, or revoke it and pick a new one.`,
      );
    const secret = newSecret();
    const record: KeyRecord = {
      name,
      source: "levity",
      digest: digestOf(secret),
      createdAt: this.now(),
      ...limits,
    };
    this.store.add(record);
    this.remember(record);
    this.publish(record);
    return { record, secret };
  }

  update(snapshot: ConfigSnapshot, name: string, changes: KeyChanges): KeyRecord {
    this.refuseConfigKey(snapshot, name, "changed");
    const next = this.store.update(name, changes);
    this.remember(next);
    this.publish(next);
    return next;
  }

  revoke(snapshot: ConfigSnapshot, name: string): KeyRecord {
    this.refuseConfigKey(snapshot, name, "revoked");
    const next = this.store.revoke(name, this.now());
    this.remember(next);
    this.publish(next);
    return next;
  }

  private refuseConfigKey(snapshot: ConfigSnapshot, name: string, what: string): void {
    for (const record of this.configKeys(snapshot).values())
      if (record.name === name)
        throw new KeyStoreError(
          400,
          `The key "${name}" is defined in gateway.yaml and is ${what} there, not through levity keys.`,
        );
  }

  /** One key's live counters (for tests and the state database). */
  countersFor(name: string): KeyCounters {
    return this.countersOf(name);
  }

  private countersOf(name: string): KeyCounters {
    let counters = this.counters.get(name);
    if (!counters) {
      counters = freshCounters(this.now());
      this.counters.set(name, counters);
    }
    return counters;
  }

  /**
   * Whether the key may send this request now; when it may, the request is counted under its id
   * until its record settles it. `estimate` is the request's tokens as levity guesses them.
   */
  admit(
    record: KeyRecord,
    requestId: string,
    estimate: number,
    /** False for a token count: it is a request, but what it reports is not tokens spent. */
    spends = true,
  ): Refusal | undefined | Promise<Refusal | undefined> {
    // Shared: the shared counters decide, in one call; only then is admission asynchronous. A
    // key without limits has nothing to decide: it is counted here, without a round trip.
    if (!this.shared || !hasLimits(record))
      return this.admitHere(record, requestId, estimate, spends, "here");
    if (this.shared.up()) return this.admitShared(this.shared, record, requestId, estimate, spends);
    return this.admitHere(record, requestId, estimate, spends, "alone");
  }

  private admitHere(
    record: KeyRecord,
    requestId: string,
    estimate: number,
    spends: boolean,
    counted: "alone" | "here",
  ): Refusal | undefined {
    const verdict = admit(this.countersOf(record.name), record, estimate, this.now());
    if (isRefusal(verdict)) return verdict;
    this.tickets.set(requestId, { name: record.name, ticket: verdict, spends, counted });
    // Counted alone while Redis is away: owed to the shared counters, merged when it is back.
    if (counted === "alone") this.shared?.owe(record.name, verdict, estimate, 0, true);
    this.markDirty(record.name);
    return undefined;
  }

  private async admitShared(
    shared: SharedKeys,
    record: KeyRecord,
    requestId: string,
    estimate: number,
    spends: boolean,
  ): Promise<Refusal | undefined> {
    const now = this.now();
    let verdict: Refusal | Ticket;
    try {
      verdict = await shared.admit(record, requestId, estimate, now);
    } catch {
      return this.admitHere(record, requestId, estimate, spends, "alone");
    }
    if (isRefusal(verdict)) return verdict;
    // Counted here too, so that an outage starts from this instance's own share.
    count(this.countersOf(record.name), estimate, now);
    this.tickets.set(requestId, { name: record.name, ticket: verdict, spends, counted: "shared" });
    this.markDirty(record.name);
    return undefined;
  }

  /** A request ended: what it used replaces what was guessed, and its cost is spent. */
  settled(record: RequestRecord): void {
    const held = this.tickets.get(record.requestId);
    if (!held) return;
    this.tickets.delete(record.requestId);
    const tokens = held.spends ? record.inputTokens + record.outputTokens : 0;
    const usd = held.spends ? (record.costUsd ?? 0) : 0;
    settle(this.countersOf(held.name), held.ticket, tokens, usd, this.now());
    if (held.counted === "shared")
      void this.shared?.settle(held.name, held.ticket, record.requestId, tokens, usd);
    else if (held.counted === "alone")
      this.shared?.owe(held.name, held.ticket, tokens - held.ticket.estimate, usd, false);
    this.markDirty(held.name);
  }

  usage(name: string): KeyUsageNow {
    const now = this.now();
    const counters = this.counters.get(name) ?? freshCounters(now);
    rollOver(counters, now);
    const second = Math.floor(now / 1000);
    return {
      requestsLastMinute: windowTotal(counters.requests, second),
      tokensLastMinute: windowTotal(counters.tokens, second),
      inFlight: counters.inFlight,
      tokensToday: counters.dayTokens,
      usdThisMonth: counters.monthUsd,
      dayResetsAt: nextUtcDay(now),
      monthResetsAt: nextUtcMonth(now),
    };
  }

  /**
   * What each key has used: across every instance for keys with limits when shared (one call),
   * else (or if Redis cannot say) this instance's own counts. Undefined when there is nothing
   * to ask, so a caller without shared state stays synchronous.
   */
  sharedUsage(records: KeyRecord[]): Promise<Map<string, KeyUsageNow>> | undefined {
    const shared = this.shared;
    const limited = records.filter(hasLimits).map((r) => r.name);
    if (!shared?.up() || limited.length === 0) return undefined;
    return shared.usage(limited).then(
      (found) => {
        const now = this.now();
        const merged = new Map<string, KeyUsageNow>();
        for (const [name, usage] of found)
          merged.set(name, {
            ...usage,
            dayResetsAt: nextUtcDay(now),
            monthResetsAt: nextUtcMonth(now),
          });
        return merged;
      },
      () => new Map(),
    );
  }

  private markDirty(name: string): void {
    this.dirty.add(name);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(this.flushLater, FLUSH_MS);
    // Once per timer, not on every request that finds one running.
    (this.flushTimer as { unref?: () => void }).unref?.();
  }

  /** Writes the counters that changed since the last write. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const entries: [string, KeyCounters][] = [];
    for (const name of this.dirty) {
      const counters = this.counters.get(name);
      if (counters) entries.push([name, counters]);
    }
    this.dirty.clear();
    this.counterStore.save(entries);
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flush();
    this.counterStore.close();
    this.store.close();
  }
}

/**
 * Whether `held`'s revoke outlives `incoming`, an unrevoked copy of the same key (as Redis's WRITE
 * script in shared-keys.ts judges it): a new key under the same name, another secret and so
 * another digest, is not a copy, and replaces the revoked one.
 */
function revokeStands(held: KeyRecord, incoming: KeyRecord): boolean {
  return (
    held.revokedAt !== undefined &&
    incoming.revokedAt === undefined &&
    held.digest === incoming.digest
  );
}

/** Whether a key has a rate or budget the shared counters must decide. */
function hasLimits(record: KeyRecord): boolean {
  return (
    record.rpm !== undefined ||
    record.tpm !== undefined ||
    record.concurrency !== undefined ||
    record.dailyTokens !== undefined ||
    record.monthlyUsd !== undefined
  );
}
