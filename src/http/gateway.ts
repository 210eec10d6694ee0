import type { GatewayServices } from "../operations/context.ts";
import { compose } from "./compose.ts";
import {
  type Exchange,
  type HandleOptions,
  openExchange,
  type SnapshotHolder,
} from "./exchange.ts";
import { admitWebSocket } from "./middleware/admit-websocket.ts";
import { authenticate } from "./middleware/authenticate.ts";
import { refuseUntrustedBrowser } from "./middleware/browser-origin.ts";
import { redirectBrowser } from "./middleware/browser-redirect.ts";
import { catchErrors } from "./middleware/catch-errors.ts";
import { checkHost } from "./middleware/check-host.ts";
import { dispatch } from "./middleware/dispatch.ts";
import { finishResponse } from "./middleware/finish.ts";
import { enforceKeyLimits } from "./middleware/enforce-key.ts";
import { lookupRoute } from "./middleware/lookup-route.ts";
import { answerPreflight } from "./middleware/preflight.ts";
import { readBody } from "./middleware/read-body.ts";
import { requireRoute } from "./middleware/require-route.ts";
import { warnRewrites } from "./middleware/warn-rewrites.ts";
import { policyCache } from "./policies.ts";
import { recordSinks } from "./record-sinks.ts";

/** levity as one web-standard function: the Bun and Deno hosts hand it each request. */
export type Gateway = (request: Request, options?: HandleOptions) => Promise<Response>;

/**
 * The gateway: a request goes through these steps in this order, each in its own module under
 * src/http/middleware/. The order is the behaviour, so the reasons for it are written here.
 */
export function createGateway(holder: SnapshotHolder, services: GatewayServices): Gateway {
  const policiesOf = policyCache();
  const sinkFor = recordSinks(holder, services);
  const chain = compose<Exchange>([
    // Before anything else, and outside the error handling: a foreign Host gets no CORS headers.
    checkHost,
    catchErrors(services.log),
    // A preflight answers with its own headers only, so it comes before finishResponse.
    answerPreflight,
    finishResponse,
    lookupRoute,
    refuseUntrustedBrowser,
    // The browser's way to the monitor page needs no key; everything after authentication does.
    redirectBrowser,
    authenticate(services.keys),
    // Only now is an unknown path refused: a caller without a key learns nothing of which exist.
    admitWebSocket,
    requireRoute,
    // The body is read only for a caller already admitted, on a route that exists.
    readBody(services.deadlines),
    // The key's rules need the model the body names; they are checked before any upstream is asked.
    enforceKeyLimits(services.keys),
    warnRewrites(services.log),
    dispatch(services),
  ]);
  const { afterAnswer } = services;
  return (request, options = {}) => {
    // The answers already handed over are counted before this request is: a WebSocket's next
    // message can come in the same turn as the last one's answer, before the turn's bookkeeping
    // (observe/after-answer.ts), and its key's concurrency must see that answer's slot freed.
    afterAnswer.drain();
    // Read once: a reload during this request does not change the configuration it is served by.
    const snapshot = holder.snapshot;
    try {
      return chain(
        openExchange(request, options, snapshot, policiesOf(snapshot), sinkFor(snapshot)),
      );
    } catch (error) {
      // Not an async function (one promise less per request), but a caller still sees a rejection.
      return Promise.reject(error);
    }
  };
}
