import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";
import { sharedStateDetail } from "./shared-state.ts";

/**
 * GET /healthz: the gateway answers, and says which version it is, and how its shared state and
 * its request log on PostgreSQL are, where it has them. Either being down is still "ok": this
 * instance keeps serving from its own state.
 */
export const health: OperationHandler = (ctx, services) => {
  const shared = sharedStateDetail(ctx.snapshot, services);
  const log = ctx.snapshot.proxy.requestLog.url ? services.requestLog.stats() : undefined;
  return jsonResponse({
    status: "ok",
    version: services.version,
    ...(shared
      ? {
          shared_state: {
            url: shared.url,
            up: shared.up,
            mode: shared.mode,
            since: shared.since,
            ...(shared.reason ? { reason: shared.reason } : {}),
            failed_calls: shared.failedCalls,
          },
        }
      : {}),
    ...(log
      ? {
          requestLog: {
            store: "postgres",
            up: log.up,
            buffered: log.pending,
            dropped: log.dropped,
          },
        }
      : {}),
  });
};
