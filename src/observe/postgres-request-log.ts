import type { SQL } from "bun";
import type { Logger } from "../log.ts";
import { redactedUrl } from "../state/shared-link.ts";
import type { RequestRecord } from "./record.ts";
import { recordColumns, recordFromColumns } from "./record-columns.ts";
import {
  queryLimit,
  RequestLogUnavailable,
  statusRange,
  type LoggedRequest,
  type LogQuery,
  type LogStats,
  type RequestLog,
  type UsageGrouping,
  type UsageRow,
  type UsageTotals,
} from "./request-log.ts";

/*
 * The request log in PostgreSQL, shared by every instance: the same records as requests.db, each
 * with the instance that served it. Records wait in memory and are written by a timer, one
 * multi-row INSERT per batch, so a request never waits for the database. While PostgreSQL is
 * down or slow the records stay in memory, up to a bound, and are written when it answers again;
 * a record is written once whatever happens (its request id is unique, a repeated INSERT of a
 * batch whose answer was lost writes nothing twice). Every call has a deadline.
 */

export interface PostgresLogOptions {
  url: string;
  flushMs: number;
  retentionMs: number;
  /** Milliseconds any one call may take. */
  timeoutMs: number;
  /** Records held in memory while the server is away; more are counted as dropped. */
  bufferRecords: number;
  /** host:port of this instance, asked when a batch is written (the port is known once listening). */
  instance: () => string;
  log: Logger;
  now?: () => number;
  /**
   * Told when what stats() says has changed without a call to it: the server went away or came
   * back, a batch was written, the count of records was refreshed. For the worker that runs this
   * log, which keeps the serving thread's copy of those figures up to date.
   */
  onChange?: () => void;
  /**
   * Told each time records leave the buffer, written (or refused by the server and dropped), in
   * the order they were added, with those refused (their places among the `count`, in order):
   * the worker lets the serving thread drop its copy of a batch only once every record of it is
   * in the table.
   */
  onWritten?: (count: number, refused: readonly { at: number; requestId: string }[]) => void;
}

/** The log, and its figures without the count of records being refreshed (a query every 5 s). */
export interface PostgresRequestLog extends RequestLog {
  figures(): LogStats;
  /** Whether the record was taken: false when it was dropped (the buffer full, or closed). */
  add(record: RequestRecord): boolean;
}

/** Records per INSERT (one JSON parameter), so that no single write holds the connection long. */
const BATCH_MAX = 500;
/** The buffer's other bound: bodies can be large, so records are counted in bytes too. */
export const BUFFER_MAX_BYTES = 64 * 1024 * 1024;
const RETENTION_CHECK_MS = 10 * 60_000;
/** Retries while the server is away, doubling from flush_ms up to this. */
const MAX_RETRY_MS = 2000;
/** /levity/status's record count and size, refreshed at most this often. */
const STATS_EVERY_MS = 5000;

/**
 * The schema, in order: a database at version n gets migrations n+1… when an instance starts.
 * Never edit one that has shipped; add the next.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the records, as requests.db holds them.
  `CREATE TABLE levity_requests (
     seq BIGSERIAL PRIMARY KEY,
     request_id TEXT NOT NULL UNIQUE,
     time BIGINT NOT NULL,
     client_key TEXT,
     method TEXT NOT NULL,
     route TEXT NOT NULL,
     unmatched BOOLEAN NOT NULL,
     dialect TEXT,
     requested_model TEXT,
     mapped_model TEXT,
     upstream TEXT,
     account TEXT,
     attempts INTEGER NOT NULL,
     status INTEGER NOT NULL,
     stream BOOLEAN NOT NULL,
     latency_ms DOUBLE PRECISION NOT NULL,
     ttfb_ms DOUBLE PRECISION NOT NULL,
     input_tokens BIGINT NOT NULL,
     output_tokens BIGINT NOT NULL,
     cached_tokens BIGINT NOT NULL,
     cache_write_tokens BIGINT NOT NULL DEFAULT 0,
     reasoning_tokens BIGINT NOT NULL,
     cost_usd DOUBLE PRECISION,
     error TEXT,
     request_body TEXT,
     response_body TEXT
   );
   CREATE INDEX levity_requests_time ON levity_requests (time)`,
  // 2: which instance served each record, for logs written by several.
  `ALTER TABLE levity_requests ADD COLUMN instance TEXT`,
  // 3: the request id a replay (levity replay) replays.
  `ALTER TABLE levity_requests ADD COLUMN replay_of TEXT`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;
/** Taken while migrating, so instances starting together migrate one after the other. */
const MIGRATION_LOCK = 0x6c657669; // "levi"

/** Brings the schema to `target` (all of MIGRATIONS by default); returns the version it found. */
export async function migrate(sql: SQL, target = SCHEMA_VERSION): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS levity_schema (version INTEGER NOT NULL)`;
    const rows = await tx`SELECT version FROM levity_schema`;
    const found = rows.length > 0 ? Number(rows[0].version) : 0;
    if (rows.length === 0) await tx`INSERT INTO levity_schema (version) VALUES (0)`;
    for (let version = found + 1; version <= target; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!).simple();
      await tx`UPDATE levity_schema SET version = ${version}`;
    }
    return found;
  });
}

type Row = Record<string, string | number | boolean | null>;

/**
 * Text PostgreSQL takes: it refuses NUL in text, and a lone UTF-16 surrogate (half an emoji,
 * where a client's text was cut) in JSON. Either in one record would fail its whole batch.
 */
export function storableText(text: string): string {
  // Almost every text is storable as it is: checked before anything is copied.
  if (text.isWellFormed() && !text.includes("\u0000")) return text;
  return text.toWellFormed().replaceAll("\u0000", "\uFFFD");
}

/** PostgreSQL keeps a flag as a boolean (SQLite as 1 or 0). */
const pgFlag = (set: boolean) => set;

/**
 * A record as a row, in the object recordColumns makes for it: a spread into another object and
 * Object.entries over it were 1.7% of the serving thread's time with the log on PostgreSQL.
 */
function toRow(r: RequestRecord, instance: string): Row {
  const row: Row = recordColumns(r, pgFlag);
  row.instance = instance;
  for (const column in row) {
    const value = row[column];
    if (typeof value === "string") row[column] = storableText(value);
  }
  return row;
}

function fromRow(row: Row): LoggedRequest {
  return recordFromColumns(row);
}

/** A glob as SQLite's GLOB reads it (`*`, `?`, `[abc]`), as an anchored POSIX regular expression. */
export function globToRegex(glob: string): string {
  let out = "^";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*") out += ".*";
    else if (ch === "?") out += ".";
    else if (ch === "[" && glob.indexOf("]", i + 2) !== -1) {
      const end = glob.indexOf("]", i + 2);
      const inner = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      out += `[${inner.startsWith("^") ? `^${inner.slice(1)}` : inner}]`;
      i = end;
    } else out += /[.+^${}()|[\]\\]/.test(ch) ? `\\${ch}` : ch;
  }
  return `${out}$`;
}

/** The WHERE clause for a query's filters, with $1… parameters. */
function where(query: LogQuery): { sql: string; params: (string | number)[] } {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const param = (value: string | number) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (query.model) {
    const pattern = param(globToRegex(query.model));
    clauses.push(`(requested_model ~ ${pattern} OR mapped_model ~ ${pattern})`);
  }
  if (query.requestId) clauses.push(`request_id = ${param(query.requestId)}`);
  if (query.account) {
    const account = param(query.account);
    clauses.push(`(account = ${account} OR upstream || '/' || account = ${account})`);
  }
  const range = query.status ? statusRange(query.status) : undefined;
  if (range) clauses.push(`status BETWEEN ${param(range[0])} AND ${param(range[1])}`);
  if (query.since !== undefined) clauses.push(`time >= ${param(query.since)}`);
  if (query.after !== undefined) clauses.push(`seq > ${param(query.after)}`);
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

const GROUP_BY: Readonly<Record<UsageGrouping, string>> = {
  key: "coalesce(client_key, '-')",
  model: "coalesce(mapped_model, requested_model, '-')",
  upstream: "coalesce(upstream, '-')",
  account: "coalesce(upstream || '/' || account, '-')",
};

/** Rejects with RequestLogUnavailable when `work` takes longer than `ms`; a query still running is cancelled. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        (work as { cancel?: () => unknown }).cancel?.();
      } catch {}
      reject(new RequestLogUnavailable(`${what} took longer than ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } catch (error) {
    if (error instanceof RequestLogUnavailable) throw error;
    throw new RequestLogUnavailable(`${what} failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * PostgreSQL refused what a record holds (SQLSTATE class 22, bad data, or 23, a constraint), as
 * opposed to being away: trying the same batch again would fail again, for ever.
 */
function refusedData(error: unknown): boolean {
  const code = ((error as { cause?: { errno?: unknown } }).cause ?? error) as { errno?: unknown };
  return typeof code.errno === "string" && /^2[23]/.test(code.errno);
}

function openSql(url: string, timeoutMs: number): SQL {
  // Bun.SQL, not an import of it: an import loaded Bun's SQL module at every start, where only an
  // instance with a PostgreSQL request log uses it (start-up 2-4 ms less, inside the spread).
  return new Bun.SQL(url, {
    max: 4,
    connectionTimeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    idleTimeout: 60,
    // The server gives up on a statement too, so a slow one does not hold a connection past its caller.
    connection: { application_name: "levity", statement_timeout: timeoutMs },
  });
}

async function selectRecords(sql: SQL, query: LogQuery, ms: number): Promise<LoggedRequest[]> {
  const { sql: clause, params } = where(query);
  const order = query.after !== undefined ? "ASC" : "DESC";
  const rows = await within(
    sql.unsafe<Row[]>(
      `SELECT * FROM levity_requests ${clause} ORDER BY seq ${order} LIMIT ${queryLimit(query.limit)}`,
      params,
    ),
    ms,
    "reading the request log",
  );
  return rows.map(fromRow);
}

async function selectUsageBy(
  sql: SQL,
  by: UsageGrouping,
  since: number,
  until: number,
  ms: number,
): Promise<UsageTotals[]> {
  const rows = await within(
    sql.unsafe<Row[]>(
      `SELECT ${GROUP_BY[by]} AS name, count(*) AS requests, sum((status >= 400)::int) AS errors,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(cached_tokens) AS cached_tokens, sum(cache_write_tokens) AS cache_write_tokens,
         sum(reasoning_tokens) AS reasoning_tokens, coalesce(sum(cost_usd), 0) AS cost_usd,
         sum((cost_usd IS NULL)::int) AS unpriced_requests
       FROM levity_requests WHERE time >= $1 AND time <= $2 GROUP BY 1`,
      [since, until],
    ),
    ms,
    "reading usage from the request log",
  );
  return rows.map((row) => ({
    name: String(row.name),
    requests: Number(row.requests),
    errors: Number(row.errors),
    input_tokens: Number(row.input_tokens),
    output_tokens: Number(row.output_tokens),
    cached_tokens: Number(row.cached_tokens),
    cache_write_tokens: Number(row.cache_write_tokens),
    reasoning_tokens: Number(row.reasoning_tokens),
    cost_usd: Number(row.cost_usd),
    unpriced_requests: Number(row.unpriced_requests),
  }));
}

/** For `levity logs` when no gateway answers: the shared log read directly. */
export async function readPostgresLog(
  url: string,
  query: LogQuery,
  timeoutMs = 5000,
): Promise<LoggedRequest[]> {
  const sql = openSql(url, timeoutMs);
  try {
    return await selectRecords(sql, query, timeoutMs);
  } finally {
    await sql.close({ timeout: 0 });
  }
}

/** For `levity usage` when no gateway answers. */
export async function readPostgresUsage(
  url: string,
  by: UsageGrouping,
  since: number,
  until: number,
  timeoutMs = 5000,
): Promise<UsageTotals[]> {
  const sql = openSql(url, timeoutMs);
  try {
    return await selectUsageBy(sql, by, since, until, timeoutMs);
  } finally {
    await sql.close({ timeout: 0 });
  }
}

/** What a record costs the buffer's byte bound: its bodies and error, and the rest roughly. */
function sizeOf(r: RequestRecord): number {
  return (
    512 + (r.requestBody?.length ?? 0) + (r.responseBody?.length ?? 0) + (r.error?.length ?? 0)
  );
}

export function openPostgresRequestLog(options: PostgresLogOptions): PostgresRequestLog {
  const now = options.now ?? Date.now;
  const { log, timeoutMs } = options;
  const changed = options.onChange ?? (() => {});
  const label = redactedUrl(options.url);
  const sql = openSql(options.url, timeoutMs);

  const pending: RequestRecord[] = [];
  let pendingBytes = 0;
  let dropped = 0;
  /** Dropped since the server went away, for the line that says so when it is back. */
  let droppedInOutage = 0;
  let migrated = false;
  let up = true;
  let closed = false;
  let writing: Promise<void> | undefined;
  /** flush() was asked while a write was under way: the records added meanwhile go right after it. */
  let flushAgain = false;
  let timer: Timer | undefined;
  let retryMs = options.flushMs;
  let lastTrim = 0;
  const stats = { records: 0, bytes: 0, at: 0, refreshing: false };

  const wentDown = (error: unknown) => {
    if (!up) return;
    up = false;
    changed();
    log.warn(
      `request log: PostgreSQL at ${label} does not answer (${(error as Error).message}); this instance keeps serving and holds up to ${options.bufferRecords} records in memory until it does`,
    );
  };
  const cameBack = () => {
    retryMs = options.flushMs;
    if (!up) {
      up = true;
      log.info(
        `request log: PostgreSQL at ${label} answers again; the records held meanwhile are written${droppedInOutage ? ` (${droppedInOutage} were dropped: the buffer was full)` : ""}`,
      );
      droppedInOutage = 0;
    }
    changed();
  };

  const ensureSchema = async () => {
    if (migrated) return;
    const found = await within(migrate(sql), timeoutMs, "migrating the request log's schema");
    if (found > SCHEMA_VERSION)
      log.warn(
        `request log: ${label} has schema version ${found}, newer than this levity's ${SCHEMA_VERSION}; writing to it as version ${SCHEMA_VERSION}`,
      );
    else if (found < SCHEMA_VERSION)
      log.info(`request log: ${label} schema migrated from version ${found} to ${SCHEMA_VERSION}`);
    migrated = true;
  };

  /** Beside the writes, not before them: a slow delete of a large table must not hold the records back. */
  const trim = () => {
    lastTrim = now();
    within(
      sql`DELETE FROM levity_requests WHERE time < ${now() - options.retentionMs}`,
      timeoutMs,
      "trimming the request log",
    ).catch((error) => {
      // A stop closes the connection under a trim still running: nothing failed, and the next
      // start trims again.
      if (!closed) log.warn(`request log: ${(error as Error).message}; trying again later`);
    });
  };

  const insert = (rows: Row[], what: string) => {
    const columns = Object.keys(rows[0]!).join(", ");
    return within(
      sql.unsafe(
        `INSERT INTO levity_requests (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::levity_requests, $1::text::json) ON CONFLICT (request_id) DO NOTHING`,
        [JSON.stringify(rows)],
      ),
      timeoutMs,
      what,
    );
  };

  /** Writes the buffer, a batch at a time, until it is empty or the server fails. */
  const drain = async () => {
    // The records there now; those added meanwhile wait for their own turn (flush_ms, or a full batch).
    let left = pending.length;
    await ensureSchema();
    if (now() - lastTrim > RETENTION_CHECK_MS) trim();
    const instance = options.instance();
    while (left > 0) {
      const batch = pending.slice(0, Math.min(left, BATCH_MAX));
      const rows = batch.map((r) => toRow(r, instance));
      /** Refused records, counted once the batch has left the buffer (then they are not in it twice). */
      const refused: { at: number; requestId: string }[] = [];
      // One text parameter that PostgreSQL unpacks itself, instead of 26 bound parameters a
      // record: encoding those took levity's thread more time than the rest of the log's work.
      // (As text, then cast: a parameter typed json would be encoded again, as one JSON string.)
      try {
        await insert(rows, `writing ${batch.length} records`);
      } catch (error) {
        if (!refusedData(error)) throw error;
        // The server refused what a record holds (not an outage): each record alone, so one
        // that cannot be stored is dropped and said, and the rest are kept.
        for (const [at, row] of rows.entries())
          await insert([row], `writing record ${row.request_id}`).catch((error) => {
            if (!refusedData(error)) throw error;
            refused.push({ at, requestId: String(row.request_id) });
            log.error(
              `request log: record ${row.request_id} could not be stored in PostgreSQL and was dropped: ${(error as Error).message}`,
            );
          });
      }
      // Only add() touches the buffer meanwhile, and only at its end: the batch is still its head.
      pending.splice(0, batch.length);
      left -= batch.length;
      for (const r of batch) pendingBytes -= sizeOf(r);
      dropped += refused.length;
      options.onWritten?.(batch.length, refused);
      cameBack();
    }
    cameBack();
  };

  const schedule = (ms: number) => {
    if (closed || timer !== undefined || writing) return;
    timer = setTimeout(() => {
      timer = undefined;
      void write();
    }, ms);
    timer.unref?.();
  };

  /** One writer at a time; a failure keeps the records and tries again, backing off. */
  const write = (): Promise<void> => {
    if (writing) return writing;
    clearTimeout(timer);
    timer = undefined;
    writing = drain()
      .catch((error) => {
        wentDown(error);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      })
      .finally(() => {
        writing = undefined;
        if (!up || !migrated) {
          if (pending.length > 0 || !migrated) schedule(retryMs);
        } else if (pending.length > 0)
          schedule(flushAgain || pending.length >= BATCH_MAX ? 0 : options.flushMs);
        flushAgain = false;
      });
    return writing;
  };

  const refreshStats = () => {
    if (stats.refreshing || closed || now() - stats.at < STATS_EVERY_MS) return;
    stats.refreshing = true;
    within(
      sql`SELECT count(*) AS n, pg_total_relation_size('levity_requests') AS bytes FROM levity_requests`,
      timeoutMs,
      "counting the request log",
    )
      .then(([row]) => {
        stats.records = Number(row.n);
        stats.bytes = Number(row.bytes);
        stats.at = now();
        changed();
      })
      .catch(() => {})
      .finally(() => {
        stats.refreshing = false;
      });
  };

  // The schema at start, in the background: a server that is down does not stop levity starting.
  void write();
  const retention = setInterval(() => {
    if (!writing) void write();
  }, RETENTION_CHECK_MS);
  retention.unref?.();

  /** What a read sees: the buffer written first (when the server answers), within the deadline. */
  const beforeRead = async () => {
    // A write already under way has only the records of its start: a second one takes the rest.
    await write();
    if (up && pending.length > 0) await write();
    if (!up || !migrated)
      throw new RequestLogUnavailable(
        `the request log on PostgreSQL (${label}) does not answer; ${pending.length} records wait in this instance's memory`,
      );
  };

  const figures = (): LogStats => ({
    records: stats.records,
    bytes: stats.bytes,
    pending: pending.length,
    store: "postgres",
    up,
    dropped,
    bufferLimit: options.bufferRecords,
  });

  return {
    add(record) {
      if (closed) return false;
      const size = sizeOf(record);
      if (pending.length >= options.bufferRecords || pendingBytes + size > BUFFER_MAX_BYTES) {
        if (dropped === 0 || droppedInOutage === 0)
          log.warn(
            `request log: the buffer is full (${pending.length} records) while PostgreSQL at ${label} is away; further records are dropped and counted in levity_request_log_dropped_total`,
          );
        dropped++;
        droppedInOutage++;
        return false;
      }
      pending.push(record);
      pendingBytes += size;
      if (writing) return true;
      // Never written on the request path: a full batch on the next turn, else on the timer;
      // while the server is away, at the next retry.
      schedule(!up ? retryMs : pending.length >= BATCH_MAX ? 0 : options.flushMs);
      return true;
    },
    flush() {
      if (writing) flushAgain = true;
      void write();
    },
    async query(query) {
      await beforeRead();
      return selectRecords(sql, query, timeoutMs);
    },
    async usage(since): Promise<UsageRow[]> {
      await beforeRead();
      const rows = await within(
        sql<
          Row[]
        >`SELECT to_char(to_timestamp(time / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
             coalesce(mapped_model, requested_model, '') AS model, coalesce(upstream, '') AS upstream,
             coalesce(account, '') AS account, count(*) AS requests, sum((status >= 400)::int) AS errors,
             sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cached_tokens) AS cached,
             sum(cache_write_tokens) AS cache_write, sum(reasoning_tokens) AS reasoning
           FROM levity_requests WHERE time >= ${since}
           GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
        timeoutMs,
        "reading usage from the request log",
      );
      return rows.map((row) => ({
        day: String(row.day),
        model: String(row.model),
        upstream: String(row.upstream),
        account: String(row.account),
        requests: Number(row.requests),
        errors: Number(row.errors),
        inputTokens: Number(row.input),
        outputTokens: Number(row.output),
        cachedTokens: Number(row.cached),
        cacheWriteTokens: Number(row.cache_write),
        reasoningTokens: Number(row.reasoning),
      }));
    },
    async usageBy(by, since, until) {
      await beforeRead();
      return selectUsageBy(sql, by, since, until, timeoutMs);
    },
    figures,
    stats() {
      refreshStats();
      return figures();
    },
    async close() {
      if (closed) return;
      clearInterval(retention);
      // What is still held is written, if the server answers within the deadline; then closed.
      await write();
      if (up && pending.length > 0) await write();
      closed = true;
      clearTimeout(timer);
      if (pending.length > 0)
        log.warn(
          `request log: ${pending.length} records could not be written to PostgreSQL at ${label} before closing`,
        );
      await sql.close({ timeout: 0 }).catch(() => {});
    },
  };
}
