import { errorResponse } from "../codecs/errors.ts";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import {
  encodeMultipart,
  type MultipartBody,
  piecesStream,
  textPart,
} from "../codecs/multipart.ts";
import {
  TRANSCRIPTION_PATH,
  type TranscriptionRequest,
  transcriptionUsage,
} from "../codecs/openai-compatible/transcription.ts";
import type { Upstream } from "../config/snapshot.ts";
import { type Failure, failureOf, GatewayError } from "../failure.ts";
import type { Target } from "../mapping/table.ts";
import type { Lease } from "../pool/lease.ts";
import type { GuardedSource, UpstreamClient } from "../upstream/forward.ts";
import { clientResponseHeaders, upstreamRequestHeaders } from "../upstream/protocol.ts";
import { failureFromAnswer } from "./answer-failure.ts";
import type { AttemptContext } from "./attempt-context.ts";
import { sameDialectFailure } from "./passthrough.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";
import { geminiTranscription } from "./transcribe-gemini.ts";

/*
 * Speech to text against the pool, one runner per mapping target: an OpenAI upstream gets the
 * client's form as it came, with only the model rewritten; a Gemini upstream gets the audio
 * in a generateContent request (inline, or through its Files API when large); any other cannot
 * hear audio and is passed by.
 */

export interface TranscriptionRunnerOptions {
  ctx: AttemptContext;
  /** The client's form, as read. */
  form: MultipartBody;
  request: TranscriptionRequest;
  target: Target;
  upstream: Upstream;
  upstreamClient: UpstreamClient;
}

export function transcriptionRunner(options: TranscriptionRunnerOptions): TargetRunner {
  const { upstream } = options;
  try {
    if (upstream.protocol === "openai") return forwardedTranscription(options);
    if (upstream.protocol === "gemini") return geminiTranscription(options);
    throw new GatewayError(
      400,
      `upstream "${upstream.name}" (${upstream.protocol}) cannot transcribe audio: map the model to an OpenAI or Gemini upstream.`,
      { param: "model", code: "unsupported_upstream" },
    );
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    return passedBy(options, error);
  }
}

/** A target that cannot serve this request: the pool passes it by, and the first says why when none can. */
function passedBy({ ctx, target, upstream }: TranscriptionRunnerOptions, error: GatewayError) {
  return {
    upstream,
    model: target.model,
    refusal: error,
    attempt: () => Promise.reject(error),
    failureResponse: () =>
      errorResponse(ctx.family, error.status, error.message, error.details, ctx.requestId),
  } satisfies TargetRunner;
}

const failed = (failure: Failure): AttemptResult => ({ kind: "failed", failure });

/**
 * The form again with the target's model in place of the client's: every other part goes as it
 * came, its bytes the very chunks the client's body arrived in, streamed out with their length.
 */
function forwardedTranscription({
  ctx,
  form,
  request,
  target,
  upstream,
  upstreamClient,
}: TranscriptionRunnerOptions): TargetRunner {
  const parts = form.parts.map((part) =>
    part.name === "model" && part.filename === undefined ? textPart("model", target.model) : part,
  );
  const encoded = encodeMultipart(parts);
  const url = upstream.baseUrl + TRANSCRIPTION_PATH;
  return {
    upstream,
    model: target.model,
    failureResponse: (failure, headers) => sameDialectFailure(ctx, failure, headers),
    async attempt(lease) {
      const headers = upstreamRequestHeaders(
        "openai",
        lease.account.key,
        ctx.request.headers,
        true,
      );
      headers["content-type"] = encoded.contentType;
      headers["content-length"] = String(encoded.length);
      let answer: string;
      let response: Response;
      let source: GuardedSource | undefined;
      try {
        ({ response, source } = await upstreamClient.open({
          upstream,
          url,
          body: piecesStream(encoded.pieces),
          headers,
          clientSignal: ctx.request.signal,
          timeouts: upstream.timeouts,
          stream: request.stream,
        }));
        if (source)
          return {
            kind: "committed",
            response: new Response(passedOn(source, lease, upstream.name), {
              status: response.status,
              headers: clientResponseHeaders(response.headers),
            }),
          };
        answer = await response.text();
      } catch (error) {
        return failed(failureOf(error, upstream.name));
      }
      if (!response.ok)
        return failed(
          failureFromAnswer(
            UPSTREAM_CODECS["openai-chat"],
            response.status,
            response.headers,
            answer,
          ),
        );
      const contentType = response.headers.get("content-type") ?? "";
      lease.finish({ ok: true, usage: transcriptionUsage(answer, contentType) });
      return {
        kind: "committed",
        response: new Response(answer, {
          status: response.status,
          headers: clientResponseHeaders(response.headers),
        }),
      };
    },
  };
}

/**
 * A streamed transcription (`stream: true`, gpt-4o-transcribe's SSE events) passed on as the
 * upstream sends it; the lease finishes when it ends, fails, or the client leaves.
 */
function passedOn(
  source: GuardedSource,
  lease: Lease,
  upstream: string,
): ReadableStream<Uint8Array> {
  let finished = false;
  const finish = (outcome: Parameters<Lease["finish"]>[0]) => {
    if (finished) return;
    finished = true;
    lease.finish(outcome);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await source.read();
          if (!done) return controller.enqueue(value);
          finish({ ok: true });
          controller.close();
        } catch (error) {
          finish(
            error instanceof GatewayError
              ? { neutral: true }
              : { ok: false, failure: failureOf(error, upstream) },
          );
          controller.error(error);
        }
      },
      cancel() {
        finish({ neutral: true });
        return source.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}
