import type { Logger } from "../../log.ts";
import { errorResponse } from "../../codecs/errors.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange, Step } from "../exchange.ts";
import { finish } from "./finish.ts";

/**
 * Whatever a later step throws becomes an answer in the client's own error shape: a GatewayError
 * is a refusal meant for the client; anything else is a bug, logged with its stack and answered
 * with a 500 that names the request id to look for.
 */
export function catchErrors(log: Logger): Step {
  // A `next` never throws: what the rest of the chain throws arrives as its rejection. Bound, not
  // an arrow: an arrow made a scope for the exchange on every request as well as the function.
  return (exchange, next) => next().catch(answerError.bind(undefined, exchange, log));
}

function answerError(exchange: Exchange, log: Logger, error: unknown): Response {
  return finish(exchange, errorAnswer(exchange, error, log));
}

function errorAnswer(exchange: Exchange, error: unknown, log: Logger): Response {
  const { family, requestId, request, trace } = exchange;
  if (error instanceof GatewayError) {
    trace.error(error.message);
    return errorResponse(family, error.status, error.message, error.details, requestId);
  }
  trace.error(`internal error: ${(error as Error).message}`);
  log.error(
    `request ${requestId} ${request.method} ${exchange.url.pathname} failed: ${(error as Error).stack ?? error}`,
  );
  return errorResponse(
    family,
    500,
    `levity hit an internal error while serving this request (request id ${requestId}). This is a bug; the log has the details.`,
    {},
    requestId,
  );
}
