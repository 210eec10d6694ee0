import { check } from "../compose.ts";
import type { AuthClass } from "../../config/schema.ts";
import {
  adminRefusalMessage,
  authenticate as matchKey,
  needsKey,
  presentedCredentials,
  refusalMessage,
} from "../auth.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange, Step } from "../exchange.ts";
import { isLoopbackPeer, sameOrigin } from "../host-check.ts";

/**
 * Who may call the route: the client key's name when one authenticated, recorded on the trace and
 * handed to the operation; a 401 or 403 when none would do. A path no route knows asks for a
 * client key like the API does, so a caller without one cannot probe which paths exist.
 */
export const authenticate: Step = check((exchange) => {
  const clientKeyName = keyFor(exchange.route?.auth ?? "api", exchange);
  exchange.clientKeyName = clientKeyName;
  exchange.trace.authenticated(clientKeyName);
  return undefined;
});

function keyFor(authClass: AuthClass, exchange: Exchange): string | undefined {
  const { snapshot, policies, request, url } = exchange;
  const headers = request.headers;
  switch (authClass) {
    case "page":
      // The monitor page's shell holds no data; everything it shows comes from admin calls.
      return undefined;
    case "admin":
      return adminKeyFor(exchange);
    case "metrics": {
      // Like the API, unless metrics_public; the admin key opens it too, for a scraper run by the admin.
      if (snapshot.proxy.metricsPublic || !needsKey(snapshot.proxy.effectiveAuth, "api"))
        return undefined;
      const presented = presentedCredentials(headers, url);
      const name = matchKey(policies.keys, presented) ?? matchKey(policies.adminKeys, presented);
      if (!name) throw new GatewayError(401, refusalMessage(presented));
      return name;
    }
    default: {
      if (!needsKey(snapshot.proxy.effectiveAuth, authClass)) return undefined;
      const presented = presentedCredentials(headers, url);
      const name = matchKey(policies.keys, presented);
      if (!name) throw new GatewayError(401, refusalMessage(presented));
      return name;
    }
  }
}

/**
 * The admin surface needs the admin key whenever one exists, whatever auth_mode says. Client keys
 * never open it: any holder could read the others' prompts. It names no key, so undefined.
 */
function adminKeyFor(exchange: Exchange): undefined {
  const { snapshot, policies, request, url, options } = exchange;
  const headers = request.headers;
  const presented = presentedCredentials(headers, url);
  if (policies.adminKeys.entries.length > 0) {
    if (!matchKey(policies.adminKeys, presented))
      throw new GatewayError(401, adminRefusalMessage(presented));
    return undefined;
  }
  if (snapshot.proxy.effectiveAuth !== "off") throw new GatewayError(403, NO_ADMIN_KEY);
  // Auth off and no admin key: the CLI on this machine (no Origin), and levity's own monitor
  // page (its Origin is the Host, which the Host check has vetted), and nothing else: no other
  // web page, no other machine (allow_insecure_lan).
  const origin = headers.get("origin");
  if (!isLoopbackPeer(options.peer?.()))
    throw new GatewayError(
      403,
      `Without proxy.admin_key, levity's admin surface answers only this machine. ${ADD_ADMIN_KEY}`,
    );
  if (origin !== null && !sameOrigin(origin, headers.get("host"))) {
    throw new GatewayError(
      403,
      `Without proxy.admin_key, levity's admin surface answers no web page but its own monitor page, and this request came from ${origin.slice(0, 200)}. ${ADD_ADMIN_KEY}`,
    );
  }
  return undefined;
}

const ADD_ADMIN_KEY =
  "Add proxy.admin_key to gateway.yaml (levity init writes one) and send it as the admin key.";
const NO_ADMIN_KEY = `This levity gateway has auth on and no admin key, so its admin surface is closed: client keys never open it. ${ADD_ADMIN_KEY}`;
