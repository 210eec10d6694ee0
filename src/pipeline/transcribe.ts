import { errorResponse } from "../codecs/errors.ts";
import {
  GEMINI_AUDIO_TYPE_NAMES,
  GEMINI_INLINE_REQUEST_MAX,
  geminiAudioType,
  geminiTranscriptionBody,
  geminiTranscriptionSize,
  readGeminiTranscript,
} from "../codecs/gemini/transcription.ts";
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
  transcriptionAnswer,
  transcriptionUsage,
} from "../codecs/openai-compatible/transcription.ts";
import type { Upstream } from "../config/snapshot.ts";
import { emptyAnswer, type Failure, failureOf, GatewayError } from "../failure.ts";
import type { Target } from "../mapping/table.ts";
import type { UpstreamClient } from "../upstream/forward.ts";
import {
  clientResponseHeaders,
  upstreamEndpoint,
  upstreamRequestHeaders,
} from "../upstream/protocol.ts";
import { failureFromAnswer } from "./answer-failure.ts";
import type { AttemptContext } from "./attempt-context.ts";
import { sameDialectFailure } from "./passthrough.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";

/*
 * Speech to text against the pool, one runner per mapping target: an OpenAI upstream gets the
 * client's form as it came, with only the model rewritten; a Gemini upstream gets the audio
 * inline in a generateContent request; any other cannot hear audio and is passed by.
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
      headers.set("content-type", encoded.contentType);
      headers.set("content-length", String(encoded.length));
      let answer: string;
      let response: Response;
      try {
        ({ response } = await upstreamClient.open({
          upstream,
          url,
          body: piecesStream(encoded.pieces),
          headers,
          clientSignal: ctx.request.signal,
          timeouts: upstream.timeouts,
        }));
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
 * The audio inline in a generateContent request, and the transcript as json or text. Gemini
 * writes no timing of its own, so srt, vtt and verbose_json (which need segment times) are
 * refused for this target rather than made up; so are a stream, audio of a type Gemini does not
 * take, and a request over its 20 MB inline limit.
 */
function geminiTranscription({
  ctx,
  request,
  target,
  upstream,
  upstreamClient,
}: TranscriptionRunnerOptions): TargetRunner {
  const where = `upstream "${upstream.name}" (gemini)`;
  const { format } = request;
  if (format !== "json" && format !== "text")
    throw new GatewayError(
      400,
      `response_format ${format} needs timestamps, which ${where} cannot give: Gemini writes a transcript without timing. Use json or text, or map the model to an OpenAI upstream.`,
      { param: "response_format", code: "unsupported_value" },
    );
  if (request.stream)
    throw new GatewayError(
      400,
      `stream is not supported for transcriptions over ${where}; leave it out to get the whole transcript.`,
      { param: "stream", code: "unsupported_value" },
    );
  const mimeType = geminiAudioType(request.file);
  if (!mimeType)
    throw new GatewayError(
      400,
      `file "${request.file.filename}" (${request.file.contentType ?? "no type"}) is not audio ${where} takes: it takes ${GEMINI_AUDIO_TYPE_NAMES}.`,
      { param: "file", code: "invalid_value" },
    );
  const ask = {
    ...(request.language ? { language: request.language } : {}),
    ...(request.prompt ? { prompt: request.prompt } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
  };
  if (geminiTranscriptionSize(request.file, ask) > GEMINI_INLINE_REQUEST_MAX)
    throw new GatewayError(
      413,
      `file is ${mb(request.file.size)} MB: as base64 it is over the 20 MB ${where} takes in one request, and levity does not upload to Gemini's Files API. Send at most about 14.9 MB of audio, or map the model to an OpenAI upstream (25 MB).`,
      { param: "file", code: "request_too_large" },
    );
  // Built on the first attempt and kept for the next: the base64 is the one copy Gemini needs.
  let body: string | undefined;
  const url = upstreamEndpoint(upstream, {
    dialect: "gemini",
    operation: "generate",
    model: target.model,
    stream: false,
    query: new URLSearchParams(),
  });
  return {
    upstream,
    model: target.model,
    failureResponse(failure, headers) {
      return errorResponse(
        ctx.family,
        failure.status,
        failure.message,
        { headers: Object.fromEntries(headers) },
        ctx.requestId,
      );
    },
    async attempt(lease) {
      body ??= geminiTranscriptionBody(request.file, mimeType, ask);
      let answer: string;
      let response: Response;
      try {
        ({ response } = await upstreamClient.open({
          upstream,
          url,
          body,
          headers: upstreamRequestHeaders("gemini", lease.account.key, ctx.request.headers, false),
          clientSignal: ctx.request.signal,
          timeouts: upstream.timeouts,
        }));
        answer = await response.text();
      } catch (error) {
        return failed(failureOf(error, upstream.name));
      }
      if (!response.ok)
        return failed(
          failureFromAnswer(UPSTREAM_CODECS.gemini, response.status, response.headers, answer),
        );
      let json: unknown;
      try {
        json = JSON.parse(answer);
      } catch {
        return failed({
          kind: "broken",
          status: 502,
          message: `${where} answered 200 with a body that is not JSON: ${answer.slice(0, 120)}`,
        });
      }
      const transcript = readGeminiTranscript(json);
      if (transcript.kind === "empty") return failed(emptyAnswer(upstream.name));
      if (transcript.kind === "blocked")
        return failed({
          kind: "final",
          status: 400,
          message: `${where} would not transcribe this audio (${transcript.reason}).`,
        });
      lease.finish({ ok: true, usage: transcript.usage });
      return {
        kind: "committed",
        response: transcriptionAnswer(format, transcript.text, transcript.usage),
      };
    },
  };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
