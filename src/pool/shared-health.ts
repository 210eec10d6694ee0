import { randomUUID } from "node:crypto";
import { lua } from "../state/lua-script.ts";
import type { SharedLink } from "../state/shared-link.ts";
import type { AccountRecord } from "../state/store.ts";

/*
 * The pool's state on Redis, for many instances that share one pool (`state: redis://…`).
 *
 * Health (cooldowns, disables, consecutive failures) stays in each instance's memory, so picking
 * an account never waits on Redis: a change is written to Redis and PUBLISHed in one script, and
 * every instance applies what it hears. A write that fails while Redis is down is kept and pushed
 * when it is back, then the whole shared state is read again (reconcile).
 *
 * `max_concurrency` and `rpm` are counted in Redis when the account has them: one script call at
 * acquire both checks and takes a slot. In-flight slots are leases that expire unless renewed, so
 * an instance killed while holding one does not hold it for ever.
 */

/** How long a lease lives without renewal: an instance killed holding one frees it within this. */
export const LEASE_TTL_MS = 10_000;
const MINUTE_MS = 60_000;

/** One account's health as every instance saves it (the SQLite record's shape). */
export type SharedRecord = AccountRecord;

/** What the pool lends the shared side: its records, and how to apply one it hears of. */
export interface SharedPoolHost {
  /** Health another instance changed (or Redis holds): replace this instance's. */
  apply(record: SharedRecord): void;
  /** After a reconcile: accounts Redis holds nothing for are healthy everywhere. */
  applyAbsent(present: ReadonlySet<string>): void;
  /** Every account this instance knows that is not healthy: pushed when Redis lost its data. */
  unhealthy(): SharedRecord[];
  now(): number;
}

/** Redis's verdict on an account with shared limits. */
export type Admission =
  | { kind: "admitted"; leaseId: string }
  | { kind: "busy" }
  | { kind: "rpm"; waitMs: number }
  /** Redis did not answer in time: the local checks decide. */
  | { kind: "local" };

/** Checks both limits and takes a slot in each, atomically; returns 0, -1 (busy) or the ms until rpm frees one. */
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, rpm, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= max then return -1 end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${MINUTE_MS})
  if redis.call('ZCARD', KEYS[2]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(oldest[2]) + ${MINUTE_MS} - now)
  end
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ${MINUTE_MS})
end
if max > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
return 0
`;

/** Keeps a lease alive while its request runs (a long stream). */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + ttl, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
return 1
`;

/**
 * Writes one account's health and tells every instance, in one round trip; returns the record
 * written. ARGV: the record, now (epoch ms), the mode, the channel, this instance.
 * - "merge" (a failure or success settled): cooldowns another instance set meanwhile are kept
 *   (the later expiry wins, per model), and so is a disable: two instances that fail at once
 *   must not erase each other's cooldown.
 * - "replace" (an admin's reset, enable or disable; what changed here while Redis was away).
 * - "absent": only where Redis holds nothing (pushing after Redis lost its data).
 * The record lives until its last cooldown ends (a Redis TTL), for ever while disabled, and is
 * deleted when nothing is left to share.
 */
const PUT = `
local record = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local function set(value) return value ~= nil and value ~= cjson.null end
if ARGV[3] == 'absent' and redis.call('EXISTS', KEYS[1]) == 1 then return false end
if ARGV[3] == 'merge' then
  local raw = redis.call('GET', KEYS[1])
  local ok, old = pcall(cjson.decode, raw or '')
  if raw and ok and type(old) == 'table' and old.keyDigest == record.keyDigest then
    local oldUntil = tonumber(old.cooldownUntil) or 0
    if oldUntil > record.cooldownUntil then record.cooldownUntil = oldUntil end
    if type(old.modelCooldowns) == 'table' then
      for model, untilMs in pairs(old.modelCooldowns) do
        local theirs, mine = tonumber(untilMs), tonumber(record.modelCooldowns[model])
        if theirs and theirs > now and (mine == nil or theirs > mine) then
          record.modelCooldowns[model] = theirs
        end
      end
    end
    if not set(record.disabledReason) and set(old.disabledReason) then
      record.disabledReason = old.disabledReason
    end
  end
end
local latest = record.cooldownUntil
for _, untilMs in pairs(record.modelCooldowns) do
  if tonumber(untilMs) and tonumber(untilMs) > latest then latest = tonumber(untilMs) end
end
local json = cjson.encode(record)
if set(record.disabledReason) then redis.call('SET', KEYS[1], json)
elseif latest > now then redis.call('SET', KEYS[1], json, 'PXAT', string.format('%d', latest))
else redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[4], cjson.encode({ from = ARGV[5], record = record }))
return json
`;

/** Marks the data Redis holds: a new mark means Redis lost what it had (a restart without persistence). */
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`;

const SCRIPTS = Object.freeze({
  admit: lua(ADMIT),
  renew: lua(RENEW),
  put: lua(PUT),
  epoch: lua(EPOCH),
});

interface Message {
  from: string;
  record: SharedRecord;
}

/** How a write meets what Redis holds: see PUT. */
export type WriteMode = "merge" | "replace" | "absent";

export class SharedPool {
  /** This process, so it ignores its own messages. */
  private readonly instance = randomUUID();
  private leases = 0;
  private host: SharedPoolHost | undefined;
  /** Writes Redis missed while down, by account (the latest, and "replace" if any was an admin's): pushed when it is back. */
  private readonly dirty = new Map<string, { record: SharedRecord; mode: "merge" | "replace" }>();
  /** The mark of the data Redis held when this instance last read it. */
  private epoch: string | undefined;
  private reconciling: Promise<void> | undefined;

  constructor(
    private readonly link: SharedLink,
    private readonly prefix: string,
    private readonly leaseTtlMs = LEASE_TTL_MS,
  ) {}

  /** Starts listening; reconciles now if the link is up, and every time it comes back. */
  attach(host: SharedPoolHost): void {
    this.host = host;
    this.link.subscribe(this.channel, (message) => this.heard(message));
    this.link.onChange((up) => {
      if (up) void this.reconcile();
    });
    if (this.link.up()) void this.reconcile();
  }

  up(): boolean {
    return this.link.up();
  }

  private get channel(): string {
    return `${this.prefix}:pool:health`;
  }

  private healthKey(id: string): string {
    return `${this.prefix}:pool:health:${id}`;
  }

  private heard(raw: string): void {
    let message: Message;
    try {
      message = JSON.parse(raw) as Message;
    } catch {
      return;
    }
    if (message.from === this.instance || !isRecord(message.record)) return;
    this.host?.apply(message.record);
  }

  /**
   * Shares a change of health: written and published, or kept for when Redis is back. A merge
   * (a settled attempt) comes back with what other instances set meanwhile, which this one takes.
   */
  put(record: SharedRecord, mode: "merge" | "replace"): void {
    const id = `${record.upstream}/${record.account}`;
    // While Redis is down this fails at once (and is counted); the record waits for reconcile.
    this.write(record, mode).then(
      (written) => {
        // Written since: an older record missed while Redis was away must not overwrite it.
        this.dirty.delete(id);
        if (mode === "merge" && written) this.host?.apply(written);
      },
      () => {
        const missed = this.dirty.get(id)?.mode === "replace" ? "replace" : mode;
        this.dirty.set(id, { record, mode: missed });
      },
    );
  }

  private async write(record: SharedRecord, mode: WriteMode): Promise<SharedRecord | undefined> {
    const written = await this.link.script(
      SCRIPTS.put.source,
      SCRIPTS.put.sha,
      [this.healthKey(`${record.upstream}/${record.account}`)],
      [
        JSON.stringify(record),
        String(this.host?.now() ?? Date.now()),
        mode,
        this.channel,
        this.instance,
      ],
    );
    return typeof written === "string" ? parseRecord(written) : undefined;
  }

  /** Pushes what changed here while Redis was away, then takes Redis's state as the pool's. */
  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    const host = this.host;
    if (!host) return;
    try {
      // Loaded up front, so the first cooldown shared is one round trip, not a NOSCRIPT and a retry.
      for (const { source } of Object.values(SCRIPTS))
        await this.link.call("SCRIPT", ["LOAD", source]);
      const fresh = randomUUID();
      const epoch = String(
        await this.link.script(
          SCRIPTS.epoch.source,
          SCRIPTS.epoch.sha,
          [`${this.prefix}:pool:epoch`],
          [fresh],
        ),
      );
      const lost = epoch === fresh || (this.epoch !== undefined && epoch !== this.epoch);
      this.epoch = epoch;
      // Redis lost its data: what any instance knew is better than nothing, but a record another
      // instance has already pushed wins. Otherwise only what this instance changed while away.
      if (lost) for (const record of host.unhealthy()) await this.write(record, "absent");
      const pending = [...this.dirty.values()];
      this.dirty.clear();
      for (const { record, mode } of pending) await this.write(record, mode);
      const present = new Set<string>();
      for (const record of await this.readAll()) {
        present.add(`${record.upstream}/${record.account}`);
        host.apply(record);
      }
      host.applyAbsent(present);
    } catch {
      // The link is down again; it reconciles once more when it is back.
    }
  }

  private async readAll(): Promise<SharedRecord[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = (await this.link.call("SCAN", [
        cursor,
        "MATCH",
        `${this.healthKey("")}*`,
        "COUNT",
        "1000",
      ])) as [string, string[]];
      cursor = String(next);
      keys.push(...found);
    } while (cursor !== "0");
    if (keys.length === 0) return [];
    const values = (await this.link.call("MGET", keys)) as (string | null)[];
    const records: SharedRecord[] = [];
    for (const value of values) {
      const record = typeof value === "string" ? parseRecord(value) : undefined;
      if (record) records.push(record);
    }
    return records;
  }

  /**
   * One round trip: whether Redis lets this account start one more request under its
   * max_concurrency and rpm across all instances, taking the slot if so.
   */
  async admit(id: string, maxConcurrency: number | undefined, rpm: number | undefined) {
    const leaseId = `${this.instance}:${++this.leases}`;
    try {
      const answer = Number(
        await this.link.script(
          SCRIPTS.admit.source,
          SCRIPTS.admit.sha,
          [`${this.prefix}:pool:inflight:${id}`, `${this.prefix}:pool:rpm:${id}`],
          [String(maxConcurrency ?? 0), String(rpm ?? 0), leaseId, String(this.leaseTtlMs)],
        ),
      );
      if (answer === 0) return { kind: "admitted", leaseId } satisfies Admission;
      if (answer < 0) return { kind: "busy" } satisfies Admission;
      return { kind: "rpm", waitMs: answer } satisfies Admission;
    } catch {
      return { kind: "local" } satisfies Admission;
    }
  }

  /** Keeps a lease alive until `release` is called; returns that release. */
  hold(id: string, leaseId: string, maxConcurrency: number | undefined): () => void {
    if (!maxConcurrency) return () => {};
    const key = `${this.prefix}:pool:inflight:${id}`;
    const timer = setInterval(
      () => {
        this.link
          .script(
            SCRIPTS.renew.source,
            SCRIPTS.renew.sha,
            [key],
            [leaseId, String(this.leaseTtlMs)],
          )
          .catch(() => {});
      },
      Math.max(50, Math.floor(this.leaseTtlMs / 3)),
    );
    (timer as { unref?: () => void }).unref?.();
    return () => {
      clearInterval(timer);
      // Not awaited: the request is done; a release Redis missed expires with the lease.
      this.link.call("ZREM", [key, leaseId]).catch(() => {});
    };
  }
}

/** A record as Redis holds it, or undefined for one this version cannot read (its account stays as it is here). */
export function parseRecord(json: string): SharedRecord | undefined {
  try {
    const record = JSON.parse(json) as unknown;
    return isRecord(record) ? record : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is SharedRecord {
  const record = value as SharedRecord | null;
  return (
    typeof record === "object" &&
    record !== null &&
    typeof record.upstream === "string" &&
    typeof record.account === "string" &&
    typeof record.keyDigest === "string" &&
    typeof record.cooldownUntil === "number" &&
    typeof record.modelCooldowns === "object" &&
    record.modelCooldowns !== null &&
    typeof record.consecutiveFailures === "number"
  );
}
