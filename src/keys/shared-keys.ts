import type { KeyRecord } from "../config/key-record.ts";
import { lua } from "../state/lua-script.ts";
import type { SharedLink } from "../state/shared-link.ts";
import type { Refusal, Ticket } from "./admission.ts";
import { nextUtcDay, nextUtcMonth, utcDay, utcMonth } from "./windows.ts";

/*
 * Client keys and their counters shared by every instance through Redis. Keys: one hash of
 * records, and a channel each change is published on with the record itself, so a revoke reaches
 * every instance in one round trip. Counters: one Lua script admits a request by the same rules
 * as admission.ts (sliding 60 one-second buckets for rpm and tpm, tokens per UTC day, spend per
 * UTC month, requests in flight), atomically, so `rpm: 60` lets exactly 60 through across all
 * instances; another settles it. In flight is a set of leases that expire, so an instance that
 * dies holding requests does not hold the key's concurrency for ever.
 *
 * When Redis fails, the caller's local counters decide (KeyService) and what they counted is owed
 * here; when the link is back, the debt is merged into the shared counters.
 */

/** A request in flight holds the key's concurrency at most this long if its instance dies. */
const LEASE_MS = 15 * 60_000;
/** Budget counters outlive a month; windows a minute and a bit. */
const BUDGET_TTL_S = 40 * 86_400;
const WINDOW_TTL_S = 120;

/*
 * The clock and the windows, shared by the scripts. The clock is Redis's own (so instances on
 * hosts whose clocks differ count the same seconds) unless ARGV[1] gives one (the tests' clock).
 * A window is a hash of one-second buckets plus 't', their total, and 'o', the oldest bucket's
 * second: a request reads two fields, and the buckets are recounted only when one has left.
 */
const CLOCK_AND_WINDOWS = `local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local second = math.floor(now / 1000)
local day = math.floor(now / 86400000)
local function total(key)
  local h = redis.call('HMGET', key, 't', 'o')
  local t, o = tonumber(h[1]) or 0, tonumber(h[2])
  if o and o <= second - 60 then
    local flat = redis.call('HGETALL', key)
    local stale = {}
    t, o = 0, nil
    for i = 1, #flat, 2 do
      local s = tonumber(flat[i])
      if s and s <= second - 60 then
        stale[#stale + 1] = flat[i]
      elseif s then
        t = t + tonumber(flat[i + 1])
        if not o or s < o then o = s end
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    redis.call('HSET', key, 't', t)
    if o then redis.call('HSET', key, 'o', o) else redis.call('HDEL', key, 'o') end
  end
  return t
end
local function add(key, s, amount)
  local v = redis.call('HINCRBY', key, s, amount)
  if v < 0 then
    redis.call('HSET', key, s, 0)
    amount = amount - v
  end
  redis.call('HINCRBY', key, 't', amount)
  local o = tonumber(redis.call('HGET', key, 'o'))
  if not o or s < o then redis.call('HSET', key, 'o', s) end
end
`;

// The day's and the month's roll-over of one key's budgets (KEYS[3]), and writing them back.
const BUDGETS = `local b = redis.call('HMGET', KEYS[3], 'day', 'dayTokens', 'month', 'monthUsd')
local dayTokens, month, monthUsd = tonumber(b[2]) or 0, b[3] or '', tonumber(b[4]) or 0
if tonumber(b[1]) ~= day then
  dayTokens = 0
  if month ~= ARGV[2] then
    month = ARGV[2]
    monthUsd = 0
  end
end
local function keep()
  redis.call('HSET', KEYS[3], 'day', day, 'dayTokens', dayTokens, 'month', month, 'monthUsd', string.format('%.17g', monthUsd))
  redis.call('EXPIRE', KEYS[3], ${BUDGET_TTL_S})
  redis.call('EXPIRE', KEYS[1], ${WINDOW_TTL_S})
  redis.call('EXPIRE', KEYS[2], ${WINDOW_TTL_S})
end
`;

const COMMON = CLOCK_AND_WINDOWS + BUDGETS;

/*
 * KEYS: requests window, tokens window, budgets, in flight. ARGV: now ms or "" (Redis's clock),
 * this month, estimate, monthly_usd, daily_tokens, rpm, tpm, concurrency ("" for none), request
 * id, lease ms. Returns { 0, second } when admitted, else { limit code, used, seconds to wait }.
 */
const ADMIT = lua(`${COMMON}
local estimate = tonumber(ARGV[3])
local function untilRoom(key, total, limit, need)
  local flat, buckets = redis.call('HGETALL', key), {}
  for i = 1, #flat, 2 do
    local s = tonumber(flat[i])
    if s and s > second - 60 and s <= second then buckets[#buckets + 1] = { s, tonumber(flat[i + 1]) } end
  end
  table.sort(buckets, function(x, y) return x[1] < y[1] end)
  for _, bucket in ipairs(buckets) do
    if total + need <= limit or total == 0 then break end
    total = total - bucket[2]
    if total + need <= limit or total == 0 then return math.max(1, bucket[1] + 60 - second) end
  end
  return 1
end
local requestTotal = total(KEYS[1])
local tokenTotal = total(KEYS[2])
local verdict
if ARGV[4] ~= '' and monthUsd >= tonumber(ARGV[4]) then
  verdict = { 1, string.format('%.17g', monthUsd), 0 }
elseif ARGV[5] ~= '' and dayTokens > 0 and dayTokens + estimate > tonumber(ARGV[5]) then
  verdict = { 2, tostring(dayTokens), 0 }
elseif ARGV[6] ~= '' and requestTotal + 1 > tonumber(ARGV[6]) then
  verdict = { 3, tostring(requestTotal), untilRoom(KEYS[1], requestTotal, tonumber(ARGV[6]), 1) }
elseif ARGV[7] ~= '' and tokenTotal > 0 and tokenTotal + estimate > tonumber(ARGV[7]) then
  verdict = { 4, tostring(tokenTotal), untilRoom(KEYS[2], tokenTotal, tonumber(ARGV[7]), estimate) }
elseif ARGV[8] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local inFlight = redis.call('ZCARD', KEYS[4])
  if inFlight >= tonumber(ARGV[8]) then verdict = { 5, tostring(inFlight), 1 } end
end
if verdict then
  keep()
  return verdict
end
add(KEYS[1], second, 1)
add(KEYS[2], second, estimate)
dayTokens = dayTokens + estimate
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[10]), ARGV[9])
redis.call('PEXPIRE', KEYS[4], ARGV[10])
keep()
return { 0, second }`);

/*
 * KEYS: as ADMIT. ARGV: now ms or "", this month, the admitted second, estimate, tokens used, usd
 * spent, request id. The estimate is replaced by what was used, in the second it was admitted
 * while that is in the window, else now (admission.ts settle).
 */
const SETTLE = lua(`${COMMON}
local admitted, estimate, used = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREM', KEYS[4], ARGV[7])
total(KEYS[2])
if admitted > second - 60 then add(KEYS[2], admitted, used - estimate) else add(KEYS[2], second, used) end
if math.floor(admitted * 1000 / 86400000) == day then
  dayTokens = math.max(0, dayTokens + used - estimate)
else
  dayTokens = math.max(0, dayTokens + used)
end
monthUsd = monthUsd + tonumber(ARGV[6])
keep()
return 1`);

/*
 * KEYS: as ADMIT. ARGV: now ms or "", this month, the day and month the debt is of, its tokens
 * and usd, then (second, requests, tokens) for each second of it. What an instance counted alone
 * while Redis was down, added to the shared counters.
 */
const MERGE = lua(`${COMMON}
if tonumber(ARGV[3]) == day then dayTokens = math.max(0, dayTokens + tonumber(ARGV[5])) end
if ARGV[4] == month then monthUsd = monthUsd + tonumber(ARGV[6]) end
total(KEYS[1])
total(KEYS[2])
for i = 7, #ARGV, 3 do
  local s = tonumber(ARGV[i])
  if s > second - 60 and s <= second then
    add(KEYS[1], s, tonumber(ARGV[i + 1]))
    add(KEYS[2], s, tonumber(ARGV[i + 2]))
  end
end
keep()
return 1`);

/*
 * KEYS: four per key, as ADMIT. ARGV: now ms or "", this month. Returns, per key, { requests and
 * tokens in the window, in flight, today's tokens, this month's spend }.
 */
const USAGE = lua(`${CLOCK_AND_WINDOWS}
local out = {}
for i = 1, #KEYS, 4 do
  local b = redis.call('HMGET', KEYS[i + 2], 'day', 'dayTokens', 'month', 'monthUsd')
  local today = tonumber(b[1]) == day and (tonumber(b[2]) or 0) or 0
  local spent = b[3] == ARGV[2] and (tonumber(b[4]) or 0) or 0
  out[#out + 1] = {
    tostring(total(KEYS[i])),
    tostring(total(KEYS[i + 1])),
    tostring(redis.call('ZCOUNT', KEYS[i + 3], now, '+inf')),
    tostring(today),
    string.format('%.17g', spent),
  }
end
return out`);

/** What a key has used, as the shared counters hold it. */
export interface SharedUsage {
  requestsLastMinute: number;
  tokensLastMinute: number;
  inFlight: number;
  tokensToday: number;
  usdThisMonth: number;
}

/*
 * KEYS: the records hash. ARGV: name, record JSON, channel, "1" if the record is revoked, digest.
 * A revoke stands here as in each instance (KeyService.adopt): an unrevoked copy of the same key
 * (its digest) from an instance that was cut off when it was revoked (and changed it then, or
 * found Redis restarted empty) does not replace it, or the key would work again on every
 * instance that learns it from Redis. The revoked record is published again and returned, so the
 * writer adopts it. A new key of the same name (another secret) is written as any other.
 */
const WRITE = lua(`if ARGV[4] ~= '1' then
  local held = redis.call('HGET', KEYS[1], ARGV[1])
  if held then
    local ok, record = pcall(cjson.decode, held)
    if ok and type(record) == 'table' and record.revokedAt ~= nil and record.digest == ARGV[5] then
      redis.call('PUBLISH', ARGV[3], held)
      return held
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`);

const LIMITS: readonly Refusal["limit"][] = [
  "monthly_usd",
  "daily_tokens",
  "rpm",
  "tpm",
  "concurrency",
];

/** What one key counted alone while Redis was down, to merge when it is back. */
interface Debt {
  day: number;
  month: string;
  dayTokens: number;
  usd: number;
  /** second → [requests, tokens] */
  seconds: Map<number, [number, number]>;
}

const optional = (n: number | undefined) => (n === undefined ? "" : String(n));

export class SharedKeys {
  private readonly debts = new Map<string, Debt>();
  private readonly recordsKey: string;
  private readonly channel: string;

  constructor(
    private readonly link: SharedLink,
    private readonly prefix: string,
    /** The tests' clock; without it the scripts count by Redis's clock. */
    private readonly clock?: () => number,
  ) {
    this.recordsKey = `${prefix}:keys`;
    this.channel = `${prefix}:keys`;
  }

  private now(): number {
    return this.clock ? this.clock() : Date.now();
  }

  /** The scripts' first argument: "" for Redis's clock. */
  private stamp(now: number): string {
    return this.clock ? String(now) : "";
  }

  up(): boolean {
    return this.link.up();
  }

  private counterKeys(name: string): string[] {
    const base = `${this.prefix}:key:${name}`;
    return [`${base}:requests`, `${base}:tokens`, `${base}:budget`, `${base}:inflight`];
  }

  /** The verdict of the shared counters; rejects when Redis cannot give one (the caller decides alone). */
  async admit(
    record: KeyRecord,
    requestId: string,
    estimate: number,
    now: number,
  ): Promise<Refusal | Ticket> {
    const answer = await this.link.script(ADMIT.source, ADMIT.sha, this.counterKeys(record.name), [
      this.stamp(now),
      utcMonth(now),
      String(estimate),
      optional(record.monthlyUsd),
      optional(record.dailyTokens),
      optional(record.rpm),
      optional(record.tpm),
      optional(record.concurrency),
      requestId,
      String(LEASE_MS),
    ]);
    if (!Array.isArray(answer)) throw new Error("an admission script answered nothing");
    const [code, used, wait] = answer.map(Number) as [number, number, number];
    if (code === 0) return { second: used, estimate };
    return refusalOf(LIMITS[code - 1]!, record, used, wait, estimate, now);
  }

  /** What each key has used across every instance; rejects when Redis cannot say. */
  async usage(names: string[]): Promise<Map<string, SharedUsage>> {
    const now = this.now();
    const answer = await this.link.script(
      USAGE.source,
      USAGE.sha,
      names.flatMap((name) => this.counterKeys(name)),
      [this.stamp(now), utcMonth(now)],
    );
    const found = new Map<string, SharedUsage>();
    if (!Array.isArray(answer)) return found;
    names.forEach((name, i) => {
      const row = answer[i];
      if (!Array.isArray(row)) return;
      const [requests, tokens, inFlight, today, spent] = row.map(Number) as number[];
      found.set(name, {
        requestsLastMinute: requests!,
        tokensLastMinute: tokens!,
        inFlight: inFlight!,
        tokensToday: today!,
        usdThisMonth: spent!,
      });
    });
    return found;
  }

  /** Settles a request the shared counters admitted; if Redis fails, its tokens and spend are owed. */
  settle(
    name: string,
    ticket: Ticket,
    requestId: string,
    tokens: number,
    usd: number,
  ): Promise<unknown> {
    const now = this.now();
    return this.link
      .script(SETTLE.source, SETTLE.sha, this.counterKeys(name), [
        this.stamp(now),
        utcMonth(now),
        String(ticket.second),
        String(ticket.estimate),
        String(tokens),
        String(usd),
        requestId,
      ])
      .catch(() =>
        this.owe(
          name,
          { second: ticket.second, estimate: 0 },
          tokens - ticket.estimate,
          usd,
          false,
        ),
      );
  }

  /** Counts what this instance admitted or settled alone, to merge when Redis is back. */
  owe(name: string, ticket: Ticket, tokens: number, usd: number, request: boolean): void {
    const now = this.now();
    let debt = this.debts.get(name);
    if (!debt || debt.day !== utcDay(now)) {
      debt = { day: utcDay(now), month: utcMonth(now), dayTokens: 0, usd: 0, seconds: new Map() };
      this.debts.set(name, debt);
    }
    debt.dayTokens += tokens;
    debt.usd += usd;
    const bucket = debt.seconds.get(ticket.second) ?? [0, 0];
    bucket[0] += request ? 1 : 0;
    bucket[1] += tokens;
    debt.seconds.set(ticket.second, bucket);
    // Only the last minute's seconds can still be merged into a window: a long outage keeps no more.
    if (debt.seconds.size > 120)
      for (const second of debt.seconds.keys())
        if (second <= Math.floor(now / 1000) - 60) debt.seconds.delete(second);
  }

  /** Adds every debt to the shared counters (when the link is back); a debt that fails stays owed. */
  async merge(): Promise<void> {
    const now = this.now();
    for (const [name, debt] of [...this.debts]) {
      this.debts.delete(name);
      const seconds = [...debt.seconds].filter(([s]) => s > Math.floor(now / 1000) - 60);
      try {
        await this.link.script(MERGE.source, MERGE.sha, this.counterKeys(name), [
          this.stamp(now),
          utcMonth(now),
          String(debt.day),
          debt.month,
          String(debt.dayTokens),
          String(debt.usd),
          ...seconds.flatMap(([s, [requests, tokens]]) => [
            String(s),
            String(requests),
            String(tokens),
          ]),
        ]);
      } catch {
        this.debts.set(name, debt);
        return;
      }
    }
  }

  /**
   * Writes a key's record for every instance and tells them. Resolves false when Redis could not
   * be asked, true when it took the record, or the revoked record it kept instead (see WRITE).
   */
  async write(record: KeyRecord): Promise<boolean | KeyRecord> {
    const text = JSON.stringify(record);
    try {
      const kept = await this.link.script(
        WRITE.source,
        WRITE.sha,
        [this.recordsKey],
        [record.name, text, this.channel, record.revokedAt === undefined ? "" : "1", record.digest],
      );
      return recordFrom(kept) ?? true;
    } catch {
      return false;
    }
  }

  /** Every key's record as Redis holds it; rejects when Redis is unreachable. */
  async records(): Promise<KeyRecord[]> {
    const flat = await this.link.call("HGETALL", [this.recordsKey]);
    const texts = Array.isArray(flat)
      ? flat.filter((_, i) => i % 2 === 1)
      : flat && typeof flat === "object"
        ? Object.values(flat)
        : [];
    return texts.flatMap((text) => recordFrom(text) ?? []);
  }

  /** Told each record another instance wrote (its own too: adopting it again is harmless). */
  listen(onRecord: (record: KeyRecord) => void): void {
    this.link.subscribe(this.channel, (message) => {
      const record = recordFrom(message);
      if (record) onRecord(record);
    });
  }

  onReconnect(listener: () => void): void {
    this.link.onChange((up) => up && listener());
  }
}

function recordFrom(text: unknown): KeyRecord | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const value = JSON.parse(text) as KeyRecord;
    return typeof value?.name === "string" && typeof value.digest === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

function refusalOf(
  limit: Refusal["limit"],
  record: KeyRecord,
  used: number,
  wait: number,
  need: number,
  now: number,
): Refusal {
  switch (limit) {
    case "monthly_usd":
      return { limit, allowed: record.monthlyUsd!, used, resetsAt: nextUtcMonth(now) };
    case "daily_tokens":
      return { limit, allowed: record.dailyTokens!, used, need, resetsAt: nextUtcDay(now) };
    case "rpm":
      return { limit, allowed: record.rpm!, used, retryAfterSeconds: wait };
    case "tpm":
      return { limit, allowed: record.tpm!, used, need, retryAfterSeconds: wait };
    case "concurrency":
      return { limit, allowed: record.concurrency!, used, retryAfterSeconds: wait };
  }
}
