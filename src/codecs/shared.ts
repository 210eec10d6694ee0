import type { JsonObject } from "../http/body.ts";
import { GatewayError } from "../http/errors.ts";
import type { ChatRequest, ChatResponse, StreamEvent } from "../ir.ts";

export interface RenderOptions {
  /** OpenAI `stream_options.include_usage`: a final usage-only chunk. */
  includeUsage: boolean;
  /** Gemini streams as SSE with `?alt=sse`, else as one incrementally written JSON array. */
  geminiFraming: "sse" | "json-array";
}

/** One wire dialect, both directions. Issue 3 adds the upstream half (build request, parse response and stream). */
export interface Codec {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest;
  renderResponse(response: ChatResponse): unknown;
  renderStream(events: AsyncIterable<StreamEvent>, options: RenderOptions): AsyncIterable<string>;
}

export function badRequest(message: string, param?: string): GatewayError {
  return new GatewayError(400, message, { param: param ?? null });
}

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function optionalNumber(body: JsonObject, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw badRequest(`${key} must be a number.`, key);
  return value;
}

export function optionalStrings(body: JsonObject, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw badRequest(`${key} must be a string or a list of strings.`, key);
}

export function randomId(prefix: string): string {
  return prefix + crypto.randomUUID().replace(/-/g, "").slice(0, 24);
}

/** An id in the form the client's dialect uses (`chatcmpl-…`, `msg_…`, `resp_…`); an id already in that form is kept. */
export function idWithPrefix(id: string, prefix: string): string {
  return id.startsWith(prefix) ? id : prefix + id;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

export function sseData(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

const encoder = new TextEncoder();

/** Pull-based: a slow client slows the producer instead of growing a buffer. */
export function byteStream(chunks: AsyncIterable<string>): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
