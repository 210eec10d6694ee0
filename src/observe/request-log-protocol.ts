import type { LogFileOptions } from "./sqlite-request-log.ts";

/*
 * What the serving thread and the request log's worker say to each other. Batches of records
 * travel as one JSON string each: serialising a batch once is cheaper for the serving thread than
 * a structured clone of every record (BENCHMARKS.md, "Where the time goes").
 */

export type LogCall =
  | { op: "open"; options: Omit<LogFileOptions, "log" | "now"> }
  /** `batch` numbers it, so the serving thread can let go of it once written (or hand it again). */
  | { op: "write"; batch: number; records: string }
  | { op: "query" | "usage" | "usageBy" | "trim" | "close"; id: number; args: string };

export type LogReply =
  | { kind: "opened" }
  | { kind: "failed"; message: string }
  /** What the file holds, for stats() without a call: after opening, each write and each trim. */
  | { kind: "stats"; records: number; bytes: number }
  /** A batch is done with: written, or, when the file could not be opened, dropped. */
  | { kind: "written"; batch: number; count: number }
  | { kind: "log"; level: "info" | "warn" | "error"; message: string }
  | { kind: "answer"; id: number; value?: string; error?: string };
