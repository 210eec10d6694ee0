import type { GatewayServices } from "../../operations/context.ts";
import { OPERATION_HANDLERS } from "../../operations/handlers.ts";
import { isSettled, type Step } from "../exchange.ts";

/**
 * Last: the operation the route names serves the request, given the exchange as its
 * RequestContext. The table has one handler per operation, so a route can name no other.
 */
export function dispatch(services: GatewayServices): Step {
  return (exchange) => {
    if (!isSettled(exchange)) throw new Error("dispatched before the route was settled");
    return OPERATION_HANDLERS[exchange.match.route.operation](exchange, services);
  };
}
