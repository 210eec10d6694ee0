import { check } from "../compose.ts";
import type { RouteDef } from "../../config/route-table.ts";
import { GatewayError } from "../../failure.ts";
import { lookedUp, type Step } from "../exchange.ts";
import { lookupMethod } from "./lookup-route.ts";

/**
 * A path no route serves is refused here, once the caller has shown a key: 404 with the nearest
 * route and the Base URLs, or 405 naming the methods the path accepts. A path that names one route
 * settles the match; an overlap waits for the body to say which route it means.
 */
export const requireRoute: Step = check((exchange) => {
  // The URL is read only to refuse: its parse is needed for nothing else on the way.
  const { request, options } = exchange;
  const lookup = lookedUp(exchange);
  switch (lookup.kind) {
    case "unknown":
      throw new GatewayError(
        404,
        unknownPathMessage(lookupMethod(request, options), exchange.url, lookup.nearest),
        { code: "unknown_url" },
      );
    case "wrong-method":
      throw new GatewayError(
        405,
        `${request.method} is not allowed on ${exchange.url.pathname}; it accepts ${lookup.allow.join(", ")}.`,
        { headers: { allow: [...lookup.allow, "OPTIONS"].join(", ") } },
      );
    case "route":
      exchange.match = lookup.match;
      return undefined;
    case "overlap":
      return undefined;
  }
});

function unknownPathMessage(method: string, url: URL, nearest: RouteDef | undefined): string {
  const near = nearest ? ` The nearest known route is ${nearest.method} ${nearest.path}.` : "";
  return (
    `levity has no route for ${method} ${url.pathname}.${near} ` +
    `Base URLs for this gateway: OpenAI SDKs, Codex CLI and Kilo Code ${url.origin}/v1; Anthropic SDKs and Claude Code ${url.origin}; ` +
    `Gemini SDKs and Gemini CLI ${url.origin}. \`levity routes\` lists every path.`
  );
}
