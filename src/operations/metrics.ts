import { GatewayError } from "../failure.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../observe/prometheus.ts";
import { requestLogMetrics } from "../observe/request-log.ts";
import type { OperationHandler } from "./context.ts";
import { sharedStateMetrics } from "./shared-state.ts";

/** GET /metrics in Prometheus' text format, with the accounts' states as the pool sees them now. */
export const metrics: OperationHandler = (ctx, services) => {
  if (!ctx.snapshot.proxy.metricsEnabled)
    throw new GatewayError(
      404,
      "Metrics are off in this levity (proxy.metrics: false in gateway.yaml).",
    );
  return new Response(
    services.metrics.render(
      services.pool.view(ctx.snapshot.upstreams),
      services.accountEvents.list(),
    ) +
      sharedStateMetrics(services) +
      // Only for a log on PostgreSQL: requests.db has no outage to report.
      (ctx.snapshot.proxy.requestLog.url ? requestLogMetrics(services.requestLog.stats()) : ""),
    { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } },
  );
};
