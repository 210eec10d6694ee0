import { errorResponse } from "../codecs/errors.ts";
import {
  GEMINI_AUDIO_TYPE_NAMES,
  GEMINI_INLINE_REQUEST_MAX,
  geminiAudioType,
  geminiFilePath,
  geminiTranscriptionBody,
  geminiTranscriptionSize,
  geminiUploadFinish,
  geminiUploadPath,
  geminiUploadStart,
  readGeminiTranscript,
  readUploadedFile,
} from "../codecs/gemini/transcription.ts";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import { piecesStream } from "../codecs/multipart.ts";
import { transcriptionAnswer } from "../codecs/openai-compatible/transcription.ts";
import { emptyAnswer, type Failure, failureOf, GatewayError } from "../failure.ts";
import type { Lease } from "../pool/lease.ts";
import type { UpstreamCall } from "../upstream/forward.ts";
import { upstreamEndpoint, upstreamRequestHeaders } from "../upstream/protocol.ts";
import { failureFromAnswer } from "./answer-failure.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";
import type { TranscriptionRunnerOptions } from "./transcribe.ts";

const failed = (failure: Failure): AttemptResult => ({ kind: "failed", failure });
const GEMINI = UPSTREAM_CODECS.gemini;

/**
 * The audio in a generateContent request, and the transcript as json or text: inline when the
 * request fits Gemini's 20 MB, else uploaded to the attempt's account through the Files API first
 * (and deleted there once the transcript is made). Gemini writes no timing of its own, so srt,
 * vtt and verbose_json (which need segment times) are refused for this target rather than made
 * up; so are a stream and audio of a type Gemini does not take.
 */
export function geminiTranscription({
  ctx,
  request,
  target,
  upstream,
  upstreamClient,
}: TranscriptionRunnerOptions): TargetRunner {
  const where = `upstream "${upstream.name}" (gemini)`;
  const { format, file } = request;
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
  const mimeType = geminiAudioType(file);
  if (!mimeType)
    throw new GatewayError(
      400,
      `file "${file.filename}" (${file.contentType ?? "no type"}) is not audio ${where} takes: it takes ${GEMINI_AUDIO_TYPE_NAMES}.`,
      { param: "file", code: "invalid_value" },
    );
  const ask = {
    ...(request.language ? { language: request.language } : {}),
    ...(request.prompt ? { prompt: request.prompt } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
  };
  const inline = geminiTranscriptionSize(file, ask) <= GEMINI_INLINE_REQUEST_MAX;
  // Built on the first attempt and kept for the next: the base64 is the one copy Gemini needs.
  let inlineBody: string | undefined;
  const url = upstreamEndpoint(upstream, {
    dialect: "gemini",
    operation: "generate",
    model: target.model,
    stream: false,
    query: new URLSearchParams(),
  });
  const call = (lease: Lease, url: string, body: UpstreamCall["body"], extra = {}) => {
    const headers = upstreamRequestHeaders("gemini", lease.account.key, ctx.request.headers, false);
    for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = String(value);
    return upstreamClient.open({
      upstream,
      url,
      body,
      headers,
      clientSignal: ctx.request.signal,
      timeouts: upstream.timeouts,
    });
  };

  /** The audio in the account's Files API: a resumable upload started, then sent whole. */
  const upload = async (lease: Lease): Promise<{ name: string; uri: string } | Failure> => {
    const start = geminiUploadStart(file.size, mimeType);
    const broke = (why: string): Failure => ({
      kind: "broken",
      status: 502,
      message: `${where} ${why}`,
    });
    try {
      const started = (
        await call(
          lease,
          upstream.baseUrl + geminiUploadPath(upstream.apiVersion),
          start.body,
          start.headers,
        )
      ).response;
      const startText = await started.text();
      if (!started.ok) return failureFromAnswer(GEMINI, started.status, started.headers, startText);
      const uploadUrl = started.headers.get("x-goog-upload-url") ?? "";
      // The account's key goes with the file: only to the upstream's own host.
      if (
        !URL.canParse(uploadUrl) ||
        new URL(uploadUrl).origin !== new URL(upstream.baseUrl).origin
      )
        return broke("gave no upload URL on its own host for the audio file.");
      const sent = (
        await call(lease, uploadUrl, piecesStream(file.chunks), geminiUploadFinish(file.size))
      ).response;
      const sentText = await sent.text();
      if (!sent.ok) return failureFromAnswer(GEMINI, sent.status, sent.headers, sentText);
      let uploaded: ReturnType<typeof readUploadedFile>;
      try {
        uploaded = readUploadedFile(JSON.parse(sentText));
      } catch {
        uploaded = undefined;
      }
      if (!uploaded) return broke("answered the audio upload without a file name and URI.");
      if (uploaded.state === "FAILED") return broke("could not process the uploaded audio file.");
      return uploaded;
    } catch (error) {
      return failureOf(error, upstream.name);
    }
  };

  /** The upload is of no use once transcribed: deleted, whether or not the client is still there. */
  const remove = (lease: Lease, name: string) => {
    const headers = upstreamRequestHeaders("gemini", lease.account.key, ctx.request.headers, false);
    upstreamClient
      .open({
        upstream,
        method: "DELETE",
        url: upstream.baseUrl + geminiFilePath(name, upstream.apiVersion),
        body: "",
        headers,
        clientSignal: new AbortController().signal,
        timeouts: upstream.timeouts,
      })
      .catch(() => {});
  };

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
      let body: string;
      let uploaded: string | undefined;
      if (inline) {
        inlineBody ??= geminiTranscriptionBody({ kind: "inline", file, mimeType }, ask);
        body = inlineBody;
      } else {
        const file = await upload(lease);
        if ("kind" in file) return failed(file);
        uploaded = file.name;
        body = geminiTranscriptionBody({ kind: "uploaded", uri: file.uri, mimeType }, ask);
      }
      try {
        return await transcribeWith(lease, body);
      } finally {
        if (uploaded) remove(lease, uploaded);
      }
    },
  };

  async function transcribeWith(lease: Lease, body: string): Promise<AttemptResult> {
    let answer: string;
    let response: Response;
    try {
      ({ response } = await call(lease, url, body));
      answer = await response.text();
    } catch (error) {
      return failed(failureOf(error, upstream.name));
    }
    if (!response.ok)
      return failed(failureFromAnswer(GEMINI, response.status, response.headers, answer));
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
      response: transcriptionAnswer(format as "json" | "text", transcript.text, transcript.usage),
    };
  }
}
