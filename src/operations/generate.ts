import type { Dialect } from "../config/schema.ts";
import type { Upstream } from "../config/snapshot.ts";
import { errorResponse, GatewayError, type ErrorFamily } from "../http/errors.ts";
import { resolveModel, type Resolution } from "../mapping/resolve.ts";
import { translate } from "../pipeline/translate.ts";
import { UpstreamError } from "../upstream/failure.ts";
import { callUpstream } from "../upstream/forward.ts";
import { clientResponseHeaders, speaksNatively, upstreamEndpoint, upstreamRequestHeaders } from "../upstream/protocol.ts";
import type { GatewayServices, RequestContext } from "./context.ts";

function requestedModel(ctx: RequestContext, dialect: Dialect): string {
  const raw = dialect === "gemini" ? safeDecode(ctx.match.params.model ?? "") : ctx.body?.json.model;
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new GatewayError(400, dialect === "gemini" ? "The model name is missing from the path." : "model is required: name the model to use.", { param: "model" });
  }
  return raw;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Headers that say where a request went: the mapped model, the upstream and the account (by name, never key). */
function routingHeaders(resolution: Resolution, accountName: string): Headers {
  return new Headers({ "x-mapped-model": resolution.target.model, "x-upstream": resolution.target.upstream, "x-account": accountName });
}

/** Anthropic's 529 (overloaded) means 503 to clients that have no such status. */
function clientStatus(status: number, family: ErrorFamily): number {
  return status === 529 && family !== "anthropic" ? 503 : status;
}

/**
 * POST generate and count-tokens routes. A client whose dialect is the upstream's own is
 * forwarded byte for byte (the fast and most faithful path); every other pair goes through the IR.
 */
export async function generate(ctx: RequestContext, services: GatewayServices): Promise<Response> {
  const dialect = ctx.match.route.dialect;
  if (!dialect || !ctx.body) throw new Error(`route ${ctx.match.route.path} has no dialect or body`);
  const requested = requestedModel(ctx, dialect);
  const snapshot = ctx.snapshot;
  const resolution = resolveModel(snapshot.mappings, requested, snapshot.upstreams[0]!.name);
  const upstream = snapshot.upstreamByName.get(resolution.target.upstream);
  if (!upstream) throw new Error(`mapping target names unknown upstream ${resolution.target.upstream}`);
  const stream = ctx.match.route.stream || ctx.body.json.stream === true;
  const account = upstream.accounts[0]?.name ?? upstream.name;

  try {
    if (upstream.protocol !== "echo" && speaksNatively(upstream.protocol, dialect) && !continuesLevityResponse(ctx, services)) {
      return await forward(ctx, dialect, resolution, upstream, stream);
    }
    return await translate({ ctx, dialect, resolution, upstream, stream, store: services.store, headers: (name) => routingHeaders(resolution, name) });
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    const headers = Object.fromEntries(routingHeaders(resolution, account));
    if (error.retryAfter) headers["retry-after"] = error.retryAfter;
    return errorResponse(ctx.family, clientStatus(error.status, ctx.family), error.message, { headers }, ctx.requestId);
  }
}

/** A Responses request that continues a conversation levity stored must be rebuilt from the store, whatever the upstream. */
function continuesLevityResponse(ctx: RequestContext, services: GatewayServices): boolean {
  const previous = ctx.body?.json.previous_response_id;
  return ctx.match.route.dialect === "openai-responses" && typeof previous === "string" && services.store.hasResponse(previous);
}

async function forward(ctx: RequestContext, dialect: Dialect, resolution: Resolution, upstream: Upstream, stream: boolean): Promise<Response> {
  const account = upstream.accounts[0];
  if (!account) throw new GatewayError(503, `Upstream "${upstream.name}" has no accounts.`);
  const { json, text } = ctx.body!;
  // Only the model changes; when it does not, the client's bytes go through untouched.
  const body = dialect === "gemini" || json.model === resolution.target.model ? text : JSON.stringify({ ...json, model: resolution.target.model });
  const url = upstreamEndpoint(upstream, { dialect, operation: ctx.match.route.operation, model: resolution.target.model, stream, query: ctx.url.searchParams });
  const upstreamResponse = await callUpstream({
    upstream,
    url,
    body,
    headers: upstreamRequestHeaders(upstream.protocol, account.key, ctx.request.headers, true),
    clientSignal: ctx.request.signal,
    timeoutMs: ctx.snapshot.proxy.requestTimeoutMs,
  });
  const headers = clientResponseHeaders(upstreamResponse.headers);
  routingHeaders(resolution, account.name).forEach((value, name) => headers.set(name, value));
  return new Response(upstreamResponse.body, { status: upstreamResponse.status, statusText: upstreamResponse.statusText, headers });
}
