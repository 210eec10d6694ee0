import { describe, expect, test } from "bun:test";
import type { MultipartPart } from "../multipart.ts";
import {
  GEMINI_INLINE_REQUEST_MAX,
  geminiAudioType,
  geminiTranscriptionBody,
  geminiTranscriptionSize,
  readGeminiTranscript,
  readUploadedFile,
} from "./transcription.ts";

function file(filename: string, contentType?: string, size = 3): MultipartPart {
  const bytes = new Uint8Array(size).fill(65);
  return {
    name: "file",
    filename,
    ...(contentType ? { contentType } : {}),
    chunks: [bytes],
    size,
  };
}

describe("geminiAudioType", () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ["a.mp3", "audio/mpeg", "audio/mp3"],
    ["a.wav", "audio/x-wav", "audio/wav"],
    ["a.flac", "audio/flac; rate=16000", "audio/flac"],
    ["a.ogg", "application/octet-stream", "audio/ogg"],
    ["a.AIFF", undefined, "audio/aiff"],
    ["a.mpga", "", "audio/mp3"],
    ["a.webm", "audio/webm", undefined],
    ["a.m4a", "audio/mp4", undefined],
    ["a.mp4", "video/mp4", undefined],
    ["notes.txt", "text/plain", undefined],
    ["noending", undefined, undefined],
  ];
  test.each(cases)("%s (%p) is %p", (name, type, expected) => {
    expect(geminiAudioType(file(name, type))).toBe(expected);
  });
});

describe("the generateContent body", () => {
  test("inline: the audio as base64, then the instruction with language and prompt", () => {
    const body = JSON.parse(
      geminiTranscriptionBody(
        { kind: "inline", file: file("a.mp3"), mimeType: "audio/mp3" },
        { language: "de", prompt: 'say "hi"', temperature: 0 },
      ),
    );
    expect(body.contents[0].parts[0]).toEqual({
      inlineData: { mimeType: "audio/mp3", data: "QUFB" },
    });
    expect(body.contents[0].parts[1].text).toContain('ISO-639-1 code "de"');
    expect(body.contents[0].parts[1].text).toContain('"say \\"hi\\""');
    expect(body.generationConfig).toEqual({ temperature: 0 });
  });

  test("uploaded: the file by its URI; no generationConfig without a temperature", () => {
    const body = JSON.parse(
      geminiTranscriptionBody({ kind: "uploaded", uri: "u://f", mimeType: "audio/wav" }, {}),
    );
    expect(body.contents[0].parts[0]).toEqual({
      fileData: { mimeType: "audio/wav", fileUri: "u://f" },
    });
    expect(body.generationConfig).toBeUndefined();
  });

  test("the size estimate is never below the body's real length, and 15 MB is past the inline limit", () => {
    for (const size of [0, 1, 2, 3, 1000, 65_537]) {
      const part = file("a.mp3", "audio/mpeg", size);
      const ask = { language: "fr", prompt: "p".repeat(500) };
      const real = geminiTranscriptionBody(
        { kind: "inline", file: part, mimeType: "audio/mp3" },
        ask,
      );
      expect(geminiTranscriptionSize(part, ask)).toBeGreaterThanOrEqual(real.length);
    }
    const big = { ...file("a.mp3"), size: 15 * 1024 * 1024 };
    expect(geminiTranscriptionSize(big, {})).toBeGreaterThan(GEMINI_INLINE_REQUEST_MAX);
  });
});

describe("readGeminiTranscript", () => {
  const usage = { promptTokenCount: 100, candidatesTokenCount: 4, thoughtsTokenCount: 2 };
  const cases: [string, unknown, unknown][] = [
    [
      "text parts joined, thoughts left out, usage with thoughts as output",
      {
        candidates: [
          {
            content: {
              parts: [{ text: "why", thought: true }, { text: " hello " }, { text: "world" }],
            },
            finishReason: "STOP",
          },
        ],
        usageMetadata: usage,
      },
      { kind: "text", text: "hello world", usage: { input: 100, output: 6 } },
    ],
    [
      "silence: no text but a STOP is an empty transcript",
      { candidates: [{ content: { parts: [] }, finishReason: "STOP" }] },
      { kind: "text", text: "" },
    ],
    ["no candidates", { candidates: [] }, { kind: "empty" }],
    ["not an object", "x", { kind: "empty" }],
    [
      "a blocked prompt",
      { promptFeedback: { blockReason: "SAFETY" } },
      { kind: "blocked", reason: "SAFETY" },
    ],
    [
      "a candidate stopped for recitation",
      { candidates: [{ content: { parts: [] }, finishReason: "RECITATION" }] },
      { kind: "blocked", reason: "RECITATION" },
    ],
  ];
  test.each(cases)("%s", (_, json, expected) => {
    expect(readGeminiTranscript(json)).toEqual(expected as never);
  });
});

describe("readUploadedFile", () => {
  test.each([
    [
      { file: { name: "files/a", uri: "u", state: "ACTIVE" } },
      { name: "files/a", uri: "u", state: "ACTIVE" },
    ],
    [{ file: { name: "files/a", uri: "u" } }, { name: "files/a", uri: "u" }],
    [{ file: { name: "files/a" } }, undefined],
    [{}, undefined],
    [null, undefined],
  ])("%p", (json, expected) => {
    expect(readUploadedFile(json)).toEqual(expected);
  });
});
