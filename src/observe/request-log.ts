import picomatch from "picomatch";
import type { RequestRecord } from "./record.ts";

/*
 * The request log's contract: records are added on the request path (cheaply, into a buffer)
 * and written in batches; queries see every record added so far. An interface, so a host
 * without bun:sqlite keeps a bounded log in memory.
 */

export interface LogQuery {
  /** A model name or glob, matched against the requested and the mapped model. */
  model?: string;
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

export interface LogStats {
  records: number;
  bytes: number;
  /** Added but not yet written. */
  pending: number;
}

export interface RequestLog {
  add(record: RequestRecord): void;
  /** Writes what is buffered now. */
  flush(): void;
  query(query: LogQuery): LoggedRequest[];
  usage(since: number): UsageRow[];
  stats(): LogStats;
  close(): void;
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
    stats: () => ({ records: records.length, bytes: 0, pending: 0 }),
    close() {},
  };
}
