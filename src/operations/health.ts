import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";
import { sharedStateDetail } from "./shared-state.ts";

/** GET /healthz: the gateway answers, and says which version it is (and how its shared state is). */
export const health: OperationHandler = (ctx, services) => {
  const shared = sharedStateDetail(ctx.snapshot, services);
  return jsonResponse({
    status: "ok",
    version: services.version,
    // Down is still ok: this instance keeps serving from its own state.
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
  });
};
