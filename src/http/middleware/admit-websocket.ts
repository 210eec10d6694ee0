import { check } from "../compose.ts";
import type { PathLookup, RouteMatch } from "../../config/route-table.ts";
import { GatewayError } from "../../failure.ts";
import { lookedUp, type Step } from "../exchange.ts";
import { WEBSOCKET_ADMITTED } from "../websocket.ts";

/**
 * A WebSocket upgrade that got this far (route, browser origin, key) is admitted, and goes no
 * further: the host upgrades the connection on seeing WEBSOCKET_ADMITTED, and each message comes
 * back through the gateway as a POST of its own.
 */
export const admitWebSocket: Step = check((exchange) => {
  if (!exchange.options.websocket) return undefined;
  exchange.match = responsesRoute(lookedUp(exchange), exchange.url);
  exchange.trace.upgraded();
  return new Response(null, { status: 200, headers: { [WEBSOCKET_ADMITTED]: "1" } });
});

/** Only the Responses route speaks over a WebSocket; anything else is refused before the upgrade. */
function responsesRoute(lookup: PathLookup, url: URL): RouteMatch {
  if (
    lookup.kind === "route" &&
    lookup.match.route.operation === "generate" &&
    lookup.match.route.dialect === "openai-responses"
  )
    return lookup.match;
  throw new GatewayError(
    404,
    `levity serves WebSockets only on the Responses path (${url.origin}/v1/responses); ${url.pathname} is not it.`,
    { code: "unknown_url" },
  );
}
