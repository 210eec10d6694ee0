import { check } from "../compose.ts";
import { FAMILIES } from "../../codecs/families.ts";
import { FAMILY_OF_DIALECT } from "../../codecs/names.ts";
import type { RouteDef } from "../../config/route-table.ts";
import type { Logger } from "../../log.ts";
import type { Step } from "../exchange.ts";

/** Past this many distinct paths the warnings stop: a client probing paths cannot grow the set. */
const MAX_WARNED_PATHS = 1000;

/**
 * A client that reached a route by another path (a doubled /v1, an endpoint glued onto an
 * endpoint) most likely has a wrong Base URL: the log says which one to set, once per path and
 * method for the life of this gateway.
 */
export function warnRewrites(log: Logger): Step {
  const warned = new Set<string>();
  return check((exchange) => {
    const { match, request } = exchange;
    if (match?.rewrittenFrom) {
      const key = `${request.method} ${match.rewrittenFrom}`;
      if (!warned.has(key) && warned.size <= MAX_WARNED_PATHS) {
        warned.add(key);
        const cause = match.gluedOnto
          ? ` Its Base URL seems to be a whole endpoint (ending in ${match.gluedOnto}), onto which it added its own path.`
          : "";
        log.warn(
          `a client called ${request.method} ${match.rewrittenFrom}; served it as ${match.path}.${cause} Set that client's Base URL to ${baseUrlFor(match.route, exchange.url)} (this warning shows once per path)`,
        );
      }
    }
    return undefined;
  });
}

function baseUrlFor(route: RouteDef, url: URL): string {
  const family = route.dialect ? FAMILIES[FAMILY_OF_DIALECT[route.dialect]] : undefined;
  return url.origin + (family?.clientBasePath ?? "");
}
