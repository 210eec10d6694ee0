import type { PathLookup, RouteMatch } from "../../config/route-table.ts";
import type { JsonObject } from "../../codecs/json.ts";
import type { BodyLimits } from "../../config/request-limits.ts";
import {
  BodyRead,
  notJson,
  optionalJsonObject,
  readMultipart,
  requiredJsonObject,
} from "../body.ts";
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
  // A step, not a check: the read's promise hands the request on itself (`next` is already a
  // function), where a check's answer would wait in two more promises and a closure.
  return (exchange, next) => {
    const lookup = lookedUp(exchange);
    const route = exchange.match?.route;
    const hasBody =
      lookup.kind === "overlap" ||
      (route !== undefined && route.method !== "GET" && route.operation !== "not-served");
    // A GET passes straight on, without waiting on a promise.
    if (!hasBody) return next();
    const { request, snapshot } = exchange;
    // A route's own max_body_mb (routes.yaml) replaces proxy.max_body_mb, for JSON as for uploads.
    const limits =
      lookup.kind === "route" && route?.maxBodyBytes !== undefined
        ? { ...snapshot.proxy.body, maxBytes: route.maxBodyBytes }
        : snapshot.proxy.body;
    if (lookup.kind === "route" && route?.body === "multipart")
      return readUpload(exchange, limits, deadlines).then(next);
    // An admin command's body may be absent, and is not refused for its type.
    const optional = lookup.kind !== "overlap" && route?.auth === "admin";
    const refusal = optional ? undefined : notJson(request);
    if (refusal) return Promise.reject(refusal);
    return new ExchangeBody(exchange, lookup, optional, limits, deadlines).read().then(next);
  };
}

async function readUpload(exchange: Exchange, limits: BodyLimits, deadlines: Deadlines) {
  const multipart = await readMultipart(exchange.request, limits, deadlines);
  exchange.multipart = multipart;
  exchange.trace.requestBody(describeMultipart(multipart));
}

/** A JSON body read for the exchange: the operation's body, the log's text, an overlap settled. */
class ExchangeBody extends BodyRead {
  constructor(
    private readonly exchange: Exchange,
    private readonly lookup: PathLookup,
    private readonly optional: boolean,
    limits: BodyLimits,
    deadlines: Deadlines,
  ) {
    super(exchange.request, limits, deadlines);
  }

  protected arrived(bytes: ArrayBuffer | Uint8Array): void {
    const { exchange, lookup } = this;
    if (lookup.kind === "overlap") {
      const body = requiredJsonObject(bytes);
      exchange.match = chooseOverlap(lookup, body.json);
      exchange.body = body;
    } else exchange.body = this.optional ? optionalJsonObject(bytes) : requiredJsonObject(bytes);
    exchange.trace.requestBody(exchange.body.text);
  }
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
