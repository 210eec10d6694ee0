import type { LogCall, LogReply } from "./request-log-protocol.ts";
import { type LogFile, openLogFile, RETENTION_CHECK_MS } from "./sqlite-request-log.ts";
import type { RequestRecord } from "./record.ts";
import type { LogQuery, UsageGrouping } from "./request-log.ts";

/*
 * The request log's own thread: it decodes the batches the serving thread hands it, writes them
 * to the SQLite file, trims it, and answers the reads, in the order they were sent, so a read
 * sees every record handed over before it.
 */

interface WorkerScope {
  postMessage(message: LogReply): void;
  onmessage: ((event: MessageEvent<LogCall>) => void) | null;
}

function serve(scope: WorkerScope): void {
  const say = (reply: LogReply) => scope.postMessage(reply);
  const log = {
    info: (message: string) => say({ kind: "log", level: "info", message }),
    warn: (message: string) => say({ kind: "log", level: "warn", message }),
    error: (message: string) => say({ kind: "log", level: "error", message }),
  };
  let file: LogFile | undefined;
  /** Why the file could not be opened: every call is answered with it. */
  let unopened = "the request log is not open";
  let retention: ReturnType<typeof setInterval> | undefined;
  const stats = () => {
    if (file) say({ kind: "stats", ...file.stats() });
  };

  scope.onmessage = ({ data: call }) => {
    if (call.op === "open") {
      try {
        file = openLogFile({ ...call.options, log });
      } catch (error) {
        unopened = `the request log could not be opened: ${(error as Error).message}`;
        say({ kind: "failed", message: (error as Error).message });
        return;
      }
      retention = setInterval(() => {
        file?.trim();
        stats();
      }, RETENTION_CHECK_MS);
      say({ kind: "opened" });
      stats();
      return;
    }
    if (call.op === "write") {
      const batch = JSON.parse(call.records) as RequestRecord[];
      file?.write(batch);
      stats();
      say({ kind: "written", batch: call.batch, count: batch.length });
      return;
    }
    if (!file) {
      say({ kind: "answer", id: call.id, error: unopened });
      return;
    }
    let value: unknown;
    try {
      const args = JSON.parse(call.args) as unknown[];
      if (call.op === "query") value = file.query(args[0] as LogQuery);
      else if (call.op === "usage") value = file.usage(args[0] as number);
      else if (call.op === "usageBy")
        value = file.usageBy(args[0] as UsageGrouping, args[1] as number, args[2] as number);
      else if (call.op === "trim") file.trim();
      else {
        clearInterval(retention);
        file.close();
        file = undefined;
        unopened = "the request log is closed";
      }
    } catch (error) {
      say({ kind: "answer", id: call.id, error: (error as Error).message });
      return;
    }
    if (call.op === "trim") stats();
    say({
      kind: "answer",
      id: call.id,
      value: value === undefined ? undefined : JSON.stringify(value),
    });
  };
}

serve(globalThis as unknown as WorkerScope);
