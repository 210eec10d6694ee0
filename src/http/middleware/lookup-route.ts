import { check } from "../compose.ts";
import type { PathLookup, RouteDef } from "../../config/route-table.ts";
import { corsForRoute } from "../cors.ts";
import { familyOfDialect } from "../../codecs/errors.ts";
import type { Exchange, HandleOptions, Step } from "../exchange.ts";

/**
 * The method a path is looked up by: HEAD is a GET without the body, and a WebSocket upgrade is
 * looked up as the POST its messages will be, so it has that route's auth and aliases.
 */
export function lookupMethod(request: Request, options: HandleOptions): string {
  if (options.websocket) return "POST";
  return request.method === "HEAD" ? "GET" : request.method;
}

/** The route a lookup points at, before a body settles an overlap: its first choice stands in. */
export function routeOf(lookup: PathLookup): RouteDef | undefined {
  if (lookup.kind === "route") return lookup.match.route;
  if (lookup.kind === "overlap") return lookup.choices[0]?.route;
  return undefined;
}

/**
 * Asks the route table about the path. A path it knows decides what follows: which key opens it,
 * which error shape the client reads, whether the answer may carry CORS headers (admin data never
 * does), and what the trace records it as. An unknown path is refused later, after authentication,
 * so that a caller without a key learns nothing of which paths exist.
 */
export const lookupRoute: Step = check((exchange) => {
  const { request, path, snapshot } = exchange;
  const method = lookupMethod(request, exchange.options);
  // Clients repeat the same few paths: a known one is answered without waiting on a promise.
  const cached = snapshot.routes.cached(method, path);
  if (cached) {
    found(exchange, cached);
    return undefined;
  }
  return foundLater(snapshot.routes.lookup(method, path), exchange);
});

/** In a function of its own: the closure in the check made it a scope every request, cached or not. */
function foundLater(lookup: Promise<PathLookup>, exchange: Exchange): Promise<undefined> {
  return lookup.then((settled) => {
    found(exchange, settled);
    return undefined;
  });
}

function found(exchange: Exchange, lookup: PathLookup): void {
  exchange.lookup = lookup;
  const route = routeOf(lookup);
  if (!route) return;
  exchange.route = route;
  exchange.cors = corsForRoute(exchange.policies.cors, route.auth);
  if (route.dialect) exchange.family = familyOfDialect(route.dialect);
  exchange.trace.matched(route);
}
