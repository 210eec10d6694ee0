import type { Usage } from "../../ir.ts";
import { GatewayError } from "../../failure.ts";
import { isObject } from "../json.ts";
import { type MultipartBody, type MultipartPart, partNamed, textField } from "../multipart.ts";

/*
 * OpenAI's POST /v1/audio/transcriptions: a multipart form with the audio `file`, the `model`,
 * and optionally `language`, `prompt`, `response_format`, `temperature`, `stream` and
 * `timestamp_granularities[]`. What levity must understand of it to choose a target and, for a
 * Gemini target, to ask for the same thing; an OpenAI upstream gets the form as it came.
 */

/** Below an OpenAI-compatible upstream's base URL (which ends in /v1). */
export const TRANSCRIPTION_PATH = "/audio/transcriptions";

export const TRANSCRIPTION_FORMATS = ["json", "text", "srt", "vtt", "verbose_json"] as const;
export type TranscriptionFormat = (typeof TRANSCRIPTION_FORMATS)[number];

export interface TranscriptionRequest {
  model: string;
  file: MultipartPart;
  language?: string;
  prompt?: string;
  format: TranscriptionFormat;
  temperature?: number;
  stream: boolean;
}

const MODEL_NAME_MAX = 256;

function invalid(message: string, param: string): GatewayError {
  return new GatewayError(400, message, { param, code: "invalid_value" });
}

/** The request's fields, or a 400 naming the one that is missing or wrong. */
export function readTranscriptionRequest(body: MultipartBody): TranscriptionRequest {
  const model = textField(body, "model")?.trim();
  if (!model) throw invalid("model is required: name the model to use.", "model");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (model.length > MODEL_NAME_MAX || /[\u0000-\u001f\u007f]/.test(model))
    throw invalid(
      `model must be a name of at most ${MODEL_NAME_MAX} printable characters.`,
      "model",
    );
  const file = partNamed(body, "file");
  if (!file) throw invalid("file is required: the audio to transcribe, as a file part.", "file");
  if (file.filename === undefined)
    throw invalid('file must be a file part (Content-Disposition with a filename="…").', "file");
  if (file.size === 0) throw invalid("file is empty.", "file");
  const format = textField(body, "response_format") ?? "json";
  if (!(TRANSCRIPTION_FORMATS as readonly string[]).includes(format))
    throw invalid(
      `response_format must be one of ${TRANSCRIPTION_FORMATS.join(", ")}, not "${format.slice(0, 40)}".`,
      "response_format",
    );
  const temperatureText = textField(body, "temperature");
  const temperature = temperatureText === undefined ? undefined : Number(temperatureText);
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 1))
    throw invalid("temperature must be a number from 0 to 1.", "temperature");
  const stream = textField(body, "stream");
  if (stream !== undefined && stream !== "true" && stream !== "false")
    throw invalid("stream must be true or false.", "stream");
  const language = textField(body, "language");
  const prompt = textField(body, "prompt");
  return {
    model,
    file,
    format: format as TranscriptionFormat,
    stream: stream === "true",
    ...(language ? { language } : {}),
    ...(prompt ? { prompt } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
  };
}

/**
 * The answer for a format levity writes itself (json, text), from a transcript: the shapes
 * OpenAI's gpt-4o-transcribe models answer in, usage in tokens.
 */
export function transcriptionAnswer(
  format: "json" | "text",
  text: string,
  usage: Usage | undefined,
): Response {
  if (format === "text")
    return new Response(text, { headers: { "content-type": "text/plain; charset=utf-8" } });
  return Response.json({
    text,
    ...(usage
      ? {
          usage: {
            type: "tokens",
            input_tokens: usage.input,
            output_tokens: usage.output,
            total_tokens: usage.input + usage.output,
          },
        }
      : {}),
  });
}

/** The tokens an upstream's JSON answer reports (gpt-4o-transcribe); whisper's `duration` usage counts no tokens. */
export function transcriptionUsage(answer: string, contentType: string): Usage | undefined {
  if (!contentType.includes("json")) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(answer);
  } catch {
    return undefined;
  }
  const usage = isObject(json) ? json.usage : undefined;
  if (!isObject(usage) || usage.type !== "tokens") return undefined;
  const input = usage.input_tokens;
  const output = usage.output_tokens;
  return typeof input === "number" && typeof output === "number" ? { input, output } : undefined;
}
