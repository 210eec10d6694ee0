import type { Usage } from "../../ir.ts";
import { isObject } from "../json.ts";
import { type MultipartPart, partBytes } from "../multipart.ts";

/*
 * Speech to text over Gemini, which has no transcription endpoint: the audio goes inline in a
 * generateContent request with an instruction to transcribe it, and the answer's text is the
 * transcript. Gemini takes a request of at most 20 MB this way (larger audio must go through its
 * Files API, which levity does not use), and the audio types its documentation lists.
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

/** The generateContent body: the audio inline, then the instruction. */
export function geminiTranscriptionBody(
  file: MultipartPart,
  mimeType: string,
  ask: GeminiTranscriptionAsk,
): string {
  const data = Buffer.from(partBytes(file)).toString("base64");
  return JSON.stringify({
    contents: [
      {
        role: "user",
        parts: [{ inlineData: { mimeType, data } }, { text: instruction(ask) }],
      },
    ],
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
