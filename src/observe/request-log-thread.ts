import type { Logger } from "../log.ts";
import type { LogCall, LogReply } from "./request-log-protocol.ts";
import type { RequestRecord } from "./record.ts";
import {
  type LoggedRequest,
  type LogQuery,
  type LogStats,
  type RequestLog,
  RequestLogUnavailable,
  type UsageGrouping,
  type UsageRow,
  type UsageTotals,
} from "./request-log.ts";
import { openLogFile, RETENTION_CHECK_MS } from "./sqlite-request-log.ts";

/*
 * The SQLite request log as the serving thread holds it: records wait in memory and are handed,
 * as one JSON string per batch, to a worker thread that decodes and writes them
 * (request-log-worker.ts). Writing a second's records took the serving thread a few milliseconds
 * every second, which was the latency tail of a gateway serving one client at a time (issue 20).
 * A kill -9 loses what was not yet handed over and written: at most one flush interval.
 */

export interface ThreadedLogOptions {
  path: string;
  flushMs: number;
  retentionMs: number;
  maxBytes: number;
  log: Logger;
  /** Where the worker's module is: found beside the entry point, whether from source or compiled. */
  worker: URL | string;
  /** For tests: how often an idle log looks whether its oldest record is past retention (RETENTION_CHECK_MS). */
  retentionCheckMs?: number;
}

/**
 * Records handed over on the next turn once this many wait, whatever the timer. Each batch costs
 * the writer a transaction and both threads a message each way: at 4,000 requests a second,
 * batches of 1,000 rather than 100 took 4 µs a request off the writer and 2 to 9 off the serving
 * thread (BENCHMARKS.md, issue 20's tenth session). The flush timer still bounds how long a
 * record waits.
 */
const HANDOFF_RECORDS = 1000;
/**
 * Or once the bodies they keep (log_bodies) come to this many characters: a thousand records of
 * 64 KB bodies each way would be a 128 MB string to build on the serving thread and hold.
 */
const HANDOFF_BODY_CHARS = 8 * 1024 * 1024;
/** How long close() waits for the worker to write what it holds. */
const CLOSE_WAIT_MS = 10_000;

export function openSqliteRequestLog(options: ThreadedLogOptions): RequestLog {
  // Opened here once, so a file that cannot be opened is known now and the runtime can say so
  // and keep the log in memory, and trimmed, so that what retention no longer keeps is gone
  // when levity has started; the worker opens its own connection and trims every 10 minutes.
  const atStart = trimmed(options);
  let written = { records: atStart.records, bytes: atStart.bytes };

  let pending: RequestRecord[] = [];
  /** The characters of the bodies the pending records keep. */
  let pendingBodyChars = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let handoffQueued = false;
  /**
   * Batches handed to the worker and not yet written: kept (as the string sent) until it says it
   * is done with them, so a worker that stops is given them again by the next.
   */
  const unwritten = new Map<number, { records: string; count: number; tries: number }>();
  let nextBatch = 0;
  let inFlight = 0;
  let closed = false;
  /** Why the worker could not open the file: reads are refused with it. */
  let unopened: string | undefined;
  let restarts = 0;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  let nextId = 0;
  const calls = new Map<
    number,
    { resolve(value: string | undefined): void; reject(e: Error): void }
  >();

  const failCalls = (message: string) => {
    for (const call of calls.values()) call.reject(new RequestLogUnavailable(message));
    calls.clear();
  };

  const onReply = (reply: LogReply) => {
    if (reply.kind === "stats") written = { records: reply.records, bytes: reply.bytes };
    else if (reply.kind === "written") {
      const batch = unwritten.get(reply.batch);
      unwritten.delete(reply.batch);
      if (batch) inFlight -= batch.count;
    } else if (reply.kind === "answer") {
      const call = calls.get(reply.id);
      calls.delete(reply.id);
      if (reply.error !== undefined) call?.reject(new RequestLogUnavailable(reply.error));
      else call?.resolve(reply.value);
    } else if (reply.kind === "log") options.log[reply.level](reply.message);
    else if (reply.kind === "opened") restarts = 0;
    else if (reply.kind === "failed") {
      unopened = `the request log ${options.path} could not be opened: ${reply.message}`;
      options.log.error(`request log: ${unopened}; records are not kept until levity restarts`);
      failCalls(unopened);
    }
  };

  const spawn = (): Worker => {
    const worker = new Worker(options.worker, { smol: true } as WorkerOptions);
    worker.onmessage = (event: MessageEvent<LogReply>) => onReply(event.data);
    worker.onerror = (event) => {
      // Whatever it still held is handed to the next one; a batch that stopped two already is
      // taken to be what stops them, and dropped.
      worker.terminate();
      failCalls("the request log's writer stopped");
      if (closed) return;
      const delay = Math.min(100 * 2 ** restarts, 30_000);
      restarts++;
      options.log.error(
        `request log: its writer stopped (${(event as ErrorEvent).message}); starting it again in ${delay} ms, with the ${inFlight} records it had not written`,
      );
      restartTimer = setTimeout(restart, delay);
      (restartTimer as { unref?: () => void }).unref?.();
    };
    // The serving thread's lifetime decides the process's; close() ends the worker.
    worker.unref();
    const open: LogCall = {
      op: "open",
      options: { path: options.path, retentionMs: options.retentionMs, maxBytes: options.maxBytes },
    };
    worker.postMessage(open);
    return worker;
  };
  /**
   * The writer, started with the first batch or read: a gateway that has served nothing holds no
   * second thread (about 4 MB of its idle memory). The file was opened and trimmed above.
   */
  let thread: Worker | undefined;
  const writer = (): Worker => {
    thread ??= spawn();
    clearInterval(idleRetention);
    return thread;
  };
  // An idle log still lets go of what passes retention: its writer starts and trims, on its own
  // thread, once the oldest record the file held at start is past it. Without records nothing can
  // grow, so age is the only limit to watch, and watching it is a comparison, not a query.
  const trimDueAt = atStart.oldest === undefined ? undefined : atStart.oldest + options.retentionMs;
  const idleRetention = setInterval(() => {
    if (trimDueAt !== undefined && Date.now() >= trimDueAt)
      ask("trim", []).catch(() => {
        // A writer that cannot open the file has said so in the log already.
      });
  }, options.retentionCheckMs ?? RETENTION_CHECK_MS);
  (idleRetention as { unref?: () => void }).unref?.();

  /** A new writer, given every batch the last one had not written. */
  function restart(): void {
    clearTimeout(restartTimer);
    restartTimer = undefined;
    thread = spawn();
    for (const [batch, held] of unwritten) {
      if (++held.tries > 2) {
        unwritten.delete(batch);
        inFlight -= held.count;
        options.log.error(
          `request log: ${held.count} records were dropped: writing them stopped the writer twice`,
        );
      } else writer().postMessage({ op: "write", batch, records: held.records } as LogCall);
    }
  }

  const handOff = () => {
    clearTimeout(timer);
    timer = undefined;
    handoffQueued = false;
    if (pending.length === 0 || closed) return;
    const batch = pending;
    pending = [];
    pendingBodyChars = 0;
    inFlight += batch.length;
    const held = { records: JSON.stringify(batch), count: batch.length, tries: 0 };
    const number = nextBatch++;
    unwritten.set(number, held);
    // While the writer is being started again, the batch waits for it with the others.
    if (restartTimer === undefined)
      writer().postMessage({ op: "write", batch: number, records: held.records } as LogCall);
  };

  const ask = (op: "query" | "usage" | "usageBy" | "trim" | "close", args: unknown[]) => {
    handOff();
    const id = nextId++;
    return new Promise<string | undefined>((resolve, reject) => {
      calls.set(id, { resolve, reject });
      const call: LogCall = { op, id, args: JSON.stringify(args) };
      writer().postMessage(call);
    });
  };
  const read = async <T>(op: "query" | "usage" | "usageBy", args: unknown[]): Promise<T> => {
    if (closed) throw new RequestLogUnavailable("the request log is closed");
    if (unopened !== undefined) throw new RequestLogUnavailable(unopened);
    if (restartTimer !== undefined)
      throw new RequestLogUnavailable("the request log's writer is starting again");
    return JSON.parse((await ask(op, args)) ?? "null") as T;
  };

  return {
    add(record) {
      if (closed) return;
      pending.push(record);
      if (record.requestBody !== undefined || record.responseBody !== undefined)
        pendingBodyChars += (record.requestBody?.length ?? 0) + (record.responseBody?.length ?? 0);
      if (handoffQueued) return;
      if (pending.length >= HANDOFF_RECORDS || pendingBodyChars >= HANDOFF_BODY_CHARS) {
        handoffQueued = true;
        setImmediate(handOff);
      } else if (timer === undefined) {
        timer = setTimeout(handOff, options.flushMs);
        (timer as { unref?: () => void }).unref?.();
      }
    },
    flush: handOff,
    query: (query: LogQuery) => read<LoggedRequest[]>("query", [query]),
    usage: (since: number) => read<UsageRow[]>("usage", [since]),
    usageBy: (by: UsageGrouping, since: number, until: number) =>
      read<UsageTotals[]>("usageBy", [by, since, until]),
    stats(): LogStats {
      return { ...written, pending: pending.length + inFlight };
    },
    async close() {
      if (closed) return;
      // A writer being started again is started now: what it is to be given is written first.
      if (restartTimer !== undefined) restart();
      handOff();
      closed = true;
      clearTimeout(timer);
      clearInterval(idleRetention);
      // Never started: nothing was handed over, nothing to wait for.
      if (thread === undefined) return;
      let waited: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        ask("close", []).catch(() => undefined),
        new Promise((resolve) => {
          waited = setTimeout(resolve, CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(waited);
      thread.terminate();
    },
  };
}

/** The file trimmed to its retention and size, and what it then holds. */
function trimmed(options: ThreadedLogOptions): {
  records: number;
  bytes: number;
  oldest: number | undefined;
} {
  const file = openLogFile(options);
  try {
    file.trim();
    return { ...file.stats(), oldest: file.oldest() };
  } finally {
    file.close();
  }
}
