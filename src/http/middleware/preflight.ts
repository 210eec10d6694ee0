import { check } from "../compose.ts";
import { corsForRoute, preflightResponse } from "../cors.ts";
import type { Exchange, Step } from "../exchange.ts";
import { routeOf } from "./lookup-route.ts";

/**
 * A browser's CORS preflight (OPTIONS) is answered here, with no key: a browser cannot attach one
 * to it. What it may do next is the CORS policy of the route it asks about, as POST or GET.
 */
export const answerPreflight: Step = check((exchange) =>
  exchange.request.method === "OPTIONS" ? preflight(exchange) : undefined,
);

async function preflight(exchange: Exchange): Promise<Response> {
  const { request, url, snapshot, policies, trace } = exchange;
  const asked =
    request.headers.get("access-control-request-method")?.toUpperCase() === "POST" ? "POST" : "GET";
  const preflighted = routeOf(await snapshot.routes.lookup(asked, url.pathname));
  return trace.responded(
    preflightResponse(corsForRoute(policies.cors, preflighted?.auth), request),
  );
}
