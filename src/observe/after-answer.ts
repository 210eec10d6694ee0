import type { Logger } from "../log.ts";
import type { RequestRecord } from "./record.ts";

/*
 * A finished request's bookkeeping (its price, its client key's counters, the metrics, the request
 * log) done once its answer has been handed to the runtime, not before: it was ~12 µs of every
 * request's latency at c=1 (BENCHMARKS.md, issue 20). The records of one turn of the event loop
 * are taken in one go by a single setImmediate, which the runtime runs after the answers it was
 * handed are written and before it reads the next request: a client that has its answer and
 * asks again (the same key's next request, /metrics, /levity/logs) finds the record counted.
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
    // A handler that throws must not lose the records after it, nor reach the runtime as an
    // uncaught exception (which would end the process).
    for (let i = 0; i < handlers.length; i++) {
      try {
        handlers[i]!(records[i]);
      } catch (error) {
        this.log.error(`a finished request's record was not kept: ${(error as Error).message}`);
      }
    }
    handlers.length = 0;
    records.length = 0;
  }
}
