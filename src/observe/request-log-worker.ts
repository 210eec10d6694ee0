import { openPostgresRequestLog } from "./postgres-request-log.ts";
import type { LogCall, LogReply, LogStore } from "./request-log-protocol.ts";
import type { RequestRecord } from "./record.ts";
import type { Awaitable, LogQuery, LogStats, UsageGrouping } from "./request-log.ts";
import { openLogFile, RETENTION_CHECK_MS } from "./sqlite-request-log.ts";

/*
 * The request log's own thread: it decodes the batches the serving thread hands it and writes
 * them, to the SQLite file or to PostgreSQL, and answers the reads in the order they were sent,
 * so a read sees every record handed over before it. PostgreSQL's rules for an outage (records
 * held up to a bound, written when it answers again, each once) are postgres-request-log.ts's,
 * run here.
 */

interface WorkerScope {
  postMessage(message: LogReply): void;
  onmessage: ((event: MessageEvent<LogCall>) => void) | null;
}

type Logger = Parameters<typeof openLogFile>[0]["log"];

/** The one shape the worker drives, whichever store is behind it. */
interface OpenStore {
  write(records: RequestRecord[], instance: string): void;
  query(query: LogQuery): Awaitable<unknown>;
  usage(since: number): Awaitable<unknown>;
  usageBy(by: UsageGrouping, since: number, until: number): Awaitable<unknown>;
  trim(): void;
  stats(): LogStats;
  close(): Awaitable<void>;
}

/** The SQLite file, trimmed every RETENTION_CHECK_MS. */
function sqliteStore(
  options: Extract<LogStore, { store: "sqlite" }>,
  log: Logger,
  changed: () => void,
): OpenStore {
  const file = openLogFile({ ...options, log });
  const retention = setInterval(() => {
    file.trim();
    changed();
  }, RETENTION_CHECK_MS);
  return {
    write: (records) => file.write(records),
    query: (query) => file.query(query),
    usage: (since) => file.usage(since),
    usageBy: (by, since, until) => file.usageBy(by, since, until),
    trim: () => file.trim(),
    stats: () => ({ ...file.stats(), pending: 0 }),
    close() {
      clearInterval(retention);
      file.close();
    },
  };
}

/**
 * The table on PostgreSQL. A batch handed over is written at once while the server answers: the
 * serving thread has held it for up to flush_ms already, and kill -9 is to lose no more than that.
 */
function postgresStore(
  options: Extract<LogStore, { store: "postgres" }>,
  log: Logger,
  changed: () => void,
): OpenStore {
  let instance = "";
  const shared = openPostgresRequestLog({
    ...options,
    instance: () => instance,
    log,
    onChange: changed,
  });
  return {
    write(records, servedBy) {
      instance = servedBy;
      for (const record of records) shared.add(record);
      if (shared.stats().up) shared.flush();
    },
    query: (query) => shared.query(query),
    usage: (since) => shared.usage(since),
    usageBy: (by, since, until) => shared.usageBy(by, since, until),
    // It trims itself, beside its writes.
    trim() {},
    stats: () => shared.stats(),
    close: () => shared.close(),
  };
}

function serve(scope: WorkerScope): void {
  const say = (reply: LogReply) => scope.postMessage(reply);
  const log = {
    info: (message: string) => say({ kind: "log", level: "info", message }),
    warn: (message: string) => say({ kind: "log", level: "warn", message }),
    error: (message: string) => say({ kind: "log", level: "error", message }),
  };
  let store: OpenStore | undefined;
  /** Why the store could not be opened: every call is answered with it. */
  let unopened = "the request log is not open";
  const stats = () => {
    if (store) say({ kind: "stats", stats: store.stats() });
  };
  const answer = (id: number, work: () => Awaitable<unknown>) => {
    let result: Awaitable<unknown>;
    try {
      result = work();
    } catch (error) {
      say({ kind: "answer", id, error: (error as Error).message });
      return;
    }
    const reply = (value: unknown) =>
      say({ kind: "answer", id, value: value === undefined ? undefined : JSON.stringify(value) });
    if (result instanceof Promise)
      result.then(reply, (error: Error) => say({ kind: "answer", id, error: error.message }));
    else reply(result);
  };

  scope.onmessage = ({ data: call }) => {
    if (call.op === "open") {
      try {
        store =
          call.options.store === "sqlite"
            ? sqliteStore(call.options, log, stats)
            : postgresStore(call.options, log, stats);
      } catch (error) {
        unopened = `the request log could not be opened: ${(error as Error).message}`;
        say({ kind: "failed", message: (error as Error).message });
        return;
      }
      say({ kind: "opened" });
      stats();
      return;
    }
    if (call.op === "write") {
      const batch = JSON.parse(call.records) as RequestRecord[];
      store?.write(batch, call.instance);
      say({ kind: "written", batch: call.batch, count: batch.length, stats: store?.stats() });
      return;
    }
    if (call.op === "stats") {
      stats();
      return;
    }
    const open = store;
    if (!open) {
      say({ kind: "answer", id: call.id, error: unopened });
      return;
    }
    answer(call.id, () => {
      const args = JSON.parse(call.args) as unknown[];
      if (call.op === "query") return open.query(args[0] as LogQuery);
      if (call.op === "usage") return open.usage(args[0] as number);
      if (call.op === "usageBy")
        return open.usageBy(args[0] as UsageGrouping, args[1] as number, args[2] as number);
      if (call.op === "trim") {
        open.trim();
        stats();
        return undefined;
      }
      store = undefined;
      unopened = "the request log is closed";
      return open.close();
    });
  };
}

serve(globalThis as unknown as WorkerScope);
