import type { Failure } from "../failure.ts";
import { GEMINI_DEFAULT_API_VERSION } from "./gemini/base-url.ts";
import { isObject } from "./json.ts";
import { badRequest } from "./shared.ts";

/*
 * OpenAI's image endpoints (POST /v1/images/generations and /v1/images/edits) in levity's terms,
 * and their translation to Gemini: an image model through generateContent (responseModalities
 * with IMAGE, imageConfig), or Imagen through :predict (instances, parameters, predictions).
 * An OpenAI upstream gets the client's request as it came; only the model changes.
 */

export type ImageFormat = "b64_json" | "url";

/** An image the client sends to be edited (or a mask), as its bytes in base64. */
export interface InputImage {
  mediaType: string;
  data: string;
}

export interface ImageRequest {
  model: string;
  prompt: string;
  n: number;
  size?: string;
  quality?: string;
  responseFormat: ImageFormat;
  /** GPT image models' partial images as a stream: only an OpenAI upstream makes them. */
  stream: boolean;
}

export interface GeneratedImage {
  mediaType: string;
  data: string;
}

export interface ImageResult {
  images: GeneratedImage[];
  usage?: { input: number; output: number };
}

/** OpenAI's default model when a request names none. */
export const OPENAI_DEFAULT_IMAGE_MODEL = "dall-e-2";

/** OpenAI's own bound on n, for every model (dall-e-3 takes only 1, which its upstream says). */
export const MAX_IMAGES = 10;

/** Imagen answers at most this many images to one :predict. */
export const IMAGEN_MAX_SAMPLES = 4;

function optionalString(json: Record<string, unknown>, key: string): string | undefined {
  const value = json[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest(`${key} must be a string.`, key);
  return value;
}

/** The fields of an OpenAI image request that levity reads to translate it; the rest pass to an OpenAI upstream as they are. */
export function parseImageRequest(json: Record<string, unknown>): ImageRequest {
  const prompt = json.prompt;
  if (typeof prompt !== "string" || prompt.trim() === "")
    throw badRequest("prompt is required: describe the image.", "prompt");
  const model = optionalString(json, "model") ?? OPENAI_DEFAULT_IMAGE_MODEL;
  // It goes into URLs, headers and the log, as a generation's model does (operations/generate.ts).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (model.trim() === "" || model.length > 256 || /[\u0000-\u001f\u007f]/.test(model))
    throw badRequest("model must be a name of at most 256 printable characters.", "model");
  // A multipart form sends every field as text: "2" is the number 2.
  const rawN = typeof json.n === "string" && /^\d+$/.test(json.n) ? Number(json.n) : json.n;
  const n = rawN === undefined || rawN === null ? 1 : rawN;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_IMAGES)
    throw badRequest(`n must be a whole number from 1 to ${MAX_IMAGES}.`, "n");
  if (
    json.stream !== undefined &&
    json.stream !== null &&
    typeof json.stream !== "boolean" &&
    json.stream !== "true" &&
    json.stream !== "false"
  )
    throw badRequest("stream must be true or false.", "stream");
  const format = optionalString(json, "response_format") ?? "b64_json";
  if (format !== "b64_json" && format !== "url")
    throw badRequest("response_format must be url or b64_json.", "response_format");
  return {
    model,
    prompt,
    n,
    size: optionalString(json, "size"),
    quality: optionalString(json, "quality"),
    responseFormat: format,
    stream: json.stream === true || json.stream === "true",
  };
}

/** Imagen's models go to :predict; every other Gemini model generates images through generateContent. */
export function usesPredict(model: string): boolean {
  return /^(models\/)?imagen-/i.test(model);
}

/** The aspect ratios each API takes (Gemini image models take more than Imagen). */
const GEMINI_RATIOS: readonly string[] = [
  "1:1",
  "2:3",
  "3:2",
  "3:4",
  "4:3",
  "4:5",
  "5:4",
  "9:16",
  "16:9",
  "21:9",
];
const IMAGEN_RATIOS: readonly string[] = ["1:1", "3:4", "4:3", "9:16", "16:9"];

/**
 * OpenAI's size (WIDTHxHEIGHT, or auto) as the nearest aspect ratio the target takes:
 * 1024x1024 is 1:1, 1792x1024 is 16:9, 1536x1024 is 3:2 on Gemini and 4:3 on Imagen.
 * Gemini chooses the pixels; auto, or no size, leaves the ratio to the model.
 */
export function aspectRatioOf(size: string | undefined, imagen: boolean): string | undefined {
  if (size === undefined || size === "auto") return undefined;
  const match = /^(\d{1,5})x(\d{1,5})$/.exec(size);
  if (!match || Number(match[1]) === 0 || Number(match[2]) === 0)
    throw badRequest(
      `size must be WIDTHxHEIGHT (such as 1024x1024) or auto, not "${size.slice(0, 40)}".`,
      "size",
    );
  const wanted = Math.log(Number(match[1]) / Number(match[2]));
  let best = "1:1";
  let distance = Number.POSITIVE_INFINITY;
  for (const ratio of imagen ? IMAGEN_RATIOS : GEMINI_RATIOS) {
    const [w, h] = ratio.split(":").map(Number) as [number, number];
    const d = Math.abs(Math.log(w / h) - wanted);
    if (d < distance) {
      distance = d;
      best = ratio;
    }
  }
  return best;
}

/**
 * OpenAI's quality as the target's image size: high and hd ask for 2K, everything else leaves the
 * model's default (1K). Only Imagen and the Gemini image models after 2.x have an image size; the
 * others get no size at all rather than a field they refuse.
 */
export function imageSizeOf(quality: string | undefined, model: string): string | undefined {
  if (quality !== "high" && quality !== "hd") return undefined;
  if (/^(models\/)?gemini-[12]\./i.test(model)) return undefined;
  return "2K";
}

/** The path of an Imagen or Gemini call under a Gemini upstream's base URL. */
export function geminiImagePath(model: string, apiVersion: string | undefined): string {
  const method = usesPredict(model) ? "predict" : "generateContent";
  return `/${apiVersion ?? GEMINI_DEFAULT_API_VERSION}/models/${encodeURIComponent(model)}:${method}`;
}

/** How many images each of Imagen's calls makes for `n`: 4 at most per call, and no more in all than asked. */
export function imagenSampleCounts(n: number): number[] {
  const counts: number[] = [];
  for (let left = n; left > 0; left -= IMAGEN_MAX_SAMPLES)
    counts.push(Math.min(left, IMAGEN_MAX_SAMPLES));
  return counts;
}

/** Imagen's :predict body for one call: one instance with the prompt, that call's share of n as sampleCount. */
export function imagenBody(
  request: ImageRequest,
  model: string,
  sampleCount = Math.min(request.n, IMAGEN_MAX_SAMPLES),
): Record<string, unknown> {
  const aspectRatio = aspectRatioOf(request.size, true);
  const imageSize = imageSizeOf(request.quality, model);
  return {
    instances: [{ prompt: request.prompt }],
    parameters: {
      sampleCount,
      ...(aspectRatio ? { aspectRatio } : {}),
      ...(imageSize ? { imageSize } : {}),
    },
  };
}

/** A Gemini image model's generateContent body: the prompt (and an edit's images), asking for an image back. */
export function geminiImageBody(
  request: ImageRequest,
  model: string,
  images: readonly InputImage[] = [],
): Record<string, unknown> {
  const aspectRatio = aspectRatioOf(request.size, false);
  const imageSize = imageSizeOf(request.quality, model);
  const imageConfig = {
    ...(aspectRatio ? { aspectRatio } : {}),
    ...(imageSize ? { imageSize } : {}),
  };
  return {
    contents: [
      {
        role: "user",
        parts: [
          { text: request.prompt },
          ...images.map((image) => ({
            inlineData: { mimeType: image.mediaType, data: image.data },
          })),
        ],
      },
    ],
    generationConfig: {
      responseModalities: ["TEXT", "IMAGE"],
      ...(Object.keys(imageConfig).length > 0 ? { imageConfig } : {}),
    },
  };
}

/** A Gemini answer with no image in it: the request is the client's to change (its words, or a safety stop). */
function noImage(why: string): Failure {
  return {
    kind: "final",
    status: 400,
    message: `The upstream made no image: ${why.slice(0, 500)}`,
  };
}

/** The images of a generateContent answer (inlineData parts of its candidates), or why there are none. */
export function imagesOfGemini(body: unknown): ImageResult | Failure {
  if (!isObject(body))
    return { kind: "broken", status: 502, message: "the upstream's answer is not a JSON object" };
  const images: GeneratedImage[] = [];
  const words: string[] = [];
  const reasons: string[] = [];
  for (const candidate of Array.isArray(body.candidates) ? body.candidates : []) {
    if (!isObject(candidate)) continue;
    if (typeof candidate.finishReason === "string") reasons.push(candidate.finishReason);
    const parts = isObject(candidate.content) ? candidate.content.parts : undefined;
    for (const part of Array.isArray(parts) ? parts : []) {
      if (!isObject(part)) continue;
      const inline = isObject(part.inlineData) ? part.inlineData : part.inline_data;
      if (isObject(inline) && typeof inline.data === "string")
        images.push({
          mediaType: typeof inline.mimeType === "string" ? inline.mimeType : "image/png",
          data: inline.data,
        });
      else if (typeof part.text === "string" && part.thought !== true) words.push(part.text);
    }
  }
  if (images.length === 0) {
    const blocked = isObject(body.promptFeedback) ? body.promptFeedback.blockReason : undefined;
    const why = [
      typeof blocked === "string" ? `prompt blocked (${blocked})` : "",
      reasons.length > 0 ? `finishReason ${reasons.join(", ")}` : "",
      words.join(" ").trim(),
    ].filter((s) => s !== "");
    return noImage(why.join("; ") || "its answer held no image");
  }
  const usage = isObject(body.usageMetadata) ? body.usageMetadata : {};
  const input = typeof usage.promptTokenCount === "number" ? usage.promptTokenCount : 0;
  const output = typeof usage.candidatesTokenCount === "number" ? usage.candidatesTokenCount : 0;
  return { images, usage: { input, output } };
}

/** The images of an Imagen :predict answer; a prediction its filters removed says why instead. */
export function imagesOfImagen(body: unknown): ImageResult | Failure {
  if (!isObject(body))
    return { kind: "broken", status: 502, message: "the upstream's answer is not a JSON object" };
  const images: GeneratedImage[] = [];
  const filtered: string[] = [];
  for (const prediction of Array.isArray(body.predictions) ? body.predictions : []) {
    if (!isObject(prediction)) continue;
    if (typeof prediction.bytesBase64Encoded === "string")
      images.push({
        mediaType: typeof prediction.mimeType === "string" ? prediction.mimeType : "image/png",
        data: prediction.bytesBase64Encoded,
      });
    else if (typeof prediction.raiFilteredReason === "string")
      filtered.push(prediction.raiFilteredReason);
  }
  if (images.length === 0)
    return noImage(filtered.join("; ") || "its answer held no prediction with an image");
  return { images };
}

/**
 * OpenAI's image answer. A `url` is a data: URL of the image, because levity hosts nothing: it
 * opens in a browser and an <img>, and a client that downloads it must read data: URLs.
 */
export function renderOpenAIImages(
  result: ImageResult,
  format: ImageFormat,
  created: number,
): Record<string, unknown> {
  return {
    created,
    data: result.images.map((image) =>
      format === "url"
        ? { url: `data:${image.mediaType};base64,${image.data}` }
        : { b64_json: image.data },
    ),
    ...(result.usage
      ? {
          usage: {
            input_tokens: result.usage.input,
            output_tokens: result.usage.output,
            total_tokens: result.usage.input + result.usage.output,
          },
        }
      : {}),
  };
}
