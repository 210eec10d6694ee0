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
  return exchange.trace.responded(response);
}

export const finishResponse: Step = (exchange, next) =>
  next().then((response) => finish(exchange, response));
