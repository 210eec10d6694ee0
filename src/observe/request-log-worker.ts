import type { Logger } from "../log.ts";
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

/** The one shape the worker drives, whichever store is behind it. */
interface OpenStore {
  /** Takes a batch; its `done` is told once every record of it is written, or dropped. */
  write(batch: number, records: RequestRecord[], instance: string): void;
  query(query: LogQuery): Awaitable<unknown>;
  usage(since: number): Awaitable<unknown>;
  usageBy(by: UsageGrouping, since: number, until: number): Awaitable<unknown>;
  trim(): void;
  /** The figures as they are. */
  figures(): LogStats;
  /** The figures when someone asked for them (a server's count of records refreshed, now and then). */
  stats(): LogStats;
  close(): Awaitable<void>;
}

interface StoreEvents {
  /** What stats() says has changed on its own. */
  changed(): void;
  /**
   * `count` more records of a batch written, or dropped; `finished` once all of it is. The
   * request ids of the dropped ones, if any, so that a writer started after this one stops is
   * not given them again.
   */
  done(batch: number, count: number, finished: boolean, droppedIds?: string[]): void;
}

/** The SQLite file, trimmed every RETENTION_CHECK_MS. */
function sqliteStore(
  options: Extract<LogStore, { store: "sqlite" }>,
  log: Logger,
  events: StoreEvents,
): OpenStore {
  const file = openLogFile({ ...options, log });
  const retention = setInterval(() => {
    file.trim();
    events.changed();
  }, RETENTION_CHECK_MS);
  const figures = () => ({ ...file.stats(), pending: 0 });
  return {
    write(batch, records) {
      file.write(records);
      events.done(batch, records.length, true);
    },
    query: (query) => file.query(query),
    usage: (since) => file.usage(since),
    usageBy: (by, since, until) => file.usageBy(by, since, until),
    trim: () => file.trim(),
    figures,
    stats: figures,
    close() {
      clearInterval(retention);
      file.close();
    },
  };
}

/**
 * The table on PostgreSQL. A batch handed over is written at once while the server answers: the
 * serving thread has held it for up to flush_ms already, and kill -9 is to lose no more than that.
 * A batch is done with once every record of it is in the table (or dropped): until then the
 * serving thread keeps it, and a worker that stops takes with it nothing that is not kept there.
 */
function postgresStore(
  options: Extract<LogStore, { store: "postgres" }>,
  log: Logger,
  events: StoreEvents,
): OpenStore {
  let instance = "";
  /** The batches whose records are in the buffer, oldest first, with how many are still there. */
  const owed: { batch: number; left: number }[] = [];
  const shared = openPostgresRequestLog({
    ...options,
    instance: () => instance,
    log,
    onChange: events.changed,
    // The buffer is written from its head, in the order records were added: the first `count`
    // records of the batches owed, in order, with the refused ones at their places among them.
    onWritten(count, refused) {
      let written = count;
      let from = 0;
      let next = 0;
      while (written > 0 && owed.length > 0) {
        const head = owed[0]!;
        const taken = Math.min(written, head.left);
        let droppedIds: string[] | undefined;
        for (; next < refused.length && refused[next]!.at < from + taken; next++) {
          droppedIds ??= [];
          droppedIds.push(refused[next]!.requestId);
        }
        head.left -= taken;
        written -= taken;
        from += taken;
        if (head.left === 0) owed.shift();
        events.done(head.batch, taken, head.left === 0, droppedIds);
      }
    },
  });
  return {
    write(batch, records, servedBy) {
      instance = servedBy;
      // Those past the buffer's bound are dropped (and counted) as they come. Said at once, even
      // when none were: the serving thread then knows the batch was taken.
      let droppedIds: string[] | undefined;
      for (const record of records) {
        if (shared.add(record)) continue;
        droppedIds ??= [];
        droppedIds.push(record.requestId);
      }
      const kept = records.length - (droppedIds?.length ?? 0);
      events.done(batch, records.length - kept, kept === 0, droppedIds);
      if (kept > 0) owed.push({ batch, left: kept });
      if (shared.figures().up) shared.flush();
    },
    query: (query) => shared.query(query),
    usage: (since) => shared.usage(since),
    usageBy: (by, since, until) => shared.usageBy(by, since, until),
    // It trims itself, beside its writes.
    trim() {},
    figures: () => shared.figures(),
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
  const report = () => {
    if (store) say({ kind: "stats", stats: store.figures() });
  };
  const events: StoreEvents = {
    changed: report,
    done: (batch, count, finished, droppedIds) =>
      say({ kind: "written", batch, count, finished, stats: store?.figures(), droppedIds }),
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
    if (result instanceof Promise) {
      say({ kind: "reading", id });
      result.then(reply, (error: Error) => say({ kind: "answer", id, error: error.message }));
    } else reply(result);
  };

  scope.onmessage = ({ data: call }) => {
    if (call.op === "open") {
      try {
        store =
          call.options.store === "sqlite"
            ? sqliteStore(call.options, log, events)
            : postgresStore(call.options, log, events);
      } catch (error) {
        unopened = `the request log could not be opened: ${(error as Error).message}`;
        say({ kind: "failed", message: (error as Error).message });
        return;
      }
      report();
      return;
    }
    if (call.op === "write") {
      const records = JSON.parse(call.records) as RequestRecord[];
      // A store that could not be opened lets go of what it is handed.
      if (store) store.write(call.batch, records, call.instance);
      else events.done(call.batch, records.length, true);
      return;
    }
    if (call.op === "stats") {
      if (store) say({ kind: "stats", stats: store.stats() });
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
        report();
        return undefined;
      }
      store = undefined;
      unopened = "the request log is closed";
      return open.close();
    });
  };
}

serve(globalThis as unknown as WorkerScope);
