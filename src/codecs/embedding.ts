// Imported, not global: the Deno host has no global Buffer.
import { Buffer } from "node:buffer";
import type { JsonObject } from "./json.ts";

/*
 * Embeddings between OpenAI's and Gemini's wire formats. Their requests differ more in shape than
 * in meaning (a list of inputs, a vector size, a purpose), so they meet in this small
 * representation rather than in the chat IR.
 */

export interface EmbedInput {
  /** The text to embed; absent for token ids. */
  text?: string;
  /** Token ids, as OpenAI clients may send them (only an OpenAI-compatible upstream reads them). */
  tokens?: number[];
  /** Gemini's Content as the client sent it, for a Gemini upstream: parts other than text kept. */
  content?: JsonObject;
  /** Gemini's taskType and title, per input as its batch carries them. */
  taskType?: string;
  title?: string;
  /** Gemini's outputDimensionality, per input; OpenAI's `dimensions` for every input. */
  dimensions?: number;
}

export interface EmbedRequest {
  inputs: EmbedInput[];
  /** How the client wants its vectors (OpenAI's encoding_format); Gemini clients read floats. */
  encoding: "float" | "base64";
  /** OpenAI's `user`, passed on to an OpenAI-compatible upstream. */
  user?: string;
}

/** A vector as floats, or as base64 of little-endian float32 (OpenAI's encoding_format: base64). */
export type Vector = number[] | string;

export interface EmbedAnswer {
  vectors: Vector[];
  /** Prompt tokens; `estimated` when the upstream reports none (Gemini, echo). */
  tokens: number;
  estimated: boolean;
}

/** The most inputs one request may carry, from either client: OpenAI's documented limit. */
export const MAX_INPUTS = 2048;

/** A vector as floats, decoding OpenAI's base64 form. */
export function floats(vector: Vector): number[] {
  if (typeof vector !== "string") return vector;
  const bytes = Buffer.from(vector, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(Math.floor(bytes.byteLength / 4));
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** OpenAI's base64 form: the float32 values, little-endian whatever the host's byte order. */
export function base64(vector: Vector): string {
  if (typeof vector === "string") return vector;
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true);
  return Buffer.from(bytes).toString("base64");
}

/**
 * Whether a model's name says it embeds, for lists that do not say (OpenAI's):
 * text-embedding-3-small, gemini-embedding-001, nomic-embed-text, mxbai-embed-large.
 */
export function namedForEmbedding(model: string): boolean {
  return /embed/i.test(model);
}

/** The text of an input, for an upstream that reads text only and for token estimates. */
export function inputText(input: EmbedInput): string {
  return input.text ?? "";
}

/**
 * The most values a vector may be asked to have. Providers' largest are 3,072; a client asking for
 * millions would make levity (echo) or an upstream build a vector that size for every input.
 */
export const MAX_DIMENSIONS = 65_536;

/** Whether `value` is a size a vector may be asked for: a whole number from 1 to MAX_DIMENSIONS. */
export function isDimensions(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) > 0 && (value as number) <= MAX_DIMENSIONS;
}
