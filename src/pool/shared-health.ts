import { createHash, randomUUID } from "node:crypto";
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
 * Writes one account's health and tells every instance, in one round trip. ARGV: the record,
 * its expiry (epoch ms; "0" never, "-1" delete: healthy), "1" to write only where Redis holds
 * nothing (pushing after Redis lost its data), the channel and the message.
 */
const PUT = `
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[2] == '-1' then redis.call('DEL', KEYS[1])
elseif ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1])
else redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/** Marks the data Redis holds: a new mark means Redis lost what it had (a restart without persistence). */
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`;

const sha1 = (source: string) => createHash("sha1").update(source).digest("hex");
const SCRIPTS = Object.freeze({
  admit: Object.freeze({ source: ADMIT, sha: sha1(ADMIT) }),
  renew: Object.freeze({ source: RENEW, sha: sha1(RENEW) }),
  put: Object.freeze({ source: PUT, sha: sha1(PUT) }),
  epoch: Object.freeze({ source: EPOCH, sha: sha1(EPOCH) }),
});

interface Message {
  from: string;
  record: SharedRecord;
}

/**
 * When Redis may forget the record: at the end of its last cooldown; never while the account is
 * disabled; at once (delete) when nothing is left to share.
 */
export function recordExpiry(record: SharedRecord, now: number): number {
  if (record.disabledReason) return 0;
  const until = Math.max(record.cooldownUntil, ...Object.values(record.modelCooldowns));
  return until > now ? until : -1;
}

export class SharedPool {
  /** This process, so it ignores its own messages. */
  private readonly instance = randomUUID();
  private leases = 0;
  private host: SharedPoolHost | undefined;
  /** Writes Redis missed while down, by account: pushed when it is back. */
  private readonly dirty = new Map<string, SharedRecord>();
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

  /** Shares a change of health: written and published, or kept for when Redis is back. */
  put(record: SharedRecord): void {
    const id = `${record.upstream}/${record.account}`;
    // While Redis is down this fails at once (and is counted); the record waits for reconcile.
    this.write(record, false).catch(() => {
      this.dirty.set(id, record);
    });
  }

  private async write(record: SharedRecord, onlyIfAbsent: boolean): Promise<void> {
    const message: Message = { from: this.instance, record };
    const json = JSON.stringify(record);
    await this.link.script(
      SCRIPTS.put.source,
      SCRIPTS.put.sha,
      [this.healthKey(`${record.upstream}/${record.account}`)],
      [
        json,
        String(recordExpiry(record, this.host?.now() ?? Date.now())),
        onlyIfAbsent ? "1" : "0",
        this.channel,
        JSON.stringify(message),
      ],
    );
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
      if (lost) for (const record of host.unhealthy()) await this.write(record, true);
      const pending = [...this.dirty.values()];
      this.dirty.clear();
      for (const record of pending) await this.write(record, false);
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
      if (typeof value !== "string") continue;
      try {
        const record = JSON.parse(value) as unknown;
        if (isRecord(record)) records.push(record);
      } catch {
        // A record another version wrote that this one cannot read: its account stays as it is here.
      }
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
