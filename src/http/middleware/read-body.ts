import { check } from "../compose.ts";
import type { PathLookup, RouteMatch } from "../../config/route-table.ts";
import type { JsonObject } from "../../codecs/json.ts";
import { readJsonObject, readMultipart, readOptionalJsonObject } from "../body.ts";
import { describeMultipart } from "../../codecs/multipart.ts";
import type { Deadlines } from "../../deadlines.ts";
import { GatewayError } from "../../failure.ts";
import { type Exchange, lookedUp, type Step } from "../exchange.ts";

/**
 * Reads a POST's (or an admin PATCH's) JSON body, within proxy.max_body_mb and proxy.body_timeout, for the operation
 * and the request log. An overlapped path is settled by the body: the route is the one whose
 * field the body carries. A multipart route (file uploads) is read by the streaming multipart
 * reader within its own max_body_mb, and the log gets its fields with each file's size in place
 * of its bytes. A not-served endpoint is refused whatever its body (multipart audio,
 * file uploads), so its body is never read; an admin command's body may be absent.
 */
export function readBody(deadlines: Deadlines): Step {
  return check((exchange) => {
    const lookup = lookedUp(exchange);
    const route = exchange.match?.route;
    const hasBody =
      lookup.kind === "overlap" ||
      (route !== undefined && route.method !== "GET" && route.operation !== "not-served");
    // A GET passes straight on, without waiting on a promise.
    return hasBody ? read(exchange, lookup, deadlines).then(passOn) : undefined;
  });
}

/** A check that lets the request pass once its body is read (one function for every request). */
const passOn = (): undefined => undefined;

async function read(exchange: Exchange, lookup: PathLookup, deadlines: Deadlines): Promise<void> {
  const { request, snapshot } = exchange;
  const route = exchange.match?.route;
  // A route's own max_body_mb (routes.yaml) replaces proxy.max_body_mb, for JSON as for uploads.
  const limits =
    lookup.kind === "route" && route?.maxBodyBytes !== undefined
      ? { ...snapshot.proxy.body, maxBytes: route.maxBodyBytes }
      : snapshot.proxy.body;
  if (lookup.kind === "route" && route?.body === "multipart") {
    const multipart = await readMultipart(request, limits, deadlines);
    exchange.multipart = multipart;
    exchange.trace.requestBody(describeMultipart(multipart));
    return;
  }
  if (lookup.kind === "overlap") {
    const body = await readJsonObject(request, limits, deadlines);
    exchange.match = chooseOverlap(lookup, body.json);
    exchange.body = body;
  } else {
    exchange.body =
      exchange.match?.route.auth === "admin"
        ? await readOptionalJsonObject(request, limits, deadlines)
        : await readJsonObject(request, limits, deadlines);
  }
  exchange.trace.requestBody(exchange.body.text);
}

function chooseOverlap(
  lookup: Extract<PathLookup, { kind: "overlap" }>,
  json: JsonObject,
): RouteMatch {
  const choice = lookup.choices.find((c) => json[c.field] !== undefined);
  if (!choice) {
    const fields = lookup.choices.map((c) => c.field).join(", ");
    throw new GatewayError(
      400,
      `${lookup.from} is not a known path, and the body has none of the fields (${fields}) that would tell which endpoint was meant.`,
    );
  }
  return { route: choice.route, params: {}, path: choice.route.path, rewrittenFrom: lookup.from };
}
