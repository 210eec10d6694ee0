import { Database } from "bun:sqlite";
import { openPrivateDatabase } from "../state/private-files.ts";
import type { Logger } from "../log.ts";
import type { RequestRecord } from "./record.ts";
import { recordColumns, recordFromColumns } from "./record-columns.ts";
import {
  queryLimit,
  statusRange,
  type LoggedRequest,
  type LogQuery,
  type UsageGrouping,
  type UsageRow,
  type UsageTotals,
} from "./request-log.ts";

/*
 * The request log in its own SQLite file (WAL), so its size is the file's and trimming it never
 * touches the gateway's state. The file is written and read by the request log's own thread
 * (request-log-thread.ts); a request never waits for the disk.
 */

/** Trimmed to this share of max_mb, so a full log is not trimmed on every batch. */
const TRIM_TO = 0.9;

const COLUMNS = [
  ["time", "INTEGER NOT NULL"],
  ["request_id", "TEXT NOT NULL"],
  ["client_key", "TEXT"],
  ["method", "TEXT NOT NULL"],
  ["route", "TEXT NOT NULL"],
  ["unmatched", "INTEGER NOT NULL"],
  ["dialect", "TEXT"],
  ["requested_model", "TEXT"],
  ["mapped_model", "TEXT"],
  ["upstream", "TEXT"],
  ["account", "TEXT"],
  ["attempts", "INTEGER NOT NULL"],
  ["status", "INTEGER NOT NULL"],
  ["stream", "INTEGER NOT NULL"],
  ["latency_ms", "REAL NOT NULL"],
  ["ttfb_ms", "REAL NOT NULL"],
  ["input_tokens", "INTEGER NOT NULL"],
  ["output_tokens", "INTEGER NOT NULL"],
  ["cached_tokens", "INTEGER NOT NULL"],
  // Added after the first release: a log written before it gains the column, 0 for its rows.
  ["cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"],
  ["reasoning_tokens", "INTEGER NOT NULL"],
  // Added with the price table: NULL when the model had no price, and for rows from before it.
  ["cost_usd", "REAL"],
  ["error", "TEXT"],
  ["request_body", "TEXT"],
  ["response_body", "TEXT"],
  // Added with levity replay: the request id a replay replays, NULL for every other request.
  ["replay_of", "TEXT"],
] as const;

type Row = Record<(typeof COLUMNS)[number][0], string | number | null> & { seq: number };

function toRow(r: RequestRecord): Omit<Row, "seq"> {
  return recordColumns(r, (set) => (set ? 1 : 0)) as Omit<Row, "seq">;
}

function fromRow(row: Row): LoggedRequest {
  return recordFromColumns(row);
}

/** The WHERE clause for a query's filters, and its parameters. */
function where(query: LogQuery): { sql: string; params: Record<string, string | number> } {
  const clauses: string[] = [];
  const params: Record<string, string | number> = {};
  if (query.model) {
    clauses.push("(requested_model GLOB $model OR mapped_model GLOB $model)");
    params.model = query.model;
  }
  if (query.requestId) {
    clauses.push("request_id = $request_id");
    params.request_id = query.requestId;
  }
  if (query.account) {
    clauses.push("(account = $account OR upstream || '/' || account = $account)");
    params.account = query.account;
  }
  const range = query.status ? statusRange(query.status) : undefined;
  if (range) {
    clauses.push("status BETWEEN $low AND $high");
    params.low = range[0];
    params.high = range[1];
  }
  if (query.since !== undefined) {
    clauses.push("time >= $since");
    params.since = query.since;
  }
  if (query.after !== undefined) {
    clauses.push("seq > $after");
    params.after = query.after;
  }
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

function select(db: Database, query: LogQuery): LoggedRequest[] {
  const { sql, params } = where(query);
  const order = query.after !== undefined ? "ASC" : "DESC";
  return db
    .query<Row, Record<string, string | number>>(
      `SELECT * FROM requests ${sql} ORDER BY seq ${order} LIMIT ${queryLimit(query.limit)}`,
    )
    .all(params)
    .map(fromRow);
}

/** The SQL expression each grouping names a row by; a request with no such value is "-". */
const GROUP_BY: Readonly<Record<UsageGrouping, string>> = {
  key: "coalesce(client_key, '-')",
  model: "coalesce(mapped_model, requested_model, '-')",
  upstream: "coalesce(upstream, '-')",
  account: "coalesce(upstream || '/' || account, '-')",
};

function usageBySql(db: Database, by: UsageGrouping, since: number, until: number): UsageTotals[] {
  const columns = db
    .query<{ name: string }, []>("PRAGMA table_info(requests)")
    .all()
    .map((c) => c.name);
  // A file from before these columns, read without migrating it, has none: 0 and unpriced.
  const has = (name: string, fallback: string) => (columns.includes(name) ? name : fallback);
  const cost = has("cost_usd", "NULL");
  return db
    .query<UsageTotals, { since: number; until: number }>(
      `SELECT ${GROUP_BY[by]} AS name, count(*) AS requests, coalesce(sum(status >= 400), 0) AS errors,
         coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
         coalesce(sum(cached_tokens), 0) AS cached_tokens, coalesce(sum(${has("cache_write_tokens", "0")}), 0) AS cache_write_tokens,
         coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens, coalesce(sum(${cost}), 0) AS cost_usd,
         coalesce(sum(${cost} IS NULL), 0) AS unpriced_requests
       FROM requests WHERE time >= $since AND time <= $until GROUP BY name`,
    )
    .all({ since, until });
}

/** Usage from a request log file no gateway has open, read as readRequestLogFile reads it. */
export function readUsageFromFile(
  path: string,
  by: UsageGrouping,
  since: number,
  until: number,
): UsageTotals[] {
  return withReadOnly(path, (db) => usageBySql(db, by, since, until));
}

/**
 * Reads a request log file that no gateway has open, e.g. after a crash: read-only, so it neither
 * changes the file nor takes the place of the gateway that will open it next. Where SQLite cannot
 * open a WAL file read-only (older versions, without its shared-memory file), it is opened
 * read-write instead; nothing is written either way.
 */
export function readRequestLogFile(path: string, query: LogQuery): LoggedRequest[] {
  return withReadOnly(path, (db) => select(db, query));
}

function withReadOnly<T>(path: string, read: (db: Database) => T): T {
  let db: Database;
  try {
    db = new Database(path, { readonly: true, strict: true });
    db.query("SELECT count(*) FROM requests").get();
  } catch {
    db = new Database(path, { readwrite: true, create: false, strict: true });
  }
  try {
    db.exec("PRAGMA busy_timeout = 2000;");
    return read(db);
  } finally {
    db.close();
  }
}

/** Columns added since a log file was created, added to it (SQLite adds a column in place). */
function addMissingColumns(db: Database): void {
  const present = new Set(
    db
      .query<{ name: string }, []>("PRAGMA table_info(requests)")
      .all()
      .map((c) => c.name),
  );
  for (const [name, type] of COLUMNS)
    if (!present.has(name)) db.exec(`ALTER TABLE requests ADD COLUMN ${name} ${type}`);
}

/**
 * The log's file, written and read in one thread: the request log's worker (request-log-thread.ts)
 * holds it, so that no encoding or write of the log runs on the thread that serves requests.
 */
export interface LogFile {
  /** Writes records in one transaction, and trims the file if it grew past max_mb. */
  write(batch: RequestRecord[]): void;
  /** Deletes what retention and max_mb no longer keep (its owner does, when it opens the file and then every so often). */
  trim(): void;
  query(query: LogQuery): LoggedRequest[];
  usage(since: number): UsageRow[];
  usageBy(by: UsageGrouping, since: number, until: number): UsageTotals[];
  stats(): { records: number; bytes: number };
  /** The time (epoch ms) of the oldest record, or undefined when there is none. */
  oldest(): number | undefined;
  close(): void;
}

/** How often the file is trimmed to its retention and size while levity runs. */
export const RETENTION_CHECK_MS = 10 * 60_000;

export interface LogFileOptions {
  path: string;
  retentionMs: number;
  maxBytes: number;
  log: Logger;
  now?: () => number;
}

/** Opens (creating or migrating) the log file; throws when it cannot be opened. */
export function openLogFile(options: LogFileOptions): LogFile {
  const now = options.now ?? Date.now;
  // Incremental vacuum lets a trim give the space back to the disk.
  const db = openPrivateDatabase(
    options.path,
    `CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY, ${COLUMNS.map(([name, type]) => `${name} ${type}`).join(", ")});
    CREATE INDEX IF NOT EXISTS requests_time ON requests (time);`,
    { incrementalVacuum: true },
  );
  addMissingColumns(db);
  const names = COLUMNS.map(([name]) => name);
  const insert = db.prepare(
    `INSERT INTO requests (${names.join(", ")}) VALUES (${names.map((n) => `$${n}`).join(", ")})`,
  );
  const insertAll = db.transaction((rows: Omit<Row, "seq">[]) => {
    for (const row of rows) insert.run(row);
  });
  // Counted once here and kept up to date, so that a metrics scrape does not count the table.
  let records = db.query<{ n: number }, []>("SELECT count(*) AS n FROM requests").get()!.n;

  const usedBytes = () => {
    const pages = db
      .query<{ n: number }, []>(
        "SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count) AS n",
      )
      .get()!.n;
    const size = db.query<{ page_size: number }, []>("PRAGMA page_size").get()!.page_size;
    return pages * size;
  };

  const trim = () => {
    const cutoff = now() - options.retentionMs;
    const aged = db.prepare("DELETE FROM requests WHERE time < $cutoff").run({ cutoff }).changes;
    let trimmed = 0;
    let used = usedBytes();
    // Deleting the oldest share of the rows frees about that share of the pages; a second pass catches large bodies.
    for (let pass = 0; pass < 4 && used > options.maxBytes; pass++) {
      const rows = db.query<{ n: number }, []>("SELECT count(*) AS n FROM requests").get()!.n;
      if (rows === 0) break;
      const drop = Math.max(1, Math.ceil(rows * (1 - (TRIM_TO * options.maxBytes) / used)));
      trimmed += db
        .prepare(
          "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests ORDER BY seq LIMIT $drop)",
        )
        .run({ drop }).changes;
      used = usedBytes();
    }
    if (aged + trimmed > 0) {
      db.exec("PRAGMA incremental_vacuum");
      records = db.query<{ n: number }, []>("SELECT count(*) AS n FROM requests").get()!.n;
    }
  };

  return {
    write(batch) {
      try {
        insertAll(batch.map(toRow));
        records += batch.length;
        if (usedBytes() > options.maxBytes) trim();
      } catch (error) {
        options.log.error(
          `request log: ${batch.length} records could not be written to ${options.path}: ${(error as Error).message}`,
        );
      }
    },
    trim() {
      try {
        trim();
      } catch (error) {
        options.log.error(
          `request log: trimming ${options.path} failed: ${(error as Error).message}`,
        );
      }
    },
    query: (query) => select(db, query),
    usage(since) {
      return db
        .query<UsageRow, { since: number }>(
          `SELECT strftime('%Y-%m-%d', time / 1000, 'unixepoch') AS day, coalesce(mapped_model, requested_model, '') AS model,
             coalesce(upstream, '') AS upstream, coalesce(account, '') AS account, count(*) AS requests,
             sum(status >= 400) AS errors, sum(input_tokens) AS inputTokens, sum(output_tokens) AS outputTokens,
             sum(cached_tokens) AS cachedTokens, sum(cache_write_tokens) AS cacheWriteTokens, sum(reasoning_tokens) AS reasoningTokens
           FROM requests WHERE time >= $since GROUP BY day, model, upstream, account ORDER BY day, model, upstream, account`,
        )
        .all({ since });
    },
    usageBy: (by, since, until) => usageBySql(db, by, since, until),
    stats: () => ({ records, bytes: usedBytes() }),
    oldest: () =>
      db.query<{ t: number | null }, []>("SELECT min(time) AS t FROM requests").get()?.t ??
      undefined,
    close() {
      // Every statement finalised first: SQLite otherwise keeps the connection (and its
      // checkpoint) alive past close, and the next process to open the file finds it busy.
      insert.finalize();
      db.close(true);
    },
  };
}
