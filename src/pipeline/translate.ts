import { FAMILIES } from "../codecs/families.ts";
import { CLIENT_CODECS, DIALECT_MODULES, UPSTREAM_CODECS } from "../codecs/index.ts";
import { parseResponsesSettings } from "../codecs/openai-responses/settings.ts";
import { jsonResponse } from "../codecs/shared.ts";
import type { ClientCodec, ClientContext } from "../codecs/codec.ts";
import type { Dialect } from "../codecs/names.ts";
import type { Upstream } from "../config/snapshot.ts";
import { errorResponse } from "../codecs/errors.ts";
import { checkRawRequest, checkRequest } from "./request-limits.ts";
import type { ChatRequest, ChatResponse, StreamEvent, Turn } from "../ir.ts";
import type { Target } from "../mapping/table.ts";
import type { AttemptContext } from "./attempt-context.ts";
import { emptyAnswer, type Failure, failureOf, GatewayError } from "../failure.ts";
import { isEmptyAnswer } from "./first-content.ts";
import { TranslatedStream, untilCommit } from "./translated-stream.ts";
import { clientBody } from "./client-body.ts";
import type { EventBatches } from "./event-batches.ts";
import type { StreamRenderer, Write } from "../codecs/stream-render.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";
import { bothWritten, type SharedWrite, type StateStore } from "../state/store.ts";
import { mediaFetcher } from "../upstream/media-fetch.ts";
import { targetWindow, tooLongError } from "./context-fit.ts";
import {
  echoProducer,
  httpProducer,
  type Producer,
  type ProducerServices,
  targetOf,
} from "./producer.ts";
import { rememberToolCalls, restoreToolCalls } from "./tool-state.ts";
import { derivedCacheKey, requestSessionKey } from "./session-key.ts";
import { historyFor, planServerTools, type ServerToolPlan } from "./server-tools.ts";
import type { SignatureRegistry } from "../state/signature-registry.ts";
import {
  attemptIssuer,
  carriesReasoning,
  nameIssuers,
  retryWithoutReasoning,
  tellOf,
  withoutReasoning,
} from "./signatures.ts";
import type { Lease } from "../pool/lease.ts";
import { upstreamDialect } from "../upstream/protocol.ts";
import type { Logger } from "../log.ts";

const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};

/** The client's request in the IR, parsed once for every target and account it may be tried on. */
export interface Prepared {
  client: ClientCodec;
  request: ChatRequest;
  /**
   * How many of the request's turns came from a stored conversation: those after them are what it
   * adds. Its count, not the list: only a stored response needs the list, and it was one a request.
   */
  historyLength: number;
  render: ClientContext;
}

function clientContext(ctx: AttemptContext, request: ChatRequest, dialect: Dialect): ClientContext {
  const json = ctx.body!.json;
  const streamOptions = json.stream_options;
  return {
    request,
    includeUsage:
      typeof streamOptions === "object" &&
      streamOptions !== null &&
      (streamOptions as Record<string, unknown>).include_usage === true,
    framing: DIALECT_MODULES[dialect].streamFraming(ctx),
    // Mints the response's id once per request: every attempt and every event reports it, and the store keeps it.
    responses: dialect === "openai-responses" ? parseResponsesSettings(json) : undefined,
  };
}

/** previous_response_id: the stored conversation goes before this request's input. */
function withHistory(
  ctx: AttemptContext,
  dialect: Dialect,
  store: StateStore,
  request: ChatRequest,
): number {
  const previous = ctx.body!.json.previous_response_id;
  if (dialect !== "openai-responses" || typeof previous !== "string") return 0;
  const history = store.conversation(previous);
  if (!history) {
    throw new GatewayError(
      404,
      `Previous response with id '${previous}' not found. levity keeps the responses it produced (unless store was false); a response an OpenAI upstream produced directly lives at that upstream.`,
      { param: "previous_response_id", code: "previous_response_not_found" },
    );
  }
  request.turns = [...history, ...request.turns];
  return history.length;
}

export function prepareTranslation(
  ctx: AttemptContext,
  dialect: Dialect,
  store: StateStore,
  model: string,
  stream: boolean,
): Prepared {
  const client = CLIENT_CODECS[dialect];
  // Counts are capped before the body becomes the IR, and again exactly once it has (history included).
  const limits = ctx.snapshot.proxy.requestLimits;
  checkRawRequest(DIALECT_MODULES[dialect].requestLists, ctx.body!.json, limits);
  const request = client.parseRequest(ctx.body!.json, model, stream);
  const historyLength = withHistory(ctx, dialect, store, request);
  checkRequest(request, limits);
  restoreToolCalls(store, request);
  // Hashed only where some upstream is sent one: it costs two SHA-256s a request.
  if (anyCacheKey(ctx.snapshot.upstreams))
    request.cacheKey ??= derivedCacheKey(requestSessionKey(ctx, dialect));
  return { client, request, historyLength, render: clientContext(ctx, request, dialect) };
}

/** Whether some upstream is sent a prompt_cache_key (a loop: a closure for some() was one a request). */
function anyCacheKey(upstreams: AttemptContext["snapshot"]["upstreams"]): boolean {
  for (const upstream of upstreams) if (upstream.promptCache?.cacheKey) return true;
  return false;
}

/** What a translated runner needs: the request, its IR once parsed, where to send it, and the store. */
export interface TranslatedRunnerOptions {
  ctx: AttemptContext;
  prepared: Prepared;
  target: Target;
  upstream: Upstream;
  /** The store for conversations and tool calls, who issued the signatures seen, and what the producers call upstreams with. */
  services: ProducerServices & { store: StateStore; signatures: SignatureRegistry; log: Logger };
}

/** Any client dialect to any upstream: client request -> IR -> upstream, and the answer back the same way. */
export function translatedRunner(options: TranslatedRunnerOptions): TargetRunner {
  const { ctx, prepared, target, upstream, services } = options;
  // Values a same-dialect answer gave the client carry no issuer; the ones levity saw get theirs.
  nameIssuers(prepared.request.turns, services.signatures);
  // The server tools this target is given, decided before any account is used: a refusal makes
  // the pool pass this target by (generate.ts), so a fallback that runs the tool serves instead.
  // A copy only for a target of another model: the request was parsed for the first target's,
  // and a copy of its many fields was an object (and its storage) every request.
  const parsed = prepared.request;
  const request = parsed.model === target.model ? parsed : { ...parsed, model: target.model };
  // Without server or hosted tools (most requests) there is nothing to plan: no plan object.
  if (!request.serverTools?.length && !request.unsupportedTools?.length)
    return new TranslatedRunner(options, request, undefined);
  let plan: ServerToolPlan;
  try {
    plan = planServerTools(request, upstream, ctx.snapshot.proxy.serverTools);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    return refusedRunner(ctx, target, upstream, error);
  }
  return new TranslatedRunner(options, plan.request, plan.warning);
}

/**
 * A target that refuses the request. Its closures made here, not in translatedRunner: variables
 * they take would cost every call of it a scope, refused or not.
 */
function refusedRunner(
  ctx: AttemptContext,
  target: Target,
  upstream: Upstream,
  error: GatewayError,
): TargetRunner {
  return {
    upstream,
    model: target.model,
    refusal: error,
    attempt: () => Promise.reject(error),
    failureResponse: () =>
      errorResponse(ctx.family, error.status, error.message, undefined, ctx.requestId),
  };
}

/** Whether any turn holds media, a tool result's included: what a codec that fetches media may fetch. */
function carriesMedia(turns: Turn[]): boolean {
  for (const turn of turns)
    for (const part of turn.parts) {
      if (part.type === "media") return true;
      if (part.type === "tool_result")
        for (const content of part.content) if (content.type === "media") return true;
    }
  return false;
}

/** An attempt's failure as the pool takes it. */
function failed(failure: Failure): AttemptResult {
  return { kind: "failed", failure };
}

/**
 * A translated target's runner. A class: its methods are made once, where an object of closures
 * made a function for each of them, and a scope, for every request.
 */
class TranslatedRunner implements TargetRunner {
  readonly upstream: Upstream;
  readonly model: string;
  readonly warning: string | undefined;
  /** The request as this target is sent it (its model, its server tools). */
  private readonly request: ChatRequest;
  /** retryWithoutReasoning over run, made only for a history with reasoning it could leave out. */
  private readonly retry: ((lease: Lease) => Promise<AttemptResult>) | undefined;

  /** `request` and `warning` as planServerTools gave them (the request as it came, without server tools). */
  constructor(
    private readonly options: TranslatedRunnerOptions,
    request: ChatRequest,
    warning: string | undefined,
  ) {
    const upstream = options.upstream;
    this.upstream = upstream;
    this.model = options.target.model;
    this.warning = warning;
    this.request = request;
    // Without reasoning in the history a second attempt would send the same request, and the
    // wrapper (with the log's words for it) cost every request an async call.
    this.retry = carriesReasoning(request.turns) ? TranslatedRunner.retrying(this) : undefined;
  }

  /** Its closure made here, not in the constructor: one taking `this` cost every runner a scope. */
  private static retrying(runner: TranslatedRunner): (lease: Lease) => Promise<AttemptResult> {
    const { ctx, upstream, services } = runner.options;
    return retryWithoutReasoning(tellOf(ctx, upstream, services.log), (lease, noReasoning) =>
      runner.run(lease, noReasoning),
    );
  }

  attempt(lease: Lease): Promise<AttemptResult> {
    return this.retry ? this.retry(lease) : this.run(lease, false);
  }

  /** Made when asked (a failure's answer only), bound: serve.ts calls it apart from the runner. */
  get failureResponse(): (failure: Failure, headers: Headers) => Response {
    return (failure, headers) => this.failureAnswer(failure, headers);
  }

  private failureAnswer(failure: Failure, headers: Headers): Response {
    const { ctx, target } = this.options;
    // A request the client must fix keeps the wait its upstream asked for, in the client's own shape.
    if (failure.kind === "final") {
      const retryAfter =
        failure.upstream?.headers.get("retry-after") ??
        (failure.hintMs === undefined ? undefined : String(Math.ceil(failure.hintMs / 1000)));
      if (retryAfter) headers.set("retry-after", retryAfter);
    }
    if (failure.tooLong) {
      // The upstream's "too long", in the words that make the client compact, with its numbers
      // (the window from levity's table where the upstream did not name it).
      const limit =
        failure.tooLong.limit ?? targetWindow(target, ctx.request.headers)?.contextWindow;
      const refusal = tooLongError(ctx.family, failure.tooLong.tokens, limit, "upstream");
      return errorResponse(
        ctx.family,
        refusal.status,
        refusal.message,
        {
          ...refusal.details,
          headers: { ...refusal.details.headers, ...Object.fromEntries(headers) },
        },
        ctx.requestId,
      );
    }
    return errorResponse(
      ctx.family,
      FAMILIES[ctx.family].clientStatus(failure.status),
      failure.message,
      { headers: Object.fromEntries(headers) },
      ctx.requestId,
    );
  }

  /** The renderer of a stream of this runner's, in the client's dialect (TranslatedStream's owner). */
  renderer(write: Write): StreamRenderer {
    const { client, render } = this.options.prepared;
    return client.streamRenderer(render, write);
  }

  /**
   * Keeps what an answer leaves for later requests (TranslatedStream's owner, too); where the
   * store is shared, its writes, which the client's answer waits for.
   */
  remember(response: ChatResponse): SharedWrite {
    const { store } = this.options.services;
    const { render, request, historyLength } = this.options.prepared;
    const written = rememberToolCalls(store, response);
    // Under the id the client is shown, never the upstream's: an upstream that reuses ids must not merge two conversations.
    if (!render.responses?.store) return written;
    return bothWritten(
      written,
      store.saveResponse({
        id: render.responses.id,
        previousId: render.responses.previousResponseId ?? undefined,
        model: response.model,
        input: request.turns.slice(historyLength),
        output: response.parts,
      }),
    );
  }

  /** The client's stream, its owner this runner: closures for its two methods were three objects a stream. */
  private streamBody(
    batches: EventBatches,
    held: StreamEvent[],
    lease: Lease,
  ): ReadableStream<Uint8Array> {
    return clientBody(new TranslatedStream(batches, held, this.options.upstream, lease, this));
  }

  private async run(lease: Lease, noReasoning: boolean): Promise<AttemptResult> {
    const { ctx, prepared, target, upstream, services } = this.options;
    const { client, render } = prepared;
    const plan = this.request;
    const issuer = attemptIssuer(upstream, lease.account, target.model);
    // One target for the history and the producer: a second was an object for every attempt.
    const upstreamTarget = targetOf(upstream, issuer);
    const turns = historyFor(plan.turns, upstream, upstreamTarget);
    // A copy only where the turns differ (most requests: none): the IR request has many fields.
    const request =
      !noReasoning && turns === plan.turns
        ? plan
        : { ...plan, turns: noReasoning ? withoutReasoning(turns) : turns };
    // The media fetcher only for a codec that fetches media, and a request with media for it to
    // fetch: for any other it was a closure, its scope and an object an attempt, made for nothing.
    if (UPSTREAM_CODECS[upstreamDialect(upstream)].fetchesMedia && carriesMedia(request.turns))
      upstreamTarget.fetchMedia = mediaFetcher(ctx.snapshot.proxy.mediaFetch);
    const producer: Producer =
      upstream.protocol === "echo"
        ? echoProducer(upstream, services)
        : httpProducer(
            upstream,
            lease.account,
            upstreamTarget,
            ctx.request.headers,
            ctx.request.signal,
            services,
          );
    try {
      if (ctx.match.route.operation === "count-tokens") {
        const counted = await producer.count(request);
        if (!counted.ok) return failed(counted.failure);
        const { tokens, estimated } = counted.value;
        lease.finish({ ok: true });
        const headers = new Headers(estimated ? { "x-levity-token-count": "estimate" } : {});
        return {
          kind: "committed",
          response: jsonResponse(client.renderCount(tokens), { headers }),
        };
      }
      if (!prepared.request.stream) {
        const completed = await producer.complete(request);
        if (!completed.ok) return failed(completed.failure);
        const response = completed.value;
        if (isEmptyAnswer(response)) return failed(emptyAnswer(upstream.name));
        const written = this.remember(response);
        lease.finish({ ok: true, usage: response.usage });
        if (written) await written;
        return {
          kind: "committed",
          response: jsonResponse(client.renderResponse(response, render)),
        };
      }
      const opened = await producer.stream(request);
      if (!opened.ok) return failed(opened.failure);
      const batches = opened.value;
      const committed = await untilCommit(batches, upstream.name);
      if (committed.kind === "failed") return failed(committed.failure);
      const framing =
        render.framing === "json-array" ? { "content-type": "application/json" } : SSE_HEADERS;
      return {
        kind: "committed",
        response: new Response(this.streamBody(batches, committed.held, lease), {
          headers: framing,
        }),
      };
    } catch (error) {
      // Building the upstream request can still throw: a refusal of the client's request
      // (GatewayError) goes on up; anything else is this attempt's failure.
      return failed(failureOf(error, upstream.name));
    }
  }
}
