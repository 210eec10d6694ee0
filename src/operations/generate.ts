import { CLIENT_CODECS } from "../codecs/index.ts";
import type { Dialect } from "../codecs/names.ts";
import type { ChatRequest } from "../ir.ts";
import { GatewayError } from "../failure.ts";
import { resolveTargets } from "../mapping/resolve.ts";
import { prepareTranslation, translatedRunner, type Prepared } from "../pipeline/translate.ts";
import type { Lease } from "../pool/lease.ts";
import type { Affinity } from "../pool/affinity.ts";
import {
  serveWithPool,
  type AttemptResult,
  type ServeContext,
  type TargetRunner,
} from "../pipeline/serve.ts";
import { requestSessionKey } from "../pipeline/session-key.ts";
import type { Upstream } from "../config/snapshot.ts";
import { apiOfDialect } from "../codecs/openai-compatible/index.ts";
import { forwardsNatively } from "../upstream/protocol.ts";
import type { GatewayServices, RequestContext } from "./context.ts";
import { PassthroughRunner } from "../pipeline/passthrough.ts";
import {
  asTheWindowCounts,
  fittingTargets,
  mayExceed,
  windowOf,
  worthCounting,
} from "../pipeline/context-fit.ts";
import { roughRequestTokens } from "../tokens/estimate.ts";
import { limitsOf, type Target } from "../mapping/table.ts";
import type { ModelLimits } from "../mapping/model-limits.ts";
import { silentStream } from "../pipeline/commit-deadline.ts";
import { DIALECT_MODULES } from "../codecs/index.ts";

/** The model the client names: in the body, or in the path for Gemini. */
export function requestedModel(ctx: RequestContext, dialect: Dialect): string {
  const raw =
    dialect === "gemini" ? safeDecode(ctx.match.params.model ?? "") : ctx.body?.json.model;
  if (typeof raw !== "string" || raw.trim() === "") {
    throw new GatewayError(
      400,
      dialect === "gemini" ? "The model name is missing from the path." : modelProblem(raw),
      { param: "model" },
    );
  }
  // A name goes into URLs, headers and the log: control characters, broken UTF-16 and absurd lengths are refused here.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (raw.length > MODEL_NAME_MAX || /[\u0000-\u001f\u007f]/.test(raw) || !raw.isWellFormed()) {
    throw new GatewayError(
      400,
      `model must be a name of at most ${MODEL_NAME_MAX} printable characters.`,
      { param: "model" },
    );
  }
  return raw;
}

const MODEL_NAME_MAX = 256;

/** What is wrong with a body's `model` that is not a name: absent, or of another type. */
export function modelProblem(raw: unknown): string {
  if (raw === undefined || raw === null || typeof raw === "string")
    return "model is required: name the model to use.";
  const kind = Array.isArray(raw)
    ? "a list"
    : typeof raw === "object"
      ? "an object"
      : `a ${typeof raw}`;
  return `model must be a string, the model's name; this request's is ${kind}.`;
}

/** Header values are Latin-1 without controls; a model name outside printable ASCII is sent percent-encoded. */
function headerSafe(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name);
}

/** Whether the client asked for a stream; a flag of the wrong type is refused rather than read as "no". */
function wantsStream(ctx: RequestContext, json: Record<string, unknown>): boolean {
  if (ctx.match.route.dialect === "gemini") {
    // Gemini says how to frame a stream in ?alt=: sse, or json (the default, a JSON array).
    const alt = ctx.url.searchParams.get("alt");
    if (alt !== null && alt !== "sse" && alt !== "json")
      throw new GatewayError(
        400,
        `Invalid value for alt: "${alt.slice(0, 40)}". Use alt=sse or alt=json.`,
        { param: "alt" },
      );
    return ctx.match.route.stream;
  }
  if (json.stream !== undefined && json.stream !== null && typeof json.stream !== "boolean") {
    throw new GatewayError(
      400,
      `stream must be true or false, not ${JSON.stringify(json.stream).slice(0, 40)}.`,
      { param: "stream" },
    );
  }
  return json.stream === true;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A Responses request that continues a conversation levity stored must be rebuilt from the store, whatever the upstream. */
function continuesLevityResponse(ctx: RequestContext, services: GatewayServices): boolean {
  const previous = ctx.body?.json.previous_response_id;
  return (
    ctx.match.route.dialect === "openai-responses" &&
    typeof previous === "string" &&
    services.store.hasResponse(previous)
  );
}

/** Whether this upstream, answering "no such route" for this dialect's API, has another way to the answer. */
function fallsBackOnNoSuchRoute(upstream: Upstream, dialect: Dialect): boolean {
  const api = apiOfDialect(dialect);
  const family = upstream.openai;
  return family !== undefined && api !== undefined && api !== family.wireApi;
}

/**
 * An OpenAI-compatible upstream listed as serving Responses or Completions that answers "no such
 * route" gets this request, and the rest until the next reload, through its wire API instead;
 * the client never sees the 404. Logged once, with the line that makes it permanent.
 */
function noSuchRouteFallback(
  upstream: Upstream,
  dialect: Dialect,
  services: GatewayServices,
  translated: () => TargetRunner,
): ((lease: Lease) => Promise<AttemptResult>) | undefined {
  const api = apiOfDialect(dialect);
  const family = upstream.openai;
  if (!family || !api || api === family.wireApi) return undefined;
  return async (lease) => {
    if (!family.missing.has(api)) {
      family.missing.add(api);
      const served = family.apis.filter((a) => !family.missing.has(a));
      services.log.warn(
        `upstream "${upstream.name}" has no ${api} API (it answered "no such route"): ${api} requests go through ${family.wireApi} until the next reload. To make it permanent, set in gateway.yaml under this upstream: apis: [${served.join(", ")}]`,
      );
    }
    // Its failures reach the client as the translated runner renders them, not as this route's upstream body.
    const runner = translated();
    const result = await runner.attempt(lease);
    return result.kind === "failed" ? { ...result, respond: runner.failureResponse } : result;
  };
}

/** A count the upstream has no route for, made through the translated runner instead. */
function countElsewhere(translated: () => TargetRunner): (lease: Lease) => Promise<AttemptResult> {
  return async (lease) => {
    const runner = translated();
    const result = await runner.attempt(lease);
    return result.kind === "failed" ? { ...result, respond: runner.failureResponse } : result;
  };
}

/**
 * POST generate and count-tokens routes. Each mapping target becomes a runner: a client whose
 * dialect is the upstream's own is forwarded byte for byte (the fast and most faithful path);
 * every other pair goes through the IR. The pool then tries the targets' accounts in turn.
 */
export function generate(ctx: RequestContext, services: GatewayServices): Promise<Response> {
  // Not async: the usual request waits for nothing before the pool, and an async function here
  // cost its own promise and generator, and the turns of resolving it with serveWithPool's.
  try {
    const dialect = ctx.match.route.dialect;
    if (!dialect || !ctx.body)
      throw new Error(`route ${ctx.match.route.path} has no dialect or body`);
    const snapshot = ctx.snapshot;
    const model = requestedModel(ctx, dialect);
    const stream = wantsStream(ctx, ctx.body.json);
    ctx.trace.requested(model, stream);
    // A replay sent elsewhere names its target itself; every other request is mapped.
    const mapped =
      ctx.targets ?? resolveTargets(snapshot.mappings, model, snapshot.upstreams[0]!.name);
    const affinity = affinityOf(ctx, dialect, mapped);
    // Shared with other instances only: what they stored or bound, brought here before it is read.
    const recalled = services.shared && recallShared(ctx, services, affinity, mapped);
    if (recalled) return afterRecall(recalled, ctx, services, dialect, stream, mapped, affinity);
    return serveMapped(ctx, services, dialect, stream, mapped, affinity);
  } catch (error) {
    // A caller still sees a rejection, as of the async function this was.
    return Promise.reject(error);
  }
}

/*
 * The continuations after a wait are made in functions of their own, called only when there is
 * a wait: a closure in the function that usually does not wait still cost it a scope a request.
 */
function afterRecall(
  recalled: Promise<unknown>,
  ctx: RequestContext,
  services: GatewayServices,
  dialect: Dialect,
  stream: boolean,
  mapped: Target[],
  affinity: Affinity,
): Promise<Response> {
  return recalled.then(() => serveMapped(ctx, services, dialect, stream, mapped, affinity));
}

function afterCount(
  counted: Promise<Target[]>,
  ctx: RequestContext,
  services: GatewayServices,
  dialect: Dialect,
  stream: boolean,
  affinity: Affinity,
  translation: Translation,
): Promise<Response> {
  return counted.then((targets) =>
    serveRunners(ctx, services, dialect, stream, affinity, targets, translation),
  );
}

/** generate's mapped targets, those the request fits, each as a runner, tried against the pool. */
function serveMapped(
  ctx: RequestContext,
  services: GatewayServices,
  dialect: Dialect,
  stream: boolean,
  mapped: Target[],
  affinity: Affinity,
): Promise<Response> {
  const translation: Translation = { prepared: undefined };
  const fit =
    ctx.match.route.operation === "generate"
      ? targetsThatFit(ctx, dialect, mapped, services, stream, translation)
      : mapped;
  // Waited for only when the tokenizer ran.
  return Array.isArray(fit)
    ? serveRunners(ctx, services, dialect, stream, affinity, fit, translation)
    : afterCount(fit, ctx, services, dialect, stream, affinity, translation);
}

function serveRunners(
  ctx: RequestContext,
  services: GatewayServices,
  dialect: Dialect,
  stream: boolean,
  affinity: Affinity,
  targets: Target[],
  translation: Translation,
): Promise<Response> {
  const runners: TargetRunner[] = [];
  for (const target of targets)
    runners.push(runnerFor(ctx, dialect, target, services, stream, translation));
  const pool = poolContext(ctx, services, affinity);
  if (stream && ctx.match.route.operation === "generate") {
    const jsonArray = DIALECT_MODULES[dialect].streamFraming(ctx) === "json-array";
    pool.silence = {
      stream: silentStream(dialect, ctx.family, jsonArray),
      deadlines: services.deadlines,
    };
  }
  return serveWithPool(pool, runners);
}

/** The request in the IR, parsed once whatever the number of targets and accounts it is tried on. */
interface Translation {
  prepared: Prepared | undefined;
}

/**
 * One target's runner: forwarded byte for byte when the upstream speaks the client's dialect,
 * through the IR otherwise. Functions, not closures made for every target: the path every
 * request takes paid for each.
 */
function runnerFor(
  ctx: RequestContext,
  dialect: Dialect,
  target: Target,
  services: GatewayServices,
  stream: boolean,
  translation: Translation,
): TargetRunner {
  const upstream = ctx.snapshot.upstreamByName.get(target.upstream);
  if (!upstream) throw new Error(`mapping target names unknown upstream ${target.upstream}`);
  if (!forwardsNatively(upstream, dialect) || continuesLevityResponse(ctx, services))
    return translatedFor(ctx, dialect, target, upstream, services, stream, translation);
  const counting = ctx.match.route.operation === "count-tokens";
  // Made only where the upstream may turn out not to have the route: most requests need none.
  const translated =
    counting || fallsBackOnNoSuchRoute(upstream, dialect)
      ? translatedLater(ctx, dialect, target, upstream, services, stream, translation)
      : undefined;
  return new PassthroughRunner(
    ctx,
    dialect,
    target,
    upstream,
    stream,
    services,
    // A server without a count endpoint still has its other routes: the count is made the
    // translated way (the estimate, where the wire dialect counts nowhere), and nothing is marked missing.
    !translated
      ? undefined
      : counting
        ? countElsewhere(translated)
        : noSuchRouteFallback(upstream, dialect, services, translated),
  );
}

/** translatedFor when it is asked for: made in its own function, so runnerFor has no scope a request. */
function translatedLater(
  ctx: RequestContext,
  dialect: Dialect,
  target: Target,
  upstream: Upstream,
  services: GatewayServices,
  stream: boolean,
  translation: Translation,
): () => TargetRunner {
  return () => translatedFor(ctx, dialect, target, upstream, services, stream, translation);
}

function translatedFor(
  ctx: RequestContext,
  dialect: Dialect,
  target: Target,
  upstream: Upstream,
  services: GatewayServices,
  stream: boolean,
  translation: Translation,
): TargetRunner {
  translation.prepared ??= prepareTranslation(ctx, dialect, services.store, target.model, stream);
  return translatedRunner({ ctx, prepared: translation.prepared, target, upstream, services });
}

/** What ties the request to an account: its conversation, for sticky upstreams, and a stored response it continues. */
function affinityOf(ctx: RequestContext, dialect: Dialect, targets: Target[]): Affinity {
  const json = ctx.body!.json;
  // Only sticky upstreams use it, and it hashes the conversation's opening. A replay binds no
  // session: the client's conversation must not follow the operator's replay to its account.
  const session =
    ctx.replayOf === undefined && anySticky(ctx, targets)
      ? requestSessionKey(ctx, dialect)
      : undefined;
  const previousResponseId =
    typeof json.previous_response_id === "string" ? json.previous_response_id : undefined;
  // Most requests are tied to nothing: one shared object says so, not one a request.
  if (session === undefined && previousResponseId === undefined) return NO_AFFINITY;
  return { session, previousResponseId };
}

const NO_AFFINITY: Affinity = Object.freeze({ session: undefined, previousResponseId: undefined });

/** Whether a target's upstream keeps conversations on one account. A loop: `some` cost a closure a request. */
function anySticky(ctx: RequestContext, targets: Target[]): boolean {
  for (const t of targets)
    if (ctx.snapshot.upstreamByName.get(t.upstream)?.strategy === "sticky") return true;
  return false;
}

/**
 * With shared state: the bindings of this request's session and pinned response, the stored
 * conversation it continues and the tool calls it returns, read from Redis into this instance's
 * memory and store (concurrently, each one call), so the synchronous path after it finds them.
 * Undefined when the request has none of them: most requests, which then wait for nothing. The
 * test mirrors what SharedAffinity.recall and the shared store's recall look for (a session, a
 * previous response id, tool call ids): a new kind of recall there must be named here too.
 */
function recallShared(
  ctx: RequestContext,
  services: GatewayServices,
  affinity: Affinity,
  targets: Target[],
): Promise<unknown> | undefined {
  const callIds = toolCallIds(ctx.body!.text);
  if (
    affinity.session === undefined &&
    affinity.previousResponseId === undefined &&
    callIds.length === 0
  )
    return undefined;
  const upstreams = targets.flatMap((t) => {
    const upstream = ctx.snapshot.upstreamByName.get(t.upstream);
    return upstream ? [{ name: upstream.name, sticky: upstream.strategy === "sticky" }] : [];
  });
  const previous =
    ctx.match.route.dialect === "openai-responses" ? affinity.previousResponseId : undefined;
  return Promise.all([
    services.sharedAffinity?.recall(affinity, upstreams),
    services.store.recall?.(previous, callIds),
  ]);
}

/** The ids of the tool calls a request answers, in any dialect's spelling (bounded by the body's size). */
function toolCallIds(text: string): string[] {
  // Most requests return no tool call: one fast scan says so before the regex's slower one.
  if (!text.includes('_id"')) return [];
  const ids = new Set<string>();
  for (const match of text.matchAll(TOOL_CALL_ID)) ids.add(match[1]!);
  return [...ids];
}

const TOOL_CALL_ID = /"(?:call_id|tool_call_id|tool_use_id)"\s*:\s*"([^"\\]{1,256})"/g;

/**
 * The targets whose context window this request fits (pipeline/context-fit.ts). The tokenizer
 * runs only when the body (or a stored conversation it continues) could come near a window; the
 * request parsed for the count is kept for the translated runners. Not async: most requests
 * need no count, and get their targets back as they are, without a promise.
 */
function targetsThatFit(
  ctx: RequestContext,
  dialect: Dialect,
  targets: Target[],
  services: GatewayServices,
  stream: boolean,
  translation: Translation,
): Target[] | Promise<Target[]> {
  // A loop, not flatMap: a target without a known window cost an empty list and a closure.
  let windows: ModelLimits[] | undefined;
  for (const target of targets) {
    const limits = windowOf(target, limitsOf(ctx.snapshot.mappings, target), ctx.request.headers);
    if (!limits) continue;
    windows ??= [];
    windows.push(limits);
  }
  if (windows === undefined) return targets;
  if (!continuesLevityResponse(ctx, services) && !mayExceed(ctx.body!.text.length, windows))
    return targets;
  let request: ChatRequest;
  try {
    request = countable(ctx, dialect, targets, services, stream, translation);
  } catch {
    // What a translation would refuse is refused where it is translated; a forwarded request is
    // the upstream's to judge. Either way there is nothing to count here.
    return targets;
  }
  const counted = asTheWindowCounts(request);
  if (!worthCounting(roughRequestTokens(counted), windows)) return targets;
  return fitCounted(services.tokens.countRequest(counted), ctx, targets);
}

/** In a function of its own: the closure in targetsThatFit made it a scope every request, counted or not. */
function fitCounted(
  counting: Promise<number>,
  ctx: RequestContext,
  targets: Target[],
): Promise<Target[]> {
  return counting.then((tokens) =>
    fittingTargets(targets, tokens, ctx.request.headers, ctx.family),
  );
}

/**
 * The request in the IR, to count: prepared for translation (and kept for it) when a target
 * translates it or it continues a stored conversation; else only parsed, because a forwarded
 * request needs neither the stored tool calls nor the request caps.
 */
function countable(
  ctx: RequestContext,
  dialect: Dialect,
  targets: Target[],
  services: GatewayServices,
  stream: boolean,
  translation: Translation,
): ChatRequest {
  const model = targets[0]!.model;
  const forwardedOnly = targets.every((target) => {
    const upstream = ctx.snapshot.upstreamByName.get(target.upstream);
    return upstream !== undefined && forwardsNatively(upstream, dialect);
  });
  if (forwardedOnly && !continuesLevityResponse(ctx, services))
    return CLIENT_CODECS[dialect].parseRequest(ctx.body!.json, model, stream);
  const prepared = prepareTranslation(ctx, dialect, services.store, model, stream);
  translation.prepared = prepared;
  return prepared.request;
}

/** How one request is tried against the pool, for every operation that goes to upstreams. */
export function poolContext(
  ctx: RequestContext,
  services: GatewayServices,
  affinity: Affinity,
): ServeContext {
  return {
    pool: services.pool,
    log: services.log,
    family: ctx.family,
    requestId: ctx.requestId,
    affinity,
    cooldownWaitMs: ctx.snapshot.proxy.cooldownWaitMs,
    signal: ctx.request.signal,
    trace: ctx.trace,
    routing: routingHeaders,
  };
}

/** Where the answer came from: the upstream model actually used, the upstream, the account (by name, never key). */
function routingHeaders(runner: TargetRunner, account: string, headers: Headers): void {
  headers.set("x-mapped-model", headerSafe(runner.model));
  headers.set("x-upstream", runner.upstream.name);
  headers.set("x-account", account);
}
