import { jsonReply, type RecordedRequest } from "./fake-server.ts";
import { RED_PNG_BASE64 } from "./red-png.ts";

/*
 * The image endpoints of the fake upstreams, per the providers' references: OpenAI's
 * POST /v1/images/generations (GPT image models vs DALL·E: sizes, qualities, response_format, n),
 * Gemini's image models through generateContent (inlineData parts, imageConfig) and Imagen's
 * :predict (instances, parameters, predictions). Every image is the red 8x8 PNG.
 */

const openaiError = (message: string, param: string | null, code: string | null = null) =>
  jsonReply({ error: { message, type: "invalid_request_error", param, code } }, 400);

const SIZES: Record<string, string[]> = {
  gpt: ["1024x1024", "1536x1024", "1024x1536", "auto"],
  "dall-e-3": ["1024x1024", "1792x1024", "1024x1792"],
  "dall-e-2": ["256x256", "512x512", "1024x1024"],
};
const QUALITIES: Record<string, string[]> = {
  gpt: ["low", "medium", "high", "auto"],
  "dall-e-3": ["standard", "hd", "auto"],
  "dall-e-2": ["standard", "auto"],
};

/** A hosted URL as OpenAI gives one for DALL·E (valid 60 minutes there; here it only has to look like one). */
export const FAKE_IMAGE_URL = "https://fake-openai-images.invalid/img-1.png";

/** POST /v1/images/generations, from a JSON body or an edit's form fields. */
export function openaiImages(fields: Record<string, any>, edit: boolean): Response {
  const model = String(fields.model ?? "dall-e-2");
  const kind = model.startsWith("gpt-image")
    ? "gpt"
    : model === "dall-e-3"
      ? "dall-e-3"
      : "dall-e-2";
  if (typeof fields.prompt !== "string" || fields.prompt === "")
    return openaiError(
      "Missing required parameter: 'prompt'.",
      "prompt",
      "missing_required_parameter",
    );
  const n = Number(fields.n ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 10)
    return openaiError(
      `Invalid 'n': integer out of range, expected 1 to 10.`,
      "n",
      "integer_out_of_range",
    );
  if (kind === "dall-e-3" && n !== 1)
    return openaiError("You must provide n=1 for this model.", "n");
  if (fields.size !== undefined && !SIZES[kind]!.includes(fields.size))
    return openaiError(
      `Invalid value: '${fields.size}'. Supported values are: ${SIZES[kind]!.map((s) => `'${s}'`).join(", ")}.`,
      "size",
      "invalid_value",
    );
  if (fields.quality !== undefined && !QUALITIES[kind]!.includes(fields.quality))
    return openaiError(`Invalid value: '${fields.quality}'.`, "quality", "invalid_value");
  if (kind === "gpt" && fields.response_format !== undefined)
    return openaiError(
      "Unknown parameter: 'response_format'.",
      "response_format",
      "unknown_parameter",
    );
  if (fields.stream === true || fields.stream === "true") {
    if (kind !== "gpt")
      return openaiError("Streaming is only supported for GPT image models.", "stream");
    return streamedImage(
      edit ? "image_edit" : "image_generation",
      Number(fields.partial_images ?? 0),
    );
  }
  const format = kind === "gpt" ? "b64_json" : (fields.response_format ?? "url");
  const data = Array.from({ length: n }, () => ({
    ...(format === "url" ? { url: FAKE_IMAGE_URL } : { b64_json: RED_PNG_BASE64 }),
    ...(kind === "dall-e-3" ? { revised_prompt: `A picture of ${fields.prompt}` } : {}),
  }));
  return jsonReply({
    created: 1_700_000_000,
    data,
    ...(kind === "gpt"
      ? {
          usage: {
            input_tokens: 50 + (edit ? 100 : 0),
            output_tokens: 272 * n,
            total_tokens: 50 + (edit ? 100 : 0) + 272 * n,
            input_tokens_details: { text_tokens: 50, image_tokens: edit ? 100 : 0 },
          },
        }
      : {}),
  });
}

/** The form of a multipart request, as the fake received it. */
export async function formOf(request: RecordedRequest): Promise<FormData> {
  return (await new Response(request.bytes, {
    headers: { "content-type": request.headers.get("content-type") ?? "" },
  }).formData()) as unknown as FormData;
}

const EDIT_TYPES = ["image/jpeg", "image/png", "image/webp"];

/** POST /v1/images/edits: a multipart form with the image(s) (image, or image[] for several) and text fields. */
export async function openaiImageEdit(request: RecordedRequest): Promise<Response> {
  if (!request.headers.get("content-type")?.startsWith("multipart/form-data"))
    return openaiError("Invalid Content-Type header, expected multipart/form-data.", null);
  const form = await formOf(request);
  const files = [...form.getAll("image"), ...form.getAll("image[]")].filter(
    (value): value is File => typeof value !== "string",
  );
  if (files.length === 0)
    return openaiError(
      "Missing required parameter: 'image'.",
      "image",
      "missing_required_parameter",
    );
  for (const file of files)
    if (!EDIT_TYPES.includes(file.type.split(";")[0]!))
      return openaiError(
        `Invalid file 'image': unsupported mimetype ('${file.type}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`,
        "image",
        "unsupported_file_mimetype",
      );
  const fields: Record<string, string> = {};
  for (const [name, value] of form.entries()) if (typeof value === "string") fields[name] = value;
  return openaiImages(fields, true);
}

/** A GPT image model's stream: partial_images partial images, then the image with its usage. */
function streamedImage(prefix: string, partials: number): Response {
  const common = {
    created_at: 1_700_000_000,
    size: "1024x1024",
    quality: "medium",
    background: "opaque",
    output_format: "png",
  };
  const events = [
    ...Array.from({ length: partials }, (_, i) => ({
      type: `${prefix}.partial_image`,
      b64_json: RED_PNG_BASE64,
      partial_image_index: i,
      ...common,
    })),
    {
      type: `${prefix}.completed`,
      b64_json: RED_PNG_BASE64,
      ...common,
      usage: { input_tokens: 50, output_tokens: 272, total_tokens: 322 },
    },
  ];
  return new Response(
    events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(""),
    { headers: { "content-type": "text/event-stream; charset=utf-8" } },
  );
}

const geminiError = (message: string) =>
  jsonReply({ error: { code: 400, message, status: "INVALID_ARGUMENT" } }, 400);

const GEMINI_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"];
const IMAGEN_RATIOS = ["1:1", "3:4", "4:3", "9:16", "16:9"];

/** Whether a Gemini model makes images through generateContent (gemini-2.5-flash-image and its kin). */
export function isGeminiImageModel(model: string): boolean {
  return /^gemini-.*-image/.test(model);
}

/** A prompt with this word gets no image: a safety stop, as the providers give one. */
export const REFUSED_WORD = "forbidden";

/** A Gemini image model's generateContent: the text and an inlineData image, or the same as a stream. */
export function geminiImageModel(
  model: string,
  request: RecordedRequest,
  stream: boolean,
  streamed: (events: string[], contentType?: string) => Response,
): Response {
  const body = request.json ?? {};
  const config = body.generationConfig?.imageConfig;
  if (config?.aspectRatio !== undefined && !GEMINI_RATIOS.includes(config.aspectRatio))
    return geminiError(`Unsupported aspect ratio: ${config.aspectRatio}`);
  if (config?.imageSize !== undefined && model.startsWith("gemini-2."))
    return geminiError("Image size is not supported for this model.");
  const modalities: string[] | undefined = body.generationConfig?.responseModalities;
  if (modalities && !modalities.includes("IMAGE"))
    return jsonReply(chunk(model, [{ text: "I can describe it in words only." }], true, 8));
  const prompt = JSON.stringify(body.contents ?? []);
  if (prompt.includes(REFUSED_WORD))
    return jsonReply({
      candidates: [{ finishReason: "IMAGE_SAFETY", index: 0 }],
      usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 },
      modelVersion: model,
    });
  const parts: object[] = [
    { text: "Here is the picture." },
    { inlineData: { mimeType: "image/png", data: RED_PNG_BASE64 } },
  ];
  if (!stream) return jsonReply(chunk(model, parts, true, 1290));
  const chunks = [chunk(model, [parts[0]!], false, 4), chunk(model, [parts[1]!], true, 1294)];
  if (request.query.get("alt") === "sse")
    return streamed(
      chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`),
      "text/event-stream",
    );
  return streamed(
    chunks.map((c, i) => (i === 0 ? "[" : ",\r\n") + JSON.stringify(c) + (i === 1 ? "]" : "")),
    "application/json; charset=UTF-8",
  );
}

function chunk(model: string, parts: object[], last: boolean, output: number) {
  return {
    candidates: [
      {
        content: { role: "model", parts },
        ...(last ? { finishReason: "STOP" } : {}),
        index: 0,
      },
    ],
    usageMetadata: {
      promptTokenCount: 5,
      candidatesTokenCount: output,
      totalTokenCount: 5 + output,
    },
    modelVersion: model,
    responseId: "fake-image-response",
  };
}

/** Imagen's :predict: sampleCount images (1 to 4), or none when every one is filtered. */
export function imagenPredict(request: RecordedRequest): Response {
  const body = request.json ?? {};
  const prompt = body.instances?.[0]?.prompt;
  if (typeof prompt !== "string" || prompt === "")
    return geminiError("Prompt is required in instances[0].prompt.");
  const parameters = body.parameters ?? {};
  const count = parameters.sampleCount ?? 4;
  if (!Number.isInteger(count) || count < 1 || count > 4)
    return geminiError("Number of images must be between 1 and 4.");
  if (parameters.aspectRatio !== undefined && !IMAGEN_RATIOS.includes(parameters.aspectRatio))
    return geminiError(`Unsupported aspect ratio: ${parameters.aspectRatio}`);
  if (parameters.imageSize !== undefined && !["1K", "2K"].includes(parameters.imageSize))
    return geminiError(`Unsupported image size: ${parameters.imageSize}`);
  // Imagen drops a filtered image from predictions; with none left the answer is empty.
  if (prompt.includes(REFUSED_WORD)) return jsonReply({});
  return jsonReply({
    predictions: Array.from({ length: count }, () => ({
      mimeType: "image/png",
      bytesBase64Encoded: RED_PNG_BASE64,
    })),
  });
}
