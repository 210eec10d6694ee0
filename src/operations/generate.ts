import { CODECS } from "../codecs/index.ts";
import { byteStream, type RenderOptions } from "../codecs/shared.ts";
import type { Dialect } from "../config/schema.ts";
import type { Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../http/errors.ts";
import type { ChatRequest } from "../ir.ts";
import { resolveModel, type Resolution } from "../mapping/resolve.ts";
import { estimateRequestTokens } from "../tokens/estimate.ts";
import { echoResponse, echoStream } from "../upstream/echo.ts";
import { sendUpstream } from "../upstream/forward.ts";
import { clientResponseHeaders, speaksNatively } from "../upstream/protocol.ts";
import { jsonResponse, type RequestContext } from "./context.ts";

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

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

/** POST generate and count-tokens routes: resolve the model, then answer from echo or forward to the upstream. */
export async function generate(ctx: RequestContext): Promise<Response> {
  const { route } = ctx.match;
  const dialect = route.dialect;
  if (!dialect || !ctx.body) throw new Error(`route ${route.path} has no dialect or body`);
  const requested = requestedModel(ctx, dialect);
  const snapshot = ctx.snapshot;
  const resolution = resolveModel(snapshot.mappings, requested, snapshot.upstreams[0]!.name);
  const upstream = snapshot.upstreamByName.get(resolution.target.upstream);
  if (!upstream) throw new Error(`mapping target names unknown upstream ${resolution.target.upstream}`);
  const stream = route.stream || ctx.body.json.stream === true;

  if (upstream.protocol === "echo") return serveEcho(ctx, dialect, resolution, stream);
  if (!speaksNatively(upstream.protocol, dialect)) throw crossDialect(dialect, requested, upstream);
  return forward(ctx, dialect, resolution, upstream, stream);
}

function crossDialect(dialect: Dialect, requested: string, upstream: Upstream): GatewayError {
  return new GatewayError(
    501,
    `Model "${requested}" maps to upstream "${upstream.name}", which speaks the ${upstream.protocol} protocol, but this request is ${dialect}. ` +
      `This levity release forwards each dialect only to an upstream of the same protocol; translation between them is coming in the next release. ` +
      `Until then, map this model to a ${dialect.startsWith("openai") ? "openai" : dialect === "gemini" ? "gemini" : "anthropic"} upstream in mappings.yaml (levity resolve ${requested} shows the rule).`,
  );
}

function renderOptions(ctx: RequestContext): RenderOptions {
  const streamOptions = ctx.body?.json.stream_options;
  return {
    includeUsage: typeof streamOptions === "object" && streamOptions !== null && (streamOptions as Record<string, unknown>).include_usage === true,
    geminiFraming: ctx.url.searchParams.get("alt") === "sse" ? "sse" : "json-array",
  };
}

function serveEcho(ctx: RequestContext, dialect: Dialect, resolution: Resolution, stream: boolean): Response {
  const codec = CODECS[dialect];
  const request: ChatRequest = codec.parseRequest(ctx.body!.json, resolution.target.model, stream);
  const headers = routingHeaders(resolution, "echo");
  if (ctx.match.route.operation === "count-tokens") {
    headers.set("x-levity-token-count", "estimate");
    const tokens = estimateRequestTokens(request);
    return jsonResponse(dialect === "gemini" ? { totalTokens: tokens, promptTokensDetails: [{ modality: "TEXT", tokenCount: tokens }] } : { input_tokens: tokens }, { headers });
  }
  if (!stream) return jsonResponse(codec.renderResponse(echoResponse(request)), { headers });
  const options = renderOptions(ctx);
  const type = dialect === "gemini" && options.geminiFraming === "json-array" ? { "content-type": "application/json" } : SSE_HEADERS;
  for (const [name, value] of Object.entries(type)) headers.set(name, value);
  return new Response(byteStream(codec.renderStream(echoStream(request), options)), { headers });
}

async function forward(ctx: RequestContext, dialect: Dialect, resolution: Resolution, upstream: Upstream, stream: boolean): Promise<Response> {
  const account = upstream.accounts[0];
  if (!account) throw new GatewayError(503, `Upstream "${upstream.name}" has no accounts.`);
  const { json, text } = ctx.body!;
  // Only the model changes; when it does not, the client's bytes go through untouched.
  const body = dialect === "gemini" || json.model === resolution.target.model ? text : JSON.stringify({ ...json, model: resolution.target.model });
  const upstreamResponse = await sendUpstream({
    upstream,
    account,
    dialect,
    operation: ctx.match.route.operation,
    model: resolution.target.model,
    stream,
    query: ctx.url.searchParams,
    body,
    clientHeaders: ctx.request.headers,
    clientSignal: ctx.request.signal,
    timeoutMs: ctx.snapshot.proxy.requestTimeoutMs,
  });
  const headers = clientResponseHeaders(upstreamResponse.headers);
  routingHeaders(resolution, account.name).forEach((value, name) => headers.set(name, value));
  return new Response(upstreamResponse.body, { status: upstreamResponse.status, statusText: upstreamResponse.statusText, headers });
}
