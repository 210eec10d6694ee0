import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";

/** GET /healthz: the gateway answers, and says which version it is. */
export const health: OperationHandler = (_, services) =>
  jsonResponse({ status: "ok", version: services.version });
