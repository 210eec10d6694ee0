import type { Usage } from "../../ir.ts";
import { isObject } from "../json.ts";
import { type MultipartPart, partBytes } from "../multipart.ts";
import { GEMINI_DEFAULT_API_VERSION } from "./base-url.ts";

/*
 * Speech to text over Gemini, which has no transcription endpoint: the audio goes in a
 * generateContent request with an instruction to transcribe it, and the answer's text is the
 * transcript. Audio whose request fits Gemini's 20 MB goes inline as base64; larger audio is
 * uploaded through the Files API first (resumable protocol, one request) and referred to by its
 * URI, as Gemini's audio guide says. Only the audio types that guide lists are sent.
 */

/** Gemini's limit on a whole generateContent request with inline data. */
export const GEMINI_INLINE_REQUEST_MAX = 20 * 1024 * 1024;

/** The audio types Gemini's documentation lists, by the names clients send and the file endings. */
const AUDIO_TYPES: Readonly<Record<string, string>> = {
  "audio/wav": "audio/wav",
  "audio/x-wav": "audio/wav",
  "audio/wave": "audio/wav",
  "audio/mp3": "audio/mp3",
  "audio/mpeg": "audio/mp3",
  "audio/aiff": "audio/aiff",
  "audio/x-aiff": "audio/aiff",
  "audio/aac": "audio/aac",
  "audio/ogg": "audio/ogg",
  "audio/flac": "audio/flac",
  "audio/x-flac": "audio/flac",
};
const AUDIO_ENDINGS: Readonly<Record<string, string>> = {
  wav: "audio/wav",
  mp3: "audio/mp3",
  mpga: "audio/mp3",
  mpeg: "audio/mp3",
  aif: "audio/aiff",
  aiff: "audio/aiff",
  aac: "audio/aac",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  flac: "audio/flac",
};

export const GEMINI_AUDIO_TYPE_NAMES = "wav, mp3, aiff, aac, ogg, flac";

/**
 * The Gemini type of an uploaded audio file: by its declared type, else (a generic type such as
 * application/octet-stream) by its file ending; undefined when Gemini does not take it.
 */
export function geminiAudioType(file: MultipartPart): string | undefined {
  const declared = file.contentType?.split(";")[0]?.trim().toLowerCase();
  if (declared && AUDIO_TYPES[declared]) return AUDIO_TYPES[declared];
  if (declared?.startsWith("audio/") || declared?.startsWith("video/")) return undefined;
  const ending = /\.([A-Za-z0-9]+)$/.exec(file.filename ?? "")?.[1]?.toLowerCase();
  return ending ? AUDIO_ENDINGS[ending] : undefined;
}

export interface GeminiTranscriptionAsk {
  language?: string;
  prompt?: string;
  temperature?: number;
}

/** The instruction, in the words Gemini's audio guide uses, narrowed to a bare transcript. */
function instruction(ask: GeminiTranscriptionAsk): string {
  let text =
    "Generate a transcript of the speech in this audio. Answer with the transcript only: the words as spoken, " +
    "without timestamps, speaker labels, headings, translation or commentary. If there is no speech, answer with nothing.";
  if (ask.language) text += ` The speech is in the language with ISO-639-1 code "${ask.language}".`;
  if (ask.prompt)
    text += ` Text that came before this audio, or spellings to follow: ${JSON.stringify(ask.prompt)}`;
  return text;
}

/** The request's length before it is built: base64 is 4 bytes per 3, plus the JSON around it. */
export function geminiTranscriptionSize(file: MultipartPart, ask: GeminiTranscriptionAsk): number {
  return Math.ceil(file.size / 3) * 4 + instruction(ask).length + 512;
}

/** The audio in the request: inline, or a file uploaded to the account's Files API. */
export type GeminiAudio =
  | { kind: "inline"; file: MultipartPart; mimeType: string }
  | { kind: "uploaded"; uri: string; mimeType: string };

/** The generateContent body: the audio, then the instruction. */
export function geminiTranscriptionBody(audio: GeminiAudio, ask: GeminiTranscriptionAsk): string {
  const { mimeType } = audio;
  const part =
    audio.kind === "inline"
      ? { inlineData: { mimeType, data: Buffer.from(partBytes(audio.file)).toString("base64") } }
      : { fileData: { mimeType, fileUri: audio.uri } };
  return JSON.stringify({
    contents: [{ role: "user", parts: [part, { text: instruction(ask) }] }],
    ...(ask.temperature !== undefined
      ? { generationConfig: { temperature: ask.temperature } }
      : {}),
  });
}

export type GeminiTranscript =
  | { kind: "text"; text: string; usage?: Usage }
  | { kind: "blocked"; reason: string }
  | { kind: "empty" };

/** The transcript in a generateContent answer: its text parts (thoughts left out), and usage. */
export function readGeminiTranscript(json: unknown): GeminiTranscript {
  if (!isObject(json)) return { kind: "empty" };
  const feedback = json.promptFeedback;
  if (isObject(feedback) && typeof feedback.blockReason === "string")
    return { kind: "blocked", reason: feedback.blockReason };
  const candidate = Array.isArray(json.candidates) ? json.candidates[0] : undefined;
  if (!isObject(candidate)) return { kind: "empty" };
  const content = isObject(candidate.content) ? candidate.content : {};
  const parts = Array.isArray(content.parts) ? content.parts : [];
  const texts = parts.filter(
    (p): p is { text: string } => isObject(p) && typeof p.text === "string" && p.thought !== true,
  );
  const reason = candidate.finishReason;
  if (texts.length === 0 && reason !== "STOP")
    return typeof reason === "string" && reason !== "FINISH_REASON_UNSPECIFIED"
      ? { kind: "blocked", reason }
      : { kind: "empty" };
  const meta = isObject(json.usageMetadata) ? json.usageMetadata : {};
  const input = typeof meta.promptTokenCount === "number" ? meta.promptTokenCount : undefined;
  const output =
    (typeof meta.candidatesTokenCount === "number" ? meta.candidatesTokenCount : 0) +
    (typeof meta.thoughtsTokenCount === "number" ? meta.thoughtsTokenCount : 0);
  return {
    kind: "text",
    text: texts
      .map((p) => p.text)
      .join("")
      .trim(),
    ...(input !== undefined ? { usage: { input, output } } : {}),
  };
}

/** The Files API's upload path under the base URL. */
export function geminiUploadPath(apiVersion: string | undefined): string {
  return `/upload/${apiVersion ?? GEMINI_DEFAULT_API_VERSION}/files`;
}

/** An uploaded file's own path (`files/abc`), to delete it once its transcript is made. */
export function geminiFilePath(name: string, apiVersion: string | undefined): string {
  return `/${apiVersion ?? GEMINI_DEFAULT_API_VERSION}/${name}`;
}

/** The headers that start a resumable upload of `size` bytes of `mimeType`, and its JSON body. */
export function geminiUploadStart(
  size: number,
  mimeType: string,
): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(size),
      "x-goog-upload-header-content-type": mimeType,
    },
    body: JSON.stringify({ file: { display_name: "levity-transcription" } }),
  };
}

/** The headers that send the whole file and finish the upload in one request. */
export function geminiUploadFinish(size: number): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    "content-length": String(size),
    "x-goog-upload-offset": "0",
    "x-goog-upload-command": "upload, finalize",
  };
}

/** The uploaded file as the finishing request's answer describes it. */
export function readUploadedFile(
  json: unknown,
): { name: string; uri: string; state?: string } | undefined {
  const file = isObject(json) ? json.file : undefined;
  if (!isObject(file) || typeof file.name !== "string" || typeof file.uri !== "string")
    return undefined;
  return {
    name: file.name,
    uri: file.uri,
    ...(typeof file.state === "string" ? { state: file.state } : {}),
  };
}
