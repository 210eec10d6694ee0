import { errorResponse } from "../codecs/errors.ts";
import {
  type EmbedAnswer,
  type EmbedInput,
  type EmbedRequest,
  inputText,
  type Vector,
} from "../codecs/embedding.ts";
import {
  GEMINI_EMBED_BATCH,
  geminiEmbedBody,
  geminiEmbedPath,
  parseGeminiEmbedAnswer,
} from "../codecs/gemini/embeddings.ts";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import type { JsonObject } from "../codecs/json.ts";
import {
  OPENAI_EMBED_BATCH,
  OPENAI_EMBED_TOKENS,
  openaiEmbedBody,
  parseOpenAIEmbedAnswer,
} from "../codecs/openai-compatible/embeddings.ts";
import type { Upstream } from "../config/snapshot.ts";
import { type Failure, failureOf, GatewayError, UpstreamFailed } from "../failure.ts";
import type { Target } from "../mapping/table.ts";
import type { Lease } from "../pool/lease.ts";
import type { TokenEstimates } from "../tokens/estimate.ts";
import { failIfAsked } from "../upstream/echo.ts";
import { echoVector } from "../upstream/echo-embeddings.ts";
import type { UpstreamClient } from "../upstream/forward.ts";
import { upstreamRequestHeaders } from "../upstream/protocol.ts";
import { meansNoSuchRoute } from "../codecs/openai-compatible/index.ts";
import { failureFromAnswer } from "./answer-failure.ts";
import type { AttemptContext } from "./attempt-context.ts";
import { sameDialectFailure } from "./passthrough.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";

/*
 * One embeddings request against one mapping target. An OpenAI-compatible upstream gets its
 * /embeddings, a Gemini one batchEmbedContents, echo makes vectors itself; an Anthropic upstream
 * has no embeddings and is passed by. A request larger than the upstream takes in one call (in
 * inputs, or for OpenAI in tokens) is sent as several, EMBED_CONCURRENCY at a time, and their vectors joined in input order; one
 * failed call fails the attempt, and the pool then retries the whole request elsewhere.
 */

/** Calls in flight at once for one request split into several. */
export const EMBED_CONCURRENCY = 4;

/** The header that marks usage levity counted itself (the upstream reported none). */
export const TOKEN_COUNT_HEADER = "x-levity-token-count";

export interface EmbedRunnerOptions {
  ctx: AttemptContext;
  request: EmbedRequest;
  target: Target;
  upstream: Upstream;
  upstreamClient: UpstreamClient;
  tokens: TokenEstimates;
  /** The answer in the client's own shape. */
  render(answer: EmbedAnswer, model: string): JsonObject;
}

/** Why this target cannot embed this request, before any account is used. */
function refusalOf(upstream: Upstream, request: EmbedRequest): GatewayError | undefined {
  const name = `upstream "${upstream.name}" (${upstream.protocol})`;
  if (upstream.protocol === "anthropic")
    return new GatewayError(
      400,
      `${name} has no embeddings API; map this model to an OpenAI-compatible, Gemini or echo upstream.`,
      { param: "model" },
    );
  if (upstream.protocol === "gemini" && request.inputs.some((input) => input.tokens))
    return new GatewayError(
      400,
      `${name} embeds text, not token ids: send the input as text (token ids go only to an OpenAI-compatible upstream).`,
      { param: "input" },
    );
  if (upstream.protocol === "openai") {
    if (request.inputs.some((input) => input.text === undefined && !input.tokens))
      return new GatewayError(
        400,
        `${name} embeds text only: a part other than text (an image, a file) can go only to a Gemini upstream.`,
        { param: "content" },
      );
    const sizes = new Set(request.inputs.map((input) => input.dimensions));
    if (sizes.size > 1)
      return new GatewayError(
        400,
        `${name} takes one output size per request; these requests ask for several outputDimensionality values.`,
        { param: "outputDimensionality" },
      );
  }
  return undefined;
}

/**
 * The inputs in calls of at most `size`, and, where the upstream caps a call's tokens, of at most
 * `tokens` by levity's estimate. An input over the cap by itself goes alone: the upstream judges it.
 */
export function batchesOf(
  inputs: readonly EmbedInput[],
  size: number,
  tokens: number,
  weigh: (input: EmbedInput) => number,
): EmbedInput[][] {
  const out: EmbedInput[][] = [];
  let batch: EmbedInput[] = [];
  let weight = 0;
  for (const input of inputs) {
    const w = weigh(input);
    if (batch.length > 0 && (batch.length === size || weight + w > tokens)) {
      out.push(batch);
      batch = [];
      weight = 0;
    }
    batch.push(input);
    weight += w;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/**
 * Runs `call` on each batch, a few at a time, keeping the results in batch order. The first
 * failure ends it: the calls still in flight are aborted and their outcome ignored.
 */
async function eachBatch<T>(
  batches: readonly EmbedInput[][],
  clientSignal: AbortSignal,
  call: (batch: EmbedInput[], signal: AbortSignal) => Promise<T | Failure>,
  isFailure: (result: T | Failure) => result is Failure,
): Promise<T[] | Failure> {
  const stop = new AbortController();
  const clientLeft = () => stop.abort();
  clientSignal.addEventListener("abort", clientLeft, { once: true });
  const results = new Array<T>(batches.length);
  let failure: Failure | undefined;
  let thrown: unknown;
  let next = 0;
  const worker = async () => {
    while (next < batches.length && failure === undefined && thrown === undefined) {
      const index = next++;
      try {
        const result = await call(batches[index]!, stop.signal);
        if (isFailure(result)) failure ??= result;
        else results[index] = result;
      } catch (error) {
        if (failure === undefined) thrown ??= error;
      }
      if (failure !== undefined || thrown !== undefined) stop.abort();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(EMBED_CONCURRENCY, batches.length) }, worker));
  } finally {
    clientSignal.removeEventListener("abort", clientLeft);
  }
  if (failure) return failure;
  if (thrown !== undefined) throw thrown;
  return results;
}

/** An input's tokens: its ids counted, its text estimated. */
function tokensOf(input: EmbedInput, tokens: TokenEstimates): number {
  return input.tokens?.length ?? tokens.estimate(inputText(input));
}

function isFailure(result: unknown): result is Failure {
  return typeof result === "object" && result !== null && "kind" in result && "status" in result;
}

export function embedRunner(options: EmbedRunnerOptions): TargetRunner {
  const { ctx, request, target, upstream } = options;
  const refusal = refusalOf(upstream, request);
  const failureResponse = (failure: Failure, headers: Headers): Response => {
    // A client of the upstream's own family reads its error body as the upstream wrote it.
    if (upstream.protocol === ctx.family && failure.upstream)
      return sameDialectFailure(ctx, failure, headers);
    return errorResponse(
      ctx.family,
      failure.status,
      failure.message,
      { headers: Object.fromEntries(headers) },
      ctx.requestId,
    );
  };
  return {
    upstream,
    model: target.model,
    failureResponse,
    ...(refusal ? { refusal } : {}),
    attempt: (lease) => attempt(options, lease),
  };
}

async function attempt(options: EmbedRunnerOptions, lease: Lease): Promise<AttemptResult> {
  const { request, target, upstream, tokens } = options;
  let vectors: Vector[];
  let reported: number | undefined;
  if (upstream.protocol === "echo") {
    try {
      failIfAsked({ model: target.model });
    } catch (error) {
      if (error instanceof UpstreamFailed) return { kind: "failed", failure: error.failure };
      throw error;
    }
    vectors = request.inputs.map(echoVector);
  } else {
    const called = await callUpstream(options, lease);
    if (isFailure(called)) return { kind: "failed", failure: called };
    ({ vectors, tokens: reported } = called);
  }
  const estimated = reported === undefined;
  const counted = reported ?? request.inputs.reduce((sum, i) => sum + tokensOf(i, tokens), 0);
  lease.finish({ ok: true, usage: { input: counted, output: 0 } });
  const answer: EmbedAnswer = { vectors, tokens: counted, estimated };
  const headers = new Headers({ "content-type": "application/json" });
  if (estimated) headers.set(TOKEN_COUNT_HEADER, "estimate");
  return {
    kind: "committed",
    response: new Response(JSON.stringify(options.render(answer, target.model)), { headers }),
  };
}

/** The upstream's vectors for every input, in order, over as many calls as its limit needs. */
async function callUpstream(
  options: EmbedRunnerOptions,
  lease: Lease,
): Promise<{ vectors: Vector[]; tokens?: number } | Failure> {
  const { ctx, request, target, upstream, upstreamClient } = options;
  const gemini = upstream.protocol === "gemini";
  const url =
    upstream.baseUrl +
    (gemini ? geminiEmbedPath(target.model, upstream.apiVersion) : "/embeddings");
  const codec = UPSTREAM_CODECS[gemini ? "gemini" : "openai-chat"];
  const batches = gemini
    ? batchesOf(request.inputs, GEMINI_EMBED_BATCH, Number.POSITIVE_INFINITY, () => 0)
    : batchesOf(request.inputs, OPENAI_EMBED_BATCH, OPENAI_EMBED_TOKENS, (input) =>
        tokensOf(input, options.tokens),
      );
  const results = await eachBatch(
    batches,
    ctx.request.signal,
    async (batch, signal) => {
      const body = gemini
        ? geminiEmbedBody(target.model, batch)
        : openaiEmbedBody(target.model, batch, request);
      let response: Response;
      try {
        ({ response } = await upstreamClient.open({
          upstream,
          url,
          body: JSON.stringify(body),
          headers: upstreamRequestHeaders(
            upstream.protocol,
            lease.account.key,
            ctx.request.headers,
            false,
          ),
          clientSignal: signal,
          timeouts: upstream.timeouts,
        }));
      } catch (error) {
        // Aborted because the client left: the client's 499, thrown on; otherwise the upstream's failure.
        if (ctx.request.signal.aborted)
          throw new GatewayError(499, "The client closed the request.");
        return failureOf(error, upstream.name);
      }
      const text = await response.text();
      // An OpenAI-compatible server without the route (DeepSeek has no embeddings): said in words,
      // not passed on as a bare 404 that reads like a wrong Base URL.
      if (!gemini && meansNoSuchRoute(response.status, text))
        return {
          kind: "final" as const,
          status: 404,
          message: `upstream "${upstream.name}" has no embeddings endpoint (POST ${url} answered ${response.status}). Map embedding models to an upstream that serves them.`,
        };
      if (!response.ok) return failureFromAnswer(codec, response.status, response.headers, text);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const read = gemini
        ? parseGeminiEmbedAnswer(json, batch.length)
        : parseOpenAIEmbedAnswer(json, batch.length);
      return (
        read ?? {
          kind: "broken" as const,
          status: 502,
          message: `upstream "${upstream.name}" answered 200 without ${batch.length} embeddings: ${text.slice(0, 120)}`,
        }
      );
    },
    isFailure,
  );
  if (isFailure(results)) return results;
  const reported = results.every((r) => r.tokens !== undefined)
    ? results.reduce((sum, r) => sum + (r.tokens ?? 0), 0)
    : undefined;
  return { vectors: results.flatMap((r) => r.vectors), tokens: reported };
}
