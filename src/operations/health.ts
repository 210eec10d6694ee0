import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";

/**
 * GET /healthz: the gateway answers, and says which version it is. With the request log on
 * PostgreSQL, whether it answers too: the gateway serves either way, so the status stays "ok".
 */
export const health: OperationHandler = (ctx, services) => {
  if (!ctx.snapshot.proxy.requestLog.url)
    return jsonResponse({ status: "ok", version: services.version });
  const { up, pending, dropped } = services.requestLog.stats();
  return jsonResponse({
    status: "ok",
    version: services.version,
    requestLog: { store: "postgres", up, buffered: pending, dropped },
  });
};
