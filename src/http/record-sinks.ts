import type { ConfigSnapshot } from "../config/snapshot.ts";
import { createPricer } from "../cost/cost.ts";
import type { RecordSink, RequestRecord } from "../observe/record.ts";
import type { GatewayServices } from "../operations/context.ts";
import type { SnapshotHolder } from "./exchange.ts";

/**
 * Where a finished request's record goes: the metrics and, when it is on, the request log. With
 * metrics off nothing is collected, but requests in flight are still counted for /levity/status.
 * The sink is chosen when a request starts, so a request that started counted is finished counted
 * across a reload; the log is asked at the end, as the configuration then in force says.
 */
export function recordSinks(
  holder: SnapshotHolder,
  services: Pick<GatewayServices, "metrics" | "requestLog" | "keys" | "log" | "afterAnswer">,
): (snapshot: ConfigSnapshot) => RecordSink {
  const price = createPricer(services.log);
  const toLog = (record: RequestRecord | undefined) =>
    record && holder.snapshot.proxy.requestLog.enabled && services.requestLog.add(record);
  // Priced first: a client key's request is then settled against its limits (its spend
  // included) whatever is collected.
  const account = (record: RequestRecord | undefined) => {
    if (!record) return;
    record.costUsd = price(holder.snapshot, record);
    services.keys.settled(record);
  };
  const withMetrics = (record: RequestRecord | undefined) => {
    account(record);
    services.metrics.finished(record);
    toLog(record);
  };
  const logOnly = (record: RequestRecord | undefined) => {
    account(record);
    services.metrics.finished(undefined);
    toLog(record);
  };
  const { afterAnswer } = services;
  // Done after the answer is handed over (observe/after-answer.ts).
  const withMetricsSink: RecordSink = {
    started: () => services.metrics.started(),
    finished: (record) => afterAnswer.defer(withMetrics, record),
  };
  const logOnlySink: RecordSink = {
    started: () => services.metrics.started(),
    finished: (record) => afterAnswer.defer(logOnly, record),
  };
  return (snapshot) => (snapshot.proxy.metricsEnabled ? withMetricsSink : logOnlySink);
}
