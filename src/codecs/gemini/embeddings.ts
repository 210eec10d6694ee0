import {
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
import { GEMINI_DEFAULT_API_VERSION } from "./base-url.ts";

/*
 * Gemini's :embedContent (one Content) and :batchEmbedContents (`requests`, each an
 * EmbedContentRequest); answers are `embedding.values` and `embeddings[i].values`. levity always
 * calls batchEmbedContents, which serves one input as well as many.
 */

/** Requests per batchEmbedContents call: Gemini refuses more than 100 ("at most 100 requests can be in one batch"). */
export const GEMINI_EMBED_BATCH = 100;

/** Gemini's task types (TaskType in its API reference). */
const TASK_TYPES: ReadonlySet<string> = new Set([
  "TASK_TYPE_UNSPECIFIED",
  "RETRIEVAL_QUERY",
  "RETRIEVAL_DOCUMENT",
  "SEMANTIC_SIMILARITY",
  "CLASSIFICATION",
  "CLUSTERING",
  "QUESTION_ANSWERING",
  "FACT_VERIFICATION",
  "CODE_RETRIEVAL_QUERY",
]);

function inputOf(request: unknown, where: string): EmbedInput {
  if (!isObject(request)) throw badRequest(`${where} must be an object.`, where);
  const content = request.content;
  if (!isObject(content) || !Array.isArray(content.parts) || content.parts.length === 0)
    throw badRequest(
      `${where}.content must be a Content with at least one part.`,
      `${where}.content`,
    );
  const texts: string[] = [];
  let other = false;
  for (const part of content.parts) {
    if (isObject(part) && typeof part.text === "string") texts.push(part.text);
    else other = true;
  }
  // As OpenAI refuses an empty string: there is nothing to embed.
  if (!other && texts.every((text) => text === ""))
    throw badRequest(`${where}.content has no text to embed.`, `${where}.content`);
  const input: EmbedInput = { content };
  // Only text goes to an upstream that reads text; Gemini itself gets the Content as it came.
  if (!other) input.text = texts.join("\n");
  const taskType = request.taskType;
  if (taskType !== undefined) {
    if (typeof taskType !== "string" || !TASK_TYPES.has(taskType))
      throw badRequest(
        `${where}.taskType must be one of ${[...TASK_TYPES].join(", ")}.`,
        `${where}.taskType`,
      );
    input.taskType = taskType;
  }
  if (typeof request.title === "string") input.title = request.title;
  const dimensions = request.outputDimensionality;
  if (dimensions !== undefined) {
    if (!isDimensions(dimensions))
      throw badRequest(
        `${where}.outputDimensionality must be a whole number from 1 to ${MAX_DIMENSIONS}.`,
        `${where}.outputDimensionality`,
      );
    input.dimensions = dimensions as number;
  }
  return input;
}

/** An :embedContent body (`batch` false) or a :batchEmbedContents one. */
export function parseGeminiEmbedRequest(body: JsonObject, batch: boolean): EmbedRequest {
  if (!batch) return { inputs: [inputOf(body, "request")], encoding: "float" };
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0)
    throw badRequest("requests must be a non-empty list of EmbedContentRequest.", "requests");
  if (requests.length > MAX_INPUTS)
    throw badRequest(
      `requests has ${requests.length} items; at most ${MAX_INPUTS} can be embedded in one request.`,
      "requests",
    );
  return {
    inputs: requests.map((request, i) => inputOf(request, `requests[${i}]`)),
    encoding: "float",
  };
}

/** One batchEmbedContents body for the model, each input with its own purpose and size. */
export function geminiEmbedBody(model: string, inputs: readonly EmbedInput[]): JsonObject {
  const name = `models/${model}`;
  return {
    requests: inputs.map((input) => ({
      model: name,
      content: input.content ?? { parts: [{ text: input.text ?? "" }] },
      ...(input.taskType === undefined ? {} : { taskType: input.taskType }),
      ...(input.title === undefined ? {} : { title: input.title }),
      ...(input.dimensions === undefined ? {} : { outputDimensionality: input.dimensions }),
    })),
  };
}

export function geminiEmbedPath(model: string, apiVersion: string | undefined): string {
  return `/${apiVersion ?? GEMINI_DEFAULT_API_VERSION}/models/${encodeURIComponent(model)}:batchEmbedContents`;
}

/** The vectors of one batchEmbedContents answer, in request order; Gemini reports no tokens. */
export function parseGeminiEmbedAnswer(
  body: unknown,
  expected: number,
): { vectors: Vector[]; tokens?: number } | undefined {
  if (!isObject(body) || !Array.isArray(body.embeddings) || body.embeddings.length !== expected)
    return undefined;
  const vectors: Vector[] = [];
  for (const embedding of body.embeddings) {
    if (!isObject(embedding) || !Array.isArray(embedding.values)) return undefined;
    if (!embedding.values.every((v) => typeof v === "number")) return undefined;
    vectors.push(embedding.values as number[]);
  }
  return { vectors };
}

/** What a Gemini client reads: `embedding` for :embedContent, `embeddings` for the batch. */
export function renderGeminiEmbedAnswer(answer: EmbedAnswer, batch: boolean): JsonObject {
  if (!batch) return { embedding: { values: floats(answer.vectors[0] ?? []) } };
  return { embeddings: answer.vectors.map((vector) => ({ values: floats(vector) })) };
}
