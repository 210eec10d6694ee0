import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../failure.ts";
import { MultipartParser } from "../multipart.ts";
import { readTranscriptionRequest, transcriptionUsage } from "./transcription.ts";

function form(fields: Record<string, string>, withFile = true) {
  let text = "";
  for (const [name, value] of Object.entries(fields))
    text += `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  if (withFile)
    text += '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nID3\r\n';
  const parser = new MultipartParser("b");
  parser.push(new TextEncoder().encode(`${text}--b--\r\n`));
  return parser.end();
}

function refusal(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return { status: error.status, param: error.details.param };
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("readTranscriptionRequest", () => {
  test("the fields, with json the default format", () => {
    const request = readTranscriptionRequest(
      form({ model: " whisper-1 ", language: "de", prompt: "p", temperature: "0.5" }),
    );
    expect(request).toMatchObject({
      model: "whisper-1",
      language: "de",
      prompt: "p",
      temperature: 0.5,
      format: "json",
      stream: false,
    });
    expect(request.file.filename).toBe("a.mp3");
  });

  const refused: [string, Record<string, string>, boolean, string][] = [
    ["no model", {}, true, "model"],
    ["an empty model", { model: " " }, true, "model"],
    ["a model with a control character", { model: "a\u0001b" }, true, "model"],
    ["no file", { model: "m" }, false, "file"],
    ["a file sent as text", { model: "m", file: "abc" }, false, "file"],
    ["an unknown format", { model: "m", response_format: "mp3" }, true, "response_format"],
    ["a temperature over 1", { model: "m", temperature: "1.5" }, true, "temperature"],
    [
      "a temperature that is not a number",
      { model: "m", temperature: "warm" },
      true,
      "temperature",
    ],
    ["a stream that is not true or false", { model: "m", stream: "yes" }, true, "stream"],
  ];
  test.each(refused)("%s is a 400 naming it", (_, fields, withFile, param) => {
    expect(refusal(() => readTranscriptionRequest(form(fields, withFile)))).toEqual({
      status: 400,
      param,
    });
  });
});

describe("transcriptionUsage", () => {
  test.each([
    [
      '{"text":"x","usage":{"type":"tokens","input_tokens":9,"output_tokens":2}}',
      "application/json",
      { input: 9, output: 2 },
    ],
    ['{"text":"x","usage":{"type":"duration","seconds":3}}', "application/json", undefined],
    ["x", "text/plain", undefined],
    ["not json", "application/json", undefined],
  ])("%s (%s)", (answer, type, expected) => {
    expect(transcriptionUsage(answer, type)).toEqual(expected);
  });
});
