import picomatch from "picomatch";
import { Counter, Gauge } from "./prometheus.ts";
import type { RequestRecord } from "./record.ts";

/*
 * The request log's contract: records are added on the request path (cheaply, into a buffer)
 * and written in batches; queries see every record added so far. An interface, so a host
 * without bun:sqlite keeps a bounded log in memory.
 */

export interface LogQuery {
  /** A model name or glob, matched against the requested and the mapped model. */
  model?: string;
  /** One request, by its id (X-Request-Id). */
  requestId?: string;
  /** An account name, or upstream/account. */
  account?: string;
  /** 429, 4xx, 5xx, error (400 and up) or ok (below 400). */
  status?: string;
  /** Records at or after this time (epoch ms). */
  since?: number;
  /** Records after this sequence number, oldest first (for --follow); otherwise newest first. */
  after?: number;
  limit?: number;
}

export interface LoggedRequest extends RequestRecord {
  /** Order of arrival in the log; a follower asks for records after the last one it saw. */
  seq: number;
  /** The instance that served it (host:port), in a log that several instances share (PostgreSQL). */
  instance?: string;
}

export interface UsageRow {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  model: string;
  upstream: string;
  account: string;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

/** What `GET /levity/usage?by=` groups requests by: the client key's name, model, upstream or account. */
export type UsageGrouping = "key" | "model" | "upstream" | "account";
export const USAGE_GROUPINGS: readonly UsageGrouping[] = ["key", "model", "upstream", "account"];

/** One group's requests, tokens and cost, in the JSON's own field names. */
export interface UsageTotals {
  name: string;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  /** The priced requests' cost; the unpriced ones add nothing. */
  cost_usd: number;
  /** Requests whose model had no price. */
  unpriced_requests: number;
}

/** The group a record falls in; "-" when it has no such value (no client key with auth off). */
export function usageGroupOf(record: RequestRecord, by: UsageGrouping): string {
  switch (by) {
    case "key":
      return record.clientKey ?? "-";
    case "model":
      return record.mappedModel ?? record.requestedModel ?? "-";
    case "upstream":
      return record.upstream ?? "-";
    case "account":
      return record.upstream && record.account ? `${record.upstream}/${record.account}` : "-";
  }
}

export function emptyTotals(name: string): UsageTotals {
  return {
    name,
    requests: 0,
    errors: 0,
    input_tokens: 0,
    output_tokens: 0,
    cached_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    cost_usd: 0,
    unpriced_requests: 0,
  };
}

/** The rows sorted by cost then requests, most first, and their sum. */
export function usageSummary(rows: UsageTotals[]): { rows: UsageTotals[]; total: UsageTotals } {
  const sorted = [...rows].sort(
    (a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests || (a.name < b.name ? -1 : 1),
  );
  const total = emptyTotals("total");
  for (const row of sorted)
    for (const field of Object.keys(total) as (keyof UsageTotals)[])
      if (field !== "name") total[field] += row[field];
  return { rows: sorted, total };
}

export interface LogStats {
  records: number;
  bytes: number;
  /** Added but not yet written. */
  pending: number;
  /** Set by a log on a server (PostgreSQL): where it is, and whether it answers. */
  store?: "postgres";
  up?: boolean;
  /** Records not kept because the server was away and the buffer was full. */
  dropped?: number;
  /** How many records the buffer holds at most while the server is away. */
  bufferLimit?: number;
}

/** SQLite answers at once; a log on a server answers later. */
export type Awaitable<T> = T | Promise<T>;

export interface RequestLog {
  add(record: RequestRecord): void;
  /** Writes what is buffered now. */
  flush(): void;
  query(query: LogQuery): Awaitable<LoggedRequest[]>;
  usage(since: number): Awaitable<UsageRow[]>;
  /** Requests, tokens and cost from `since` to `until` (epoch ms), one row per group. */
  usageBy(by: UsageGrouping, since: number, until: number): Awaitable<UsageTotals[]>;
  stats(): LogStats;
  /** A log on a server writes what it still holds first, within its deadline. */
  close(): void | Promise<void>;
}

/** The log's server does not answer (down, or slower than the deadline): a read cannot be served. */
export class RequestLogUnavailable extends Error {
  override name = "RequestLogUnavailable";
}

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 5000;

export function queryLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit) || limit <= 0) return DEFAULT_QUERY_LIMIT;
  return Math.min(Math.floor(limit), MAX_QUERY_LIMIT);
}

/** A status filter as the inclusive range of statuses it admits, or undefined when it is not one. */
export function statusRange(filter: string): [number, number] | undefined {
  const text = filter.trim().toLowerCase();
  if (text === "error" || text === "errors") return [400, 599];
  if (text === "ok") return [100, 399];
  const klass = /^([1-5])xx$/.exec(text);
  if (klass) return [Number(klass[1]) * 100, Number(klass[1]) * 100 + 99];
  if (/^[1-5]\d\d$/.test(text)) return [Number(text), Number(text)];
  return undefined;
}

export function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/** A bounded log in memory: the newest `capacity` records, for hosts without SQLite. */
export function memoryRequestLog(capacity = 10_000): RequestLog {
  const records: LoggedRequest[] = [];
  let seq = 0;
  const matches = (query: LogQuery) => {
    const model = query.model ? picomatch(query.model) : undefined;
    const range = query.status ? statusRange(query.status) : undefined;
    return (r: LoggedRequest) =>
      (!model || model(r.requestedModel ?? "") || model(r.mappedModel ?? "")) &&
      (!query.requestId || r.requestId === query.requestId) &&
      (!query.account ||
        r.account === query.account ||
        `${r.upstream}/${r.account}` === query.account) &&
      (!range || (r.status >= range[0] && r.status <= range[1])) &&
      (query.since === undefined || r.time >= query.since) &&
      (query.after === undefined || r.seq > query.after);
  };
  return {
    add(record) {
      records.push({ ...record, seq: ++seq });
      if (records.length > capacity) records.shift();
    },
    flush() {},
    query(query) {
      const found = records.filter(matches(query));
      const limit = queryLimit(query.limit);
      return query.after !== undefined ? found.slice(0, limit) : found.reverse().slice(0, limit);
    },
    usage(since) {
      const rows = new Map<string, UsageRow>();
      for (const r of records) {
        if (r.time < since) continue;
        const model = r.mappedModel ?? r.requestedModel ?? "";
        const key = [utcDay(r.time), model, r.upstream ?? "", r.account ?? ""].join("\u0000");
        let row = rows.get(key);
        if (!row) {
          row = {
            day: utcDay(r.time),
            model,
            upstream: r.upstream ?? "",
            account: r.account ?? "",
            requests: 0,
            errors: 0,
            inputTokens: 0,
            outputTokens: 0,
            cachedTokens: 0,
            cacheWriteTokens: 0,
            reasoningTokens: 0,
          };
          rows.set(key, row);
        }
        row.requests++;
        if (r.status >= 400) row.errors++;
        row.inputTokens += r.inputTokens;
        row.outputTokens += r.outputTokens;
        row.cachedTokens += r.cachedTokens;
        row.cacheWriteTokens += r.cacheWriteTokens;
        row.reasoningTokens += r.reasoningTokens;
      }
      return [...rows.values()];
    },
    usageBy(by, since, until) {
      const rows = new Map<string, UsageTotals>();
      for (const r of records) {
        if (r.time < since || r.time > until) continue;
        const name = usageGroupOf(r, by);
        let row = rows.get(name);
        if (!row) {
          row = emptyTotals(name);
          rows.set(name, row);
        }
        row.requests++;
        if (r.status >= 400) row.errors++;
        row.input_tokens += r.inputTokens;
        row.output_tokens += r.outputTokens;
        row.cached_tokens += r.cachedTokens;
        row.cache_write_tokens += r.cacheWriteTokens;
        row.reasoning_tokens += r.reasoningTokens;
        if (r.costUsd === undefined) row.unpriced_requests++;
        else row.cost_usd += r.costUsd;
      }
      return [...rows.values()];
    },
    stats: () => ({ records: records.length, bytes: 0, pending: 0 }),
    close() {},
  };
}

/** /metrics lines for a log on a server: whether it answers, what waits in memory, what was dropped. */
export function requestLogMetrics(stats: LogStats): string {
  if (stats.store === undefined) return "";
  const up = new Gauge(
    "levity_request_log_up",
    "1 while the request log's server (PostgreSQL) answers; 0 while records wait in memory.",
    [],
  );
  up.set([], stats.up ? 1 : 0);
  const buffered = new Gauge(
    "levity_request_log_buffered",
    "Request log records held in memory, not yet written to the server.",
    [],
  );
  buffered.set([], stats.pending);
  const dropped = new Counter(
    "levity_request_log_dropped_total",
    "Request log records dropped because the server was away and the buffer was full.",
    [],
  );
  dropped.report([], stats.dropped ?? 0);
  return up.render() + buffered.render() + dropped.render();
}
