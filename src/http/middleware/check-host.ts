import { check } from "../compose.ts";
import { errorResponse } from "../../codecs/errors.ts";
import type { Step } from "../exchange.ts";
import { hostAdmitted, hostRefusalMessage } from "../host-check.ts";

/**
 * First, before anything is looked up or read: a foreign Host is a web page reaching levity
 * through a DNS name of its own (src/http/host-check.ts). The refusal carries no CORS headers
 * either; that page has no business reading even the refusal.
 */
export const checkHost: Step = check((exchange) => {
  const host = exchange.request.headers.get("host");
  if (hostAdmitted(exchange.policies.hosts, host)) return undefined;
  const message = hostRefusalMessage(host ?? "");
  exchange.trace.error(message);
  return exchange.trace.responded(
    errorResponse(exchange.family, 421, message, {}, exchange.requestId),
  );
});
