import { FAMILY_LIST } from "../codecs/families.ts";
import type { Operation } from "../codecs/names.ts";
import type { RouteTable } from "../config/route-table.ts";
import type { OperationHandler } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";

/*
 * GET /: what someone finds who opens the gateway's address. A browser is sent to the monitor
 * page; a program gets a short index of the Base URLs and where to look next. It holds nothing
 * the caller does not already know (the address it used, the version /healthz tells), so it is
 * as open as /healthz.
 */

/** A browser navigating asks for HTML; curl, the SDKs and fetch() send `*\/*` or JSON. */
export function wantsHtml(request: Request): boolean {
  return /\btext\/html\b/i.test(request.headers.get("accept") ?? "");
}

/** The path of the first route doing this operation, so the index follows routes.yaml. */
function pathOf(routes: RouteTable, operation: Operation): string | undefined {
  return routes.routes.find((route) => route.operation === operation && route.method === "GET")
    ?.path;
}

/** The redirect a browser gets, or undefined when routes.yaml serves no monitor page. */
export function browserRedirect(routes: RouteTable): Response | undefined {
  const page = pathOf(routes, "monitor-page");
  return page
    ? new Response(null, { status: 302, headers: { location: page, "cache-control": "no-store" } })
    : undefined;
}

function indexResponse(
  origin: string,
  version: string,
  routes: RouteTable,
  metricsEnabled: boolean,
): Response {
  const links: Record<string, string> = {};
  const health = pathOf(routes, "health");
  const monitor = pathOf(routes, "monitor-page");
  const metrics = metricsEnabled ? pathOf(routes, "metrics") : undefined;
  if (health) links.health = origin + health;
  if (monitor) links.monitor = origin + monitor;
  if (metrics) links.metrics = origin + metrics;
  return jsonResponse(
    {
      name: "levity",
      version,
      // The same values the start-up block prints: OpenAI clients add /chat/completions to a Base
      // URL ending in /v1; the Anthropic and Gemini SDKs add their own /v1 and /v1beta.
      base_urls: Object.fromEntries(
        FAMILY_LIST.map((family) => [family.name, origin + family.clientBasePath]),
      ),
      links,
      hint: "`levity routes` lists every path this gateway serves.",
    },
    { headers: new Headers({ "cache-control": "no-store" }) },
  );
}

/** GET / for a program (a browser was redirected before authentication). */
export const indexPage: OperationHandler = (ctx, services) =>
  indexResponse(
    ctx.url.origin,
    services.version,
    ctx.snapshot.routes,
    ctx.snapshot.proxy.metricsEnabled,
  );
