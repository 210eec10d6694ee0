import {
  base64,
  type EmbedAnswer,
  type EmbedInput,
  type EmbedRequest,
  floats,
  MAX_INPUTS,
  type Vector,
  isDimensions,
  MAX_DIMENSIONS,
} from "../embedding.ts";
import { isObject, type JsonObject } from "../json.ts";
import { badRequest } from "../shared.ts";

/*
 * OpenAI's POST /v1/embeddings: `input` is a string, a list of strings, a list of token ids or a
 * list of such lists; the answer is `data[i].embedding`, floats or base64 of float32.
 */

/** Inputs per call to an OpenAI-compatible upstream (OpenAI's documented limit). */
export const OPENAI_EMBED_BATCH = MAX_INPUTS;

/**
 * Tokens per call, by levity's estimate: OpenAI refuses more than 300,000 summed over a request
 * ("Requested N tokens, max 300000 tokens per request"); a fifth is left for the difference
 * between levity's tokenizer and the model's.
 */
export const OPENAI_EMBED_TOKENS = 240_000;

function isTokenList(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((id) => Number.isInteger(id) && (id as number) >= 0)
  );
}

function inputsOf(input: unknown): EmbedInput[] {
  if (typeof input === "string") {
    if (input === "") throw badRequest("input must not be an empty string.", "input");
    return [{ text: input }];
  }
  if (!Array.isArray(input) || input.length === 0)
    throw badRequest(
      "input must be a string, a list of strings, a list of token ids or a list of such lists, and not empty.",
      "input",
    );
  if (isTokenList(input)) return [{ tokens: input }];
  if (input.length > MAX_INPUTS)
    throw badRequest(
      `input has ${input.length} items; at most ${MAX_INPUTS} can be embedded in one request.`,
      "input",
    );
  return input.map((item, i) => {
    if (typeof item === "string" && item !== "") return { text: item };
    if (isTokenList(item)) return { tokens: item };
    throw badRequest(
      `input[${i}] must be a non-empty string or a list of token ids (integers from 0), and input must not mix them with other kinds.`,
      `input[${i}]`,
    );
  });
}

export function parseOpenAIEmbedRequest(body: JsonObject): EmbedRequest {
  const inputs = inputsOf(body.input);
  const format = body.encoding_format;
  if (format !== undefined && format !== null && format !== "float" && format !== "base64")
    throw badRequest(
      `encoding_format must be "float" or "base64", not ${JSON.stringify(format).slice(0, 40)}.`,
      "encoding_format",
    );
  const dimensions = body.dimensions;
  if (dimensions !== undefined && dimensions !== null && !isDimensions(dimensions))
    throw badRequest(
      `dimensions must be a whole number from 1 to ${MAX_DIMENSIONS}.`,
      "dimensions",
    );
  if (typeof dimensions === "number") for (const input of inputs) input.dimensions = dimensions;
  return {
    inputs,
    encoding: format === "base64" ? "base64" : "float",
    user: typeof body.user === "string" ? body.user : undefined,
  };
}

/** One call's body: the inputs as a list (token ids as lists of ids), the dimensions they share. */
export function openaiEmbedBody(
  model: string,
  inputs: readonly EmbedInput[],
  request: EmbedRequest,
): JsonObject {
  const dimensions = inputs[0]?.dimensions;
  return {
    model,
    input: inputs.map((input) => input.tokens ?? input.text ?? ""),
    encoding_format: request.encoding,
    ...(dimensions === undefined ? {} : { dimensions }),
    ...(request.user === undefined ? {} : { user: request.user }),
  };
}

/** The vectors of one call in input order (`index` says it), and its prompt tokens. */
export function parseOpenAIEmbedAnswer(
  body: unknown,
  expected: number,
): { vectors: Vector[]; tokens?: number } | undefined {
  if (!isObject(body) || !Array.isArray(body.data) || body.data.length !== expected)
    return undefined;
  const vectors = new Array<Vector>(expected);
  for (const [position, item] of body.data.entries()) {
    if (!isObject(item)) return undefined;
    const index = typeof item.index === "number" ? item.index : position;
    const embedding = item.embedding;
    const valid =
      typeof embedding === "string" ||
      (Array.isArray(embedding) && embedding.every((v) => typeof v === "number"));
    if (!valid || index < 0 || index >= expected || vectors[index] !== undefined) return undefined;
    vectors[index] = embedding as Vector;
  }
  const usage = isObject(body.usage) ? body.usage.prompt_tokens : undefined;
  return { vectors, tokens: typeof usage === "number" ? usage : undefined };
}

/** The answer an OpenAI client reads: `data` in input order, in the encoding it asked for. */
export function renderOpenAIEmbedAnswer(
  answer: EmbedAnswer,
  model: string,
  encoding: EmbedRequest["encoding"],
): JsonObject {
  return {
    object: "list",
    data: answer.vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: encoding === "base64" ? base64(vector) : floats(vector),
    })),
    model,
    usage: { prompt_tokens: answer.tokens, total_tokens: answer.tokens },
  };
}
