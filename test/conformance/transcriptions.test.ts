import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI, { toFile } from "openai";
import { transcriptOf } from "../support/fake-transcript.ts";
import type { UpstreamModels } from "./cases.ts";
import { externalSetup, LOCAL_UPSTREAMS, localSetup, type Setup } from "./target.ts";

/*
 * OpenAI speech to text (POST /v1/audio/transcriptions) through the openai SDK, to each upstream:
 * json and text give a transcript, srt one with timings; an upstream that cannot give a format
 * answers a 400 in OpenAI's shape naming response_format, one that cannot hear audio a 400; a
 * form without its file is a 400 naming file. Run by `npm run conformance` beside the matrix.
 * Against levity's fakes the answers are exact; against another gateway (--base-url), whose
 * upstreams may or may not transcribe, a transcript or a well-formed 400 passes.
 */

const external = externalSetup(process.env);
const timeout = external ? 120_000 : 5_000;

/** What each local upstream can do with audio: OpenAI every format, Gemini json and text, the rest nothing. */
const LOCAL_CAN: Record<string, "all" | "text" | "none"> = {
  openai: "all",
  "openai-all": "all",
  gemini: "text",
  anthropic: "none",
  echo: "none",
};

/** Half a second of a 440 Hz tone: 16-bit mono PCM WAV at 16 kHz, which every provider takes. */
function toneWav(): Uint8Array {
  const rate = 16_000;
  const samples = rate / 2;
  const out = new DataView(new ArrayBuffer(44 + samples * 2));
  const ascii = (at: number, text: string) => {
    for (let i = 0; i < text.length; i++) out.setUint8(at + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  out.setUint32(4, 36 + samples * 2, true);
  ascii(8, "WAVEfmt ");
  out.setUint32(16, 16, true);
  out.setUint16(20, 1, true);
  out.setUint16(22, 1, true);
  out.setUint32(24, rate, true);
  out.setUint32(28, rate * 2, true);
  out.setUint16(32, 2, true);
  out.setUint16(34, 16, true);
  ascii(36, "data");
  out.setUint32(40, samples * 2, true);
  for (let i = 0; i < samples; i++)
    out.setInt16(44 + i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), true);
  return new Uint8Array(out.buffer);
}

const WAV = toneWav();

let setup: Setup;
beforeAll(() => {
  setup = external ?? localSetup();
});
afterAll(() => setup.stop());

function client(): OpenAI {
  return new OpenAI({
    apiKey: setup.target.apiKey,
    baseURL: `${setup.target.baseUrl}/v1`,
    maxRetries: 0,
  });
}

/** A transcript, or (where the upstream cannot) a 400 in OpenAI's shape naming `param`. */
async function transcribeOrRefuse(
  upstream: UpstreamModels,
  format: "json" | "text" | "srt",
  expectAnswer: (answer: unknown) => void,
): Promise<void> {
  const can = external ? undefined : LOCAL_CAN[upstream.name];
  const outcome = await client()
    .audio.transcriptions.create({
      file: await toFile(WAV, "tone.wav", { type: "audio/wav" }),
      model: upstream.model,
      response_format: format,
    })
    .then(
      (answer) => ({ answer }),
      (error) => ({ error }),
    );
  const refused =
    can === "none" || (can === "text" && format === "srt")
      ? true
      : can === undefined
        ? "error" in outcome
        : false;
  if (!refused) {
    if ("error" in outcome) throw outcome.error;
    expectAnswer(outcome.answer);
    return;
  }
  expect("error" in outcome).toBe(true);
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  const body = (error as InstanceType<typeof OpenAI.BadRequestError>).error as {
    message?: unknown;
    param?: unknown;
  };
  expect(typeof body.message).toBe("string");
  if (can === "text") expect(body.param).toBe("response_format");
}

const heard = external ? undefined : transcriptOf(WAV);
const names = external ? external.upstreams.map((u) => u.name) : LOCAL_UPSTREAMS;

describe.each(names)("audio transcription to %s", (name) => {
  const upstream = () => setup.upstreams.find((u) => u.name === name)!;
  test(
    "json",
    () =>
      transcribeOrRefuse(upstream(), "json", (answer) => {
        const { text } = answer as { text: unknown };
        expect(typeof text).toBe("string");
        if (heard) expect(text).toBe(heard);
      }),
    { timeout },
  );
  test(
    "text",
    () =>
      transcribeOrRefuse(upstream(), "text", (answer) => {
        expect(typeof answer).toBe("string");
        if (heard) expect(String(answer).trim()).toBe(heard);
      }),
    { timeout },
  );
  test(
    "srt",
    () =>
      transcribeOrRefuse(upstream(), "srt", (answer) => {
        expect(String(answer)).toMatch(/\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d/);
        if (heard) expect(String(answer)).toContain(heard);
      }),
    { timeout },
  );
  test(
    "a form without its file",
    async () => {
      const response = await fetch(`${setup.target.baseUrl}/v1/audio/transcriptions`, {
        method: "POST",
        headers: { authorization: `Bearer ${setup.target.apiKey}` },
        body: (() => {
          const form = new FormData();
          form.set("model", upstream().model);
          return form;
        })(),
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { type: string; param: string } };
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.param).toBe("file");
    },
    { timeout },
  );
});
