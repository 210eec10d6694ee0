import type { LogStats } from "./request-log.ts";
import type { LogFileOptions } from "./sqlite-request-log.ts";

/*
 * What the serving thread and the request log's worker say to each other. Batches of records
 * travel as one JSON string each: serialising a batch once is cheaper for the serving thread than
 * a structured clone of every record (BENCHMARKS.md, "Where the time goes").
 */

/** The store the worker writes: the SQLite file, or the table shared on PostgreSQL. */
export type LogStore =
  | ({ store: "sqlite" } & Omit<LogFileOptions, "log" | "now">)
  | {
      store: "postgres";
      url: string;
      flushMs: number;
      retentionMs: number;
      timeoutMs: number;
      bufferRecords: number;
    };

export type LogCall =
  | { op: "open"; options: LogStore }
  /**
   * `batch` numbers it, so the serving thread can let go of it once written (or hand it again);
   * `instance` is the host:port that served its records, for a store shared by several.
   */
  | { op: "write"; batch: number; records: string; instance: string }
  /** Asks for the store's figures now (a server's count of records is refreshed at most every 5 s). */
  | { op: "stats" }
  | { op: "query" | "usage" | "usageBy" | "trim" | "close"; id: number; args: string };

export type LogReply =
  | { kind: "failed"; message: string }
  /** The store's figures, for stats() without a call: after opening, each trim, and each change of a server's state. */
  | { kind: "stats"; stats: LogStats }
  /**
   * `count` more records of a batch are done with: written, or dropped (past PostgreSQL's buffer
   * bound, or when the store could not be opened); `finished` once all of it is. With the
   * figures after it, so that no reading of stats() counts a record both ways.
   */
  | {
      kind: "written";
      batch: number;
      count: number;
      finished: boolean;
      stats?: LogStats;
      /** Of the `count`, the request ids of those dropped rather than written. */
      droppedIds?: string[];
    }
  | { kind: "log"; level: "info" | "warn" | "error"; message: string }
  | { kind: "answer"; id: number; value?: string; error?: string }
  /** A call it has read and is waiting on (a read on PostgreSQL): not what it stops on, if it stops. */
  | { kind: "reading"; id: number };
