import type { Logger } from "../log.ts";
import type { RequestRecord } from "./record.ts";

/*
 * A finished request's bookkeeping (its price, its client key's counters, the metrics, the request
 * log) done once its answer has been handed to the runtime, not before: it was ~12 µs of every
 * request's latency at c=1 (BENCHMARKS.md, issue 20). The records of one turn of the event loop
 * are taken in one go by a single setImmediate, after the answers are written; and every request
 * the gateway starts takes what is still waiting first (http/gateway.ts), so a client that has
 * its answer and asks again (the same key's next request, over HTTP or on the same WebSocket,
 * /metrics, /levity/logs) finds the record counted, whatever order the runtime runs things in.
 */
export class AfterAnswer {
  private readonly handlers: ((record: RequestRecord | undefined) => void)[] = [];
  private readonly records: (RequestRecord | undefined)[] = [];
  private readonly drainLater = () => this.drain();

  constructor(private readonly log: Pick<Logger, "error">) {}

  defer(handler: (record: RequestRecord | undefined) => void, record: RequestRecord | undefined) {
    if (this.handlers.push(handler) === 1) setImmediate(this.drainLater);
    this.records.push(record);
  }

  /** Does what is waiting now (also at shutdown, before the log and the counters are closed). */
  drain(): void {
    const { handlers, records } = this;
    if (handlers.length === 0) return;
    // A handler that throws must not lose the records after it, nor reach the runtime as an
    // uncaught exception (which would end the process).
    for (let i = 0; i < handlers.length; i++) {
      try {
        handlers[i]!(records[i]);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        this.log.error(
          `the record of request ${records[i]?.requestId ?? "(not traffic)"} was not kept: ${why}`,
        );
      }
    }
    handlers.length = 0;
    records.length = 0;
  }
}
