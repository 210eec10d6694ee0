import { applyCorsHeaders } from "../cors.ts";
import type { Exchange, Step } from "../exchange.ts";

/**
 * What every answer after the preflight carries, refusals included: the request id to quote, a
 * note when levity served another path than the one asked for, and the CORS headers its route
 * allows. The trace then sees the answer as handed to the client.
 */
export function finish(exchange: Exchange, response: Response): Response {
  response.headers.set("x-request-id", exchange.requestId);
  const match = exchange.match;
  if (match?.rewrittenFrom)
    response.headers.set("x-levity-path-rewritten", `${match.rewrittenFrom} -> ${match.path}`);
  applyCorsHeaders(response.headers, exchange.cors, exchange.origin);
  // Refused before its body was read (a wrong key, a route that reads none): what the client is
  // still sending must not be taken for its next request.
  if (hasUnreadBody(exchange.request)) response.headers.set("connection", "close");
  return exchange.trace.responded(response);
}

function hasUnreadBody(request: Request): boolean {
  if (request.bodyUsed || request.body === null) return false;
  const length = request.headers.get("content-length");
  return (length !== null && length !== "0") || request.headers.has("transfer-encoding");
}

// Bound, not an arrow: an arrow made a scope for the exchange on every request as well as the function.
export const finishResponse: Step = (exchange, next) =>
  next().then(finish.bind(undefined, exchange));
