import type { Logger } from "../log.ts";
import { redactedUrl } from "../state/shared-link.ts";
import type { PostgresLogOptions } from "./postgres-request-log.ts";
import type { LogCall, LogReply, LogStore } from "./request-log-protocol.ts";
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
 * The request log as the serving thread holds it: records wait in memory and are handed, as one
 * JSON string per batch, to a worker thread that decodes and writes them (request-log-worker.ts),
 * to the SQLite file or to PostgreSQL. Writing a second's records took the serving thread a few
 * milliseconds every second, which was the latency tail of a gateway serving one client at a time
 * (issue 20); with the log on PostgreSQL, where it also turned records into rows and spoke to
 * the server, levity's CPU a request rose by -1 to +17 µs where the floor's (which writes from a
 * thread of its own) moved by +2 to -8. A batch is let go of once the worker is done with it, so
 * a worker that stops is given again whatever it had not written. A kill -9 loses what was not
 * yet written: one flush interval of records, and on PostgreSQL whatever waits for it to answer.
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
  /** For tests: how long close() waits for the writer (CLOSE_WAIT_MS). */
  closeWaitMs?: number;
  /** For tests: how long a writer must run to be started again at once if it stops (RESTART_STABLE_MS). */
  restartStableMs?: number;
}

/** PostgreSQL's log options, less those only its own thread can hold, and the worker's module. */
export type ThreadedPostgresLogOptions = Omit<
  PostgresLogOptions,
  "now" | "onChange" | "onWritten"
> & {
  worker: URL | string;
  /** For tests: HELD_MAX_CHARS. */
  heldMaxChars?: number;
};

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
/** How many writers close() starts, at most, when the one it asked to close stops instead. */
const CLOSE_RESTARTS = 3;
/** A writer that ran this long before it stopped is started again at once (100 ms), not later. */
const RESTART_STABLE_MS = 60_000;
/**
 * The batch text the serving thread keeps, at most, to give a writer that stops to the next one.
 * On PostgreSQL a batch is kept until all of it is in the table, through an outage too; past
 * this, the oldest batches the writer has taken are let go of, and a writer that stops then
 * takes those with it (said, and counted as dropped).
 */
const HELD_MAX_CHARS = 64 * 1024 * 1024;
/** The serving thread asks the worker for fresh figures at most this often. */
const STATS_ASK_MS = 1000;

type Ask = (
  op: "query" | "usage" | "usageBy" | "trim" | "close",
  args: unknown[],
) => Promise<unknown>;

interface LogThreadOptions {
  store: LogStore;
  flushMs: number;
  log: Logger;
  worker: URL | string;
  /** The store as named where it cannot be opened: "the request log <label> could not be opened". */
  label: string;
  /** What stats() says until the worker first reports. */
  stats: LogStats;
  instance?: () => string;
  /** Started now (a server's schema is brought up to date at start), not with the first batch or read. */
  eager?: boolean;
  /** How long close() waits for the worker (Infinity: for as long as it takes). */
  closeWaitMs?: number;
  /** Told when the worker starts, for the SQLite log's watch on an idle file. */
  onStart?: () => void;
  /** For tests: HELD_MAX_CHARS. */
  heldMaxChars?: number;
  /** For tests: RESTART_STABLE_MS. */
  restartStableMs?: number;
}

/** A batch the serving thread holds until the worker is done with it (openLogThread's `unwritten`). */
interface HeldBatch {
  /** The batch as sent; let go of past HELD_MAX_CHARS once the worker has taken it. */
  records?: string;
  count: number;
  /** Records the worker has not yet written or dropped. */
  left: number;
  /** Writers that stopped on it. */
  tries: number;
  taken: boolean;
  sentAs: number;
  /**
   * The request ids of its records the worker said it dropped (past PostgreSQL's buffer, or
   * refused by the server): given again, the batch leaves them out, so that a record is never
   * counted as dropped twice, or counted and then written. Kept only while the batch is.
   */
  dropped?: Set<string>;
}

/** The serving thread's half: the log, and its way of asking the worker directly. */
function openLogThread(options: LogThreadOptions): { log: RequestLog; ask: Ask } {
  /** The store's figures as the worker last reported them. */
  let reported = options.stats;
  /** Records the workers that stopped had dropped (a new one counts from 0). */
  let droppedBefore = 0;
  let lastStatsAsk = 0;

  let pending: RequestRecord[] = [];
  /** The characters of the bodies the pending records keep. */
  let pendingBodyChars = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let handoffQueued = false;
  /**
   * Batches handed to the worker and not yet written: kept (as the string sent) until it says it
   * is done with them, so a worker that stops is given them again by the next. `taken`: the
   * worker has said anything of it, so it did not stop on reading it. `sentAs`: its place in the
   * order of what the worker was sent (sent).
   */
  const unwritten = new Map<number, HeldBatch>();
  /** What the worker was sent that it answers, numbered in order: it reads them in that order. */
  let sent = 0;
  /** The latest of what the worker was sent that it has answered (sentAs). */
  let answeredUpTo = 0;
  /** The last stats ask not yet answered, by sentAs (0: none): a writer may stop on one too. */
  let statsAsk = 0;
  /** The batch the last writer stopped on, if it stopped on one (firstUnanswered). */
  let suspectBatch: number | undefined;
  /** The characters of the batch text kept in `unwritten`. */
  let heldChars = 0;
  let nextBatch = 0;
  let inFlight = 0;
  let closed = false;
  /** Why the worker could not open the store: reads are refused with it. */
  let unopened: string | undefined;
  let restarts = 0;
  const stableMs = options.restartStableMs ?? RESTART_STABLE_MS;
  /** The writer stopped after close() began: close() gives its batches to another. */
  let stoppedWhileClosing = false;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  let nextId = 0;
  const calls = new Map<
    number,
    { resolve(value: string | undefined): void; reject(e: Error): void; sentAs: number }
  >();
  const instance = options.instance ?? (() => "");

  /** The worker has read what was sent as `sentAs`, and everything before it. */
  const readUpTo = (sentAs: number) => {
    answeredUpTo = Math.max(answeredUpTo, sentAs);
  };

  const failCalls = (message: string) => {
    for (const call of calls.values()) call.reject(new RequestLogUnavailable(message));
    calls.clear();
  };

  const onReply = (reply: LogReply) => {
    if (reply.kind === "stats") {
      reported = reply.stats;
      // Asked for, or sent of its own accord after a change: taken as the answer either way.
      readUpTo(statsAsk);
      statsAsk = 0;
    } else if (reply.kind === "written") {
      const held = unwritten.get(reply.batch);
      if (held) {
        const done = reply.finished ? held.left : Math.min(reply.count, held.left);
        held.taken = true;
        held.left -= done;
        inFlight -= done;
        // A store that could not be opened lets go of what it is handed: counted as dropped.
        if (unopened !== undefined) droppedBefore += done;
        readUpTo(held.sentAs);
        if (held.left === 0) {
          unwritten.delete(reply.batch);
          heldChars -= held.records?.length ?? 0;
        } else if (reply.droppedIds && held.records !== undefined) {
          held.dropped ??= new Set();
          for (const id of reply.droppedIds) held.dropped.add(id);
        }
      }
      if (reply.stats) reported = reply.stats;
    } else if (reply.kind === "answer") {
      const call = calls.get(reply.id);
      calls.delete(reply.id);
      if (call) readUpTo(call.sentAs);
      if (reply.error !== undefined) call?.reject(new RequestLogUnavailable(reply.error));
      else call?.resolve(reply.value);
    } else if (reply.kind === "reading") {
      const call = calls.get(reply.id);
      if (call) readUpTo(call.sentAs);
    } else if (reply.kind === "log") options.log[reply.level](reply.message);
    else if (reply.kind === "failed") {
      // A store on a server is then as good as away, and /healthz and /metrics say so.
      if (reported.up !== undefined) reported = { ...reported, up: false };
      unopened = `the request log ${options.label} could not be opened: ${reply.message}`;
      options.log.error(`request log: ${unopened}; records are not kept until levity restarts`);
      failCalls(unopened);
    }
  };

  const spawn = (): Worker => {
    const worker = new Worker(options.worker, { smol: true } as WorkerOptions);
    const startedAt = performance.now();
    /** Why it stopped, from its error event, told at its close. */
    let failure: string | undefined;
    let failureTimer: ReturnType<typeof setTimeout> | undefined;
    /** It has answered something: it opened its store, and read what it was sent before that. */
    let heard = false;
    // Called once, at its close (below): it has ended, and every reply it posted has arrived.
    const stopped = (why: string) => {
      clearTimeout(failureTimer);
      // Whatever it still held is handed to the next one; a batch that stopped two already is
      // taken to be what stops them, and dropped. One that stopped before it answered anything
      // stopped opening its store, on no batch.
      suspectBatch = heard ? firstUnanswered() : undefined;
      statsAsk = 0;
      failCalls("the request log's writer stopped");
      if (closed) {
        // close() starts the next one itself, to write what this one had not.
        stoppedWhileClosing = true;
        return;
      }
      // One that ran a while is well again, whatever it wrote (an idle gateway's writes nothing);
      // one that keeps stopping soon after its start is started ever more slowly.
      if (performance.now() - startedAt >= stableMs) restarts = 0;
      const delay = Math.min(100 * 2 ** restarts, 30_000);
      restarts++;
      options.log.error(
        `request log: its writer stopped (${why}); starting it again in ${delay} ms, with the ${inFlight} records it had not written`,
      );
      restartTimer = setTimeout(restart, delay);
      (restartTimer as { unref?: () => void }).unref?.();
    };
    worker.onmessage = (event: MessageEvent<LogReply>) => {
      heard = true;
      onReply(event.data);
    };
    /*
     * A stop is dealt with at the worker's close, not at its error: the error event can come
     * before replies it posted before it failed (measured: after 1,024 of 2,000), and ending it
     * then would lose them, so a batch it had written would be taken for unwritten. One still
     * running a second after an error is ended. A worker that exits (process.exit in it) says so
     * only by closing.
     */
    worker.onerror = (event) => {
      failure ??= (event as ErrorEvent).message;
      failureTimer ??= setTimeout(() => worker.terminate(), 1000);
      (failureTimer as { unref?: () => void }).unref?.();
    };
    worker.addEventListener("close", () => stopped(failure ?? "it exited"));
    // The serving thread's lifetime decides the process's; close() ends the worker.
    worker.unref();
    worker.postMessage({ op: "open", options: options.store } satisfies LogCall);
    return worker;
  };
  /**
   * The writer, started with the first batch or read unless eager: a gateway that has served
   * nothing holds no second thread (about 4 MB of its idle memory).
   */
  let thread: Worker | undefined;
  const writer = (): Worker => {
    if (thread === undefined) {
      thread = spawn();
      options.onStart?.();
    }
    return thread;
  };
  if (options.eager) writer();

  const send = (batch: number, held: HeldBatch, records: string) => {
    held.sentAs = ++sent;
    writer().postMessage({
      op: "write",
      batch,
      records,
      instance: instance(),
    } satisfies LogCall);
  };

  /**
   * The worker reads what it is sent in order and answers each batch and call: the first it
   * never answered is what it stopped on. A batch, if that was one; none if it was a call. A
   * call it said it is reading, or sent before something it has answered, is only waiting (a
   * read on PostgreSQL), and is not what stopped it.
   */
  const firstUnanswered = (): number | undefined => {
    let first = Number.POSITIVE_INFINITY;
    let batchFirst: number | undefined;
    for (const [batch, held] of unwritten)
      if (!held.taken && held.sentAs > 0 && held.sentAs < first) {
        first = held.sentAs;
        batchFirst = batch;
      }
    const asks = [...calls.values()].map((call) => call.sentAs);
    if (statsAsk > 0) asks.push(statsAsk);
    for (const sentAs of asks)
      if (sentAs > answeredUpTo && sentAs < first) {
        first = sentAs;
        batchFirst = undefined;
      }
    return batchFirst;
  };

  /** A new writer, given every batch the last one had not written. */
  function restart(): void {
    clearTimeout(restartTimer);
    restartTimer = undefined;
    if (reported.dropped !== undefined) {
      droppedBefore += reported.dropped;
      reported = { ...reported, dropped: 0 };
    }
    thread = spawn();
    let lost = 0;
    const suspect = suspectBatch;
    suspectBatch = undefined;
    for (const [batch, held] of unwritten) {
      if (held.records === undefined) {
        // Let go of past HELD_MAX_CHARS: what the last writer had not written of it is gone.
        unwritten.delete(batch);
        inFlight -= held.left;
        lost += held.left;
        continue;
      }
      // Given whole again, less what the last one dropped: what it had done of it is done again
      // (on PostgreSQL never twice in the table, its request ids being unique).
      if (held.dropped && !withoutDropped(held, held.dropped, held.records)) {
        unwritten.delete(batch);
        continue;
      }
      inFlight += held.count - held.left;
      held.left = held.count;
      held.taken = false;
      if (batch === suspect && ++held.tries >= 2) {
        unwritten.delete(batch);
        heldChars -= held.records.length;
        inFlight -= held.count;
        droppedBefore += held.count;
        options.log.error(
          `request log: ${held.count} records were dropped: writing them stopped the writer twice`,
        );
      } else send(batch, held, held.records);
    }
    if (lost > 0) {
      droppedBefore += lost;
      options.log.error(
        `request log: ${lost} records the stopped writer held were lost (the serving thread keeps at most ${heldMaxChars} characters of batches to give again)`,
      );
    }
  }

  /**
   * The batch without the records a writer dropped, or false when none is left: read again only
   * when a writer that dropped some stopped, which is rare enough for a parse.
   */
  const withoutDropped = (held: HeldBatch, dropped: Set<string>, text: string): boolean => {
    held.dropped = undefined;
    const records = JSON.parse(text) as RequestRecord[];
    const kept = records.filter((record) => !dropped.has(record.requestId));
    if (kept.length === records.length) return true;
    // The dropped ones were counted done as they were dropped, so `left` is among the kept; the
    // kept are then given again whole (restart).
    heldChars -= text.length;
    if (kept.length === 0) {
      inFlight -= held.left;
      return false;
    }
    held.records = JSON.stringify(kept);
    heldChars += held.records.length;
    held.count = kept.length;
    held.left = Math.min(held.left, kept.length);
    return true;
  };

  /** Past HELD_MAX_CHARS, the oldest batches the writer has taken stop being kept here. */
  const heldMaxChars = options.heldMaxChars ?? HELD_MAX_CHARS;
  const letGoOfOldest = () => {
    for (const held of unwritten.values()) {
      if (heldChars <= heldMaxChars) return;
      if (!held.taken || held.records === undefined) continue;
      heldChars -= held.records.length;
      held.records = undefined;
      held.dropped = undefined;
    }
  };

  const handOff = () => {
    clearTimeout(timer);
    timer = undefined;
    handoffQueued = false;
    if (pending.length === 0 || closed) return;
    const batch = pending;
    pending = [];
    pendingBodyChars = 0;
    inFlight += batch.length;
    const records = JSON.stringify(batch);
    const held = {
      records,
      count: batch.length,
      left: batch.length,
      tries: 0,
      taken: false,
      sentAs: 0,
    };
    const number = nextBatch++;
    unwritten.set(number, held);
    heldChars += records.length;
    letGoOfOldest();
    // While the writer is being started again, the batch waits for it with the others.
    if (restartTimer === undefined) send(number, held, records);
  };

  const ask: Ask = (op, args) => {
    handOff();
    const id = nextId++;
    return new Promise<string | undefined>((resolve, reject) => {
      calls.set(id, { resolve, reject, sentAs: ++sent });
      writer().postMessage({ op, id, args: JSON.stringify(args) } satisfies LogCall);
    });
  };
  const read = async <T>(op: "query" | "usage" | "usageBy", args: unknown[]): Promise<T> => {
    if (closed) throw new RequestLogUnavailable("the request log is closed");
    if (unopened !== undefined) throw new RequestLogUnavailable(unopened);
    if (restartTimer !== undefined)
      throw new RequestLogUnavailable("the request log's writer is starting again");
    return JSON.parse(((await ask(op, args)) as string | undefined) ?? "null") as T;
  };

  const log: RequestLog = {
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
      // The worker's figures change on their own (a server's count, its state): asked for anew
      // now and then, and read from the last report meanwhile.
      const now = Date.now();
      if (thread !== undefined && !closed && now - lastStatsAsk >= STATS_ASK_MS) {
        lastStatsAsk = now;
        statsAsk = ++sent;
        thread.postMessage({ op: "stats" } satisfies LogCall);
      }
      // In flight: handed over and not yet written, which for PostgreSQL includes the worker's
      // buffer (a batch is done with once all of it is in the table).
      const figures = { ...reported, pending: pending.length + inFlight };
      if (figures.dropped !== undefined) figures.dropped += droppedBefore;
      return figures;
    },
    async close() {
      if (closed) return;
      // A writer being started again is started now: what it is to be given is written first.
      if (restartTimer !== undefined) restart();
      handOff();
      closed = true;
      clearTimeout(timer);
      // Never started: nothing was handed over, nothing to wait for.
      if (thread === undefined) return;
      const waitMs = options.closeWaitMs ?? CLOSE_WAIT_MS;
      const until = performance.now() + waitMs;
      // A writer that stops while closing is followed by another, given what it had not written
      // (a batch that stopped two is dropped by restart()), CLOSE_RESTARTS times at most.
      for (let restartsAtClose = 0; ; restartsAtClose++) {
        stoppedWhileClosing = false;
        let waited: ReturnType<typeof setTimeout> | undefined;
        const answered = await Promise.race([
          ask("close", []).then(
            () => true,
            () => true,
          ),
          new Promise<false>((resolve) => {
            if (Number.isFinite(waitMs))
              waited = setTimeout(() => resolve(false), Math.max(0, until - performance.now()));
          }),
        ]);
        clearTimeout(waited);
        if (!answered) {
          options.log.warn(
            `request log: its writer had not finished after ${waitMs / 1000} s; the ${inFlight} records it had not written are lost`,
          );
          droppedBefore += inFlight;
          break;
        }
        if (!stoppedWhileClosing || unwritten.size === 0) break;
        if (restartsAtClose >= CLOSE_RESTARTS) {
          options.log.error(
            `request log: its writer stopped ${restartsAtClose + 1} times while closing; the ${inFlight} records it had not written are lost`,
          );
          droppedBefore += inFlight;
          break;
        }
        options.log.error(
          `request log: its writer stopped while closing (${inFlight} records not yet written); starting another`,
        );
        restart();
      }
      // Its close event, once closed, changes nothing.
      thread.terminate();
    },
  };
  return { log, ask };
}

export function openSqliteRequestLog(options: ThreadedLogOptions): RequestLog {
  // Opened here once, so a file that cannot be opened is known now and the runtime can say so
  // and keep the log in memory, and trimmed, so that what retention no longer keeps is gone
  // when levity has started; the worker opens its own connection and trims every 10 minutes.
  const atStart = trimmed(options);
  const { path, retentionMs, maxBytes } = options;
  let idleRetention: ReturnType<typeof setInterval> | undefined;
  const { log, ask } = openLogThread({
    store: { store: "sqlite", path, retentionMs, maxBytes },
    flushMs: options.flushMs,
    log: options.log,
    worker: options.worker,
    label: path,
    stats: { records: atStart.records, bytes: atStart.bytes, pending: 0 },
    onStart: () => clearInterval(idleRetention),
    closeWaitMs: options.closeWaitMs,
    restartStableMs: options.restartStableMs,
  });
  // An idle log still lets go of what passes retention: its writer starts and trims, on its own
  // thread, once the oldest record the file held at start is past it. Without records nothing can
  // grow, so age is the only limit to watch, and watching it is a comparison, not a query.
  const trimDueAt = atStart.oldest === undefined ? undefined : atStart.oldest + retentionMs;
  idleRetention = setInterval(() => {
    if (trimDueAt !== undefined && Date.now() >= trimDueAt)
      ask("trim", []).catch(() => {
        // A writer that cannot open the file has said so in the log already.
      });
  }, options.retentionCheckMs ?? RETENTION_CHECK_MS);
  (idleRetention as { unref?: () => void }).unref?.();
  return {
    ...log,
    async close() {
      clearInterval(idleRetention);
      await log.close();
    },
  };
}

/**
 * The request log on PostgreSQL, written from the worker (postgres-request-log.ts, run there).
 * The worker starts with levity, so the schema is brought up to date at start as before.
 */
export function openPostgresLogThread(options: ThreadedPostgresLogOptions): RequestLog {
  const { url, flushMs, retentionMs, timeoutMs, bufferRecords } = options;
  return openLogThread({
    store: { store: "postgres", url, flushMs, retentionMs, timeoutMs, bufferRecords },
    flushMs,
    log: options.log,
    worker: options.worker,
    label: `on PostgreSQL (${redactedUrl(url)})`,
    stats: {
      records: 0,
      bytes: 0,
      pending: 0,
      store: "postgres",
      up: true,
      dropped: 0,
      bufferLimit: bufferRecords,
    },
    instance: options.instance,
    heldMaxChars: options.heldMaxChars,
    eager: true,
    // Its close writes what it holds, each call within timeout_ms, and says what it could not:
    // as on the serving thread before, a stop waits for that (a service manager's stop timeout
    // is the bound).
    closeWaitMs: Number.POSITIVE_INFINITY,
  }).log;
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
