import { jsonReply } from "./fake-server.ts";

/*
 * The embeddings endpoints of the fake OpenAI and Gemini upstreams, as their references describe
 * them. OpenAI's POST /v1/embeddings: `input` a string, strings, token ids or lists of them, at
 * most 2,048 items and none empty, at most 300,000 tokens in all; `dimensions` only for text-embedding-3 models;
 * `encoding_format` float or base64 (little-endian float32); usage in prompt_tokens and
 * total_tokens. Gemini's :embedContent and :batchEmbedContents: at most 100 requests in a batch
 * (its 400 says "at most 100 requests can be in one batch"), each naming the model of the URL;
 * `outputDimensionality` truncates the vector from the end; no usage.
 *
 * A vector is made from its text, so a test can tell which input each vector belongs to.
 */

export const OPENAI_EMBEDDING_MODELS = ["text-embedding-3-small", "text-embedding-ada-002"];
export const GEMINI_EMBEDDING_MODELS = ["gemini-embedding-001"];
const OPENAI_DEFAULT_SIZE = 1536;
const GEMINI_DEFAULT_SIZE = 3072;

/** The fakes' vector for a text (or token ids joined by spaces): float32 values, from the characters. */
export function fakeVector(text: string, size: number): number[] {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    hash = Math.imul(hash ^ (hash >>> 15), 2246822507) >>> 0;
    out.push(Math.fround((hash % 2000) / 1000 - 1));
  }
  return out;
}

function float32Base64(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    bytes.writeFloatLE(v, i * 4);
  });
  return bytes.toString("base64");
}

const openaiInvalid = (message: string, param: string | null) =>
  jsonReply({ error: { message, type: "invalid_request_error", param, code: null } }, 400);

const INVALID_INPUT =
  "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";

function isTokens(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => Number.isInteger(v));
}

/** OpenAI's POST /v1/embeddings. */
export function openaiEmbeddings(body: any): Response {
  if (!OPENAI_EMBEDDING_MODELS.includes(body.model))
    return jsonReply(
      {
        error: {
          message: `The model \`${body.model}\` does not exist or you do not have access to it.`,
          type: "invalid_request_error",
          param: null,
          code: "model_not_found",
        },
      },
      404,
    );
  const raw = body.input;
  const items: unknown[] =
    typeof raw === "string" || isTokens(raw) ? [raw] : Array.isArray(raw) ? raw : [];
  if (items.length === 0 || items.length > 2048) return openaiInvalid(INVALID_INPUT, null);
  const texts: string[] = [];
  let tokens = 0;
  for (const item of items) {
    if (typeof item === "string" && item !== "") {
      texts.push(item);
      tokens += Math.ceil(item.length / 4);
    } else if (isTokens(item)) {
      texts.push(item.join(" "));
      tokens += item.length;
    } else return openaiInvalid(INVALID_INPUT, null);
  }
  if (tokens > 300_000)
    return jsonReply(
      {
        error: {
          message: `Requested ${tokens} tokens, max 300000 tokens per request`,
          type: "max_tokens_per_request",
          param: null,
          code: "max_tokens_per_request",
        },
      },
      400,
    );
  if (body.dimensions !== undefined && !String(body.model).startsWith("text-embedding-3"))
    return openaiInvalid("This model does not support specifying dimensions.", null);
  if (body.encoding_format !== undefined && !["float", "base64"].includes(body.encoding_format))
    return openaiInvalid(
      `Invalid value for 'encoding_format': '${body.encoding_format}'. Supported values are: 'float' and 'base64'.`,
      "encoding_format",
    );
  const size = body.dimensions ?? OPENAI_DEFAULT_SIZE;
  return jsonReply({
    object: "list",
    data: texts.map((text, index) => {
      const vector = fakeVector(text, size);
      return {
        object: "embedding",
        index,
        embedding: body.encoding_format === "base64" ? float32Base64(vector) : vector,
      };
    }),
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

const geminiInvalid = (message: string, status = 400, code = "INVALID_ARGUMENT") =>
  jsonReply({ error: { code: status, message, status: code } }, status);

function geminiOne(request: any, where: string): { values: number[] } | string {
  const parts = request?.content?.parts;
  if (!Array.isArray(parts) || parts.length === 0)
    return `* ${where}.content.parts: contents.parts must not be empty.\n`;
  const text = parts.map((p: any) => p.text ?? "").join("\n");
  const size = request.outputDimensionality;
  return { values: fakeVector(text, GEMINI_DEFAULT_SIZE).slice(0, size ?? GEMINI_DEFAULT_SIZE) };
}

/** Gemini's :embedContent and :batchEmbedContents for `model`. */
export function geminiEmbeddings(model: string, method: string, body: any): Response {
  if (!GEMINI_EMBEDDING_MODELS.includes(model))
    return geminiInvalid(
      `models/${model} is not found for API version v1beta, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
      404,
      "NOT_FOUND",
    );
  if (method === "embedContent") {
    const one = geminiOne(body, "EmbedContentRequest");
    return typeof one === "string" ? geminiInvalid(one) : jsonReply({ embedding: one });
  }
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0)
    return geminiInvalid("* BatchEmbedContentsRequest.requests: requests must not be empty.\n");
  if (requests.length > 100)
    return geminiInvalid(
      "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n",
    );
  const embeddings: { values: number[] }[] = [];
  for (const [i, request] of requests.entries()) {
    if (request.model !== `models/${model}`)
      return geminiInvalid(
        `* BatchEmbedContentsRequest.requests[${i}].model: the model of each request must be the model of the batch (models/${model}).\n`,
      );
    const one = geminiOne(request, `BatchEmbedContentsRequest.requests[${i}]`);
    if (typeof one === "string") return geminiInvalid(one);
    embeddings.push(one);
  }
  return jsonReply({ embeddings });
}
