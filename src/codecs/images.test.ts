import { describe, expect, test } from "bun:test";
import {
  aspectRatioOf,
  imageSizeOf,
  imagesOfGemini,
  imagesOfImagen,
  imagenSampleCounts,
  parseImageRequest,
  renderOpenAIImages,
  usesPredict,
} from "./images.ts";

describe("aspectRatioOf", () => {
  const cases: [string | undefined, boolean, string | undefined][] = [
    [undefined, false, undefined],
    ["auto", true, undefined],
    ["1024x1024", false, "1:1"],
    ["256x256", true, "1:1"],
    ["1792x1024", false, "16:9"],
    ["1024x1792", true, "9:16"],
    ["1536x1024", false, "3:2"],
    ["1536x1024", true, "4:3"],
    ["1024x1536", false, "2:3"],
    ["1024x1536", true, "3:4"],
    ["2560x1080", false, "21:9"],
    ["2560x1080", true, "16:9"],
  ];
  for (const [size, imagen, ratio] of cases)
    test(`${size} on ${imagen ? "Imagen" : "Gemini"} is ${ratio}`, () => {
      expect(aspectRatioOf(size, imagen)).toBe(ratio);
    });
  test("a size that is not WIDTHxHEIGHT is the client's error", () => {
    for (const size of ["big", "1024", "0x10", "10x0", "1024x1024x1"])
      expect(() => aspectRatioOf(size, false)).toThrow("size must be WIDTHxHEIGHT");
  });
});

describe("imageSizeOf and usesPredict", () => {
  const sizes: [string | undefined, string, string | undefined][] = [
    ["high", "imagen-4.0-generate-001", "2K"],
    ["hd", "gemini-3-pro-image-preview", "2K"],
    ["high", "gemini-2.5-flash-image", undefined],
    ["medium", "imagen-4.0-generate-001", undefined],
    ["standard", "gemini-3-pro-image-preview", undefined],
    [undefined, "imagen-4.0-generate-001", undefined],
  ];
  for (const [quality, model, size] of sizes)
    test(`quality ${quality} on ${model}: ${size}`, () => {
      expect(imageSizeOf(quality, model)).toBe(size);
    });
  test("imagen-* goes to :predict, every other model to generateContent", () => {
    expect(usesPredict("imagen-4.0-generate-001")).toBe(true);
    expect(usesPredict("models/imagen-3.0-generate-002")).toBe(true);
    expect(usesPredict("gemini-2.5-flash-image")).toBe(false);
  });
});

describe("parseImageRequest", () => {
  test("OpenAI's defaults: dall-e-2, one image, b64_json", () => {
    expect(parseImageRequest({ prompt: "x" })).toMatchObject({
      model: "dall-e-2",
      n: 1,
      responseFormat: "b64_json",
    });
  });
  test("a form's text fields: n as digits", () => {
    expect(parseImageRequest({ prompt: "x", n: "3" }).n).toBe(3);
  });
  const bad: [Record<string, unknown>, string][] = [
    [{}, "prompt"],
    [{ prompt: "  " }, "prompt"],
    [{ prompt: "x", n: 1.5 }, "n"],
    [{ prompt: "x", n: "two" }, "n"],
    [{ prompt: "x", model: 3 }, "model"],
    [{ prompt: "x", model: "bad\u0001name" }, "model"],
    [{ prompt: "x", model: "m".repeat(257) }, "model"],
    [{ prompt: "x", response_format: "png" }, "response_format"],
    [{ prompt: "x", stream: "maybe" }, "stream"],
  ];
  for (const [json, param] of bad)
    test(`refuses ${JSON.stringify(json)} naming ${param}`, () => {
      expect(() => parseImageRequest(json)).toThrow(expect.objectContaining({ status: 400 }));
      try {
        parseImageRequest(json);
      } catch (error) {
        expect((error as { details: { param: string } }).details.param).toBe(param);
      }
    });
});

describe("reading the answers", () => {
  test("generateContent: inlineData parts of every candidate, usage from usageMetadata", () => {
    const read = imagesOfGemini({
      candidates: [
        {
          content: {
            parts: [
              { text: "here" },
              { inlineData: { mimeType: "image/jpeg", data: "AAA" } },
              { inline_data: { mime_type: "image/png", data: "BBB" } },
            ],
          },
          finishReason: "STOP",
        },
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1290 },
    });
    expect(read).toEqual({
      images: [
        { mediaType: "image/jpeg", data: "AAA" },
        { mediaType: "image/png", data: "BBB" },
      ],
      usage: { input: 3, output: 1290 },
    });
  });
  test("no image: a final 400 with the finish reason, the block reason or the model's words", () => {
    expect(imagesOfGemini({ candidates: [{ finishReason: "IMAGE_SAFETY" }] })).toMatchObject({
      kind: "final",
      status: 400,
      message: expect.stringContaining("finishReason IMAGE_SAFETY"),
    });
    expect(imagesOfGemini({ promptFeedback: { blockReason: "SAFETY" } })).toMatchObject({
      message: expect.stringContaining("prompt blocked (SAFETY)"),
    });
    expect(
      imagesOfGemini({ candidates: [{ content: { parts: [{ text: "I cannot draw that." }] } }] }),
    ).toMatchObject({ message: expect.stringContaining("I cannot draw that.") });
    expect(imagesOfGemini("nope")).toMatchObject({ kind: "broken", status: 502 });
  });
  test(":predict: predictions with bytes; all filtered is a final 400 naming the reason", () => {
    expect(
      imagesOfImagen({ predictions: [{ bytesBase64Encoded: "AAA", mimeType: "image/png" }] }),
    ).toEqual({ images: [{ mediaType: "image/png", data: "AAA" }] });
    expect(
      imagesOfImagen({ predictions: [{ raiFilteredReason: "filtered: people" }] }),
    ).toMatchObject({ kind: "final", message: expect.stringContaining("filtered: people") });
    expect(imagesOfImagen({})).toMatchObject({ kind: "final", status: 400 });
  });
  test("rendered for OpenAI: b64_json, or a data: URL; usage when known", () => {
    const result = {
      images: [{ mediaType: "image/png", data: "AAA" }],
      usage: { input: 2, output: 3 },
    };
    expect(renderOpenAIImages(result, "b64_json", 7)).toEqual({
      created: 7,
      data: [{ b64_json: "AAA" }],
      usage: { input_tokens: 2, output_tokens: 3, total_tokens: 5 },
    });
    expect(renderOpenAIImages({ images: result.images }, "url", 7)).toEqual({
      created: 7,
      data: [{ url: "data:image/png;base64,AAA" }],
    });
  });
});

test("Imagen's calls for n images ask for 4 each and the rest in the last: never more than n in all", () => {
  const cases: [number, number[]][] = [
    [1, [1]],
    [4, [4]],
    [5, [4, 1]],
    [9, [4, 4, 1]],
    [10, [4, 4, 2]],
  ];
  for (const [n, counts] of cases)
    expect({ n, counts: imagenSampleCounts(n) }).toEqual({ n, counts });
});
