import { offProtocol } from "../failure.ts";
import type { ErrorBodyReading } from "./codec.ts";
import { GatewayError } from "../failure.ts";
import type { StreamEvent, Turn } from "../ir.ts";

import { isObject, type JsonObject } from "./json.ts";

export function badRequest(message: string, param?: string): GatewayError {
  return new GatewayError(400, message, { param: param ?? null });
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function optionalNumber(body: JsonObject, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value))
    throw badRequest(`${key} must be a number.`, key);
  return value;
}

export function optionalString(body: JsonObject, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest(`${key} must be a string.`, key);
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
  // A string pattern: a regular expression literal here was one more object every request. (A
  // pool of random bytes would save two strings more, but it is module state, which src/ keeps
  // out: test/module-state.test.ts.)
  return prefix + crypto.randomUUID().replaceAll("-", "").slice(0, 24);
}

/** An id in the form the client's dialect uses (`chatcmpl-…`, `msg_…`, `resp_…`); an id already in that form is kept. */
export function idWithPrefix(id: string, prefix: string): string {
  return id.startsWith(prefix) ? id : prefix + id;
}

/** A tool call id for dialects that have none (Gemini): valid as an OpenAI and an Anthropic id alike. */
export function newCallId(): string {
  return randomId("call_");
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Tool-call arguments as an object, for dialects that carry objects (Anthropic, Gemini). Text
 * that is not a JSON object is kept under one key rather than lost.
 */
export function argumentsObject(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  try {
    const parsed = JSON.parse(text);
    if (isObject(parsed)) return parsed;
  } catch {
    // fall through
  }
  return { _unparsed_arguments: text };
}

export function argumentsText(value: unknown): string {
  return JSON.stringify(isObject(value) ? value : {});
}

export function sseData(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Parses one streamed JSON document; a broken one becomes an error the stream can report. */
export function parseStreamJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw offProtocol(`the upstream sent a stream event that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** An error object a stream chunk carried (`{error: {code?, message}}`), as the IR's error event. */
export function streamError(error: Record<string, unknown>): StreamEvent {
  const status =
    typeof error.code === "number" && error.code >= 400 && error.code < 600
      ? error.code
      : error.code === "rate_limit_exceeded"
        ? 429
        : 500;
  return {
    type: "error",
    status,
    message: String(error.message ?? "the upstream reported an error"),
  };
}

/** Consecutive turns of one role become one turn: Anthropic requires alternation, Gemini prefers it. */
export function mergeSameRoleTurns(turns: Turn[]): Turn[] {
  const merged: Turn[] = [];
  for (const turn of turns) {
    const last = merged.at(-1);
    // Appended in place, one part at a time: copying the merged list on every turn made N
    // consecutive turns cost N^2 (100,000 user messages: 23 s), and push(...parts) throws past
    // the engine's argument limit.
    if (last && last.role === turn.role) for (const part of turn.parts) last.parts.push(part);
    else merged.push({ role: turn.role, parts: [...turn.parts] });
  }
  return merged;
}

/**
 * An upstream's error body as a failure: `pick` finds the message (and a retry hint) in the
 * dialect's JSON; a body that is not JSON is quoted as it came.
 */
export function failureFromBody(
  text: string,
  pick: (json: unknown) => ErrorBodyReading | undefined,
): ErrorBodyReading {
  try {
    const found = pick(JSON.parse(text));
    if (found) return found;
  } catch {
    // not JSON
  }
  return { message: text.slice(0, 500) || "the upstream returned an error with no body" };
}

/** Clamps a sampling temperature into the target's range. */
export function clamp(value: number | undefined, min: number, max: number): number | undefined {
  return value === undefined ? undefined : Math.min(max, Math.max(min, value));
}

/** Tokens of thinking for an effort level, where the target wants a budget. A gateway policy, not a provider spec. */
export const EFFORT_BUDGET: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 32768,
  max: 32768,
};

export function effortFromBudget(budget: number): "low" | "medium" | "high" {
  if (budget <= 2048) return "low";
  if (budget <= 12_000) return "medium";
  return "high";
}

const markerEncoder = new TextEncoder();

/** The byte forms of a dialect's final-event markers, made once. */
export function markers(...words: string[]): readonly Uint8Array[] {
  return words.map((word) => markerEncoder.encode(word));
}

/** The first object in a JSON list that `matches`; undefined when the value is no list. */
export function firstWhere(list: unknown, matches: (item: JsonObject) => boolean): unknown {
  return Array.isArray(list) ? list.find((item) => isObject(item) && matches(item)) : undefined;
}

const encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** An SSE comment: every SSE reader skips it, and it keeps the connection visibly alive. */
export const SSE_KEEP_ALIVE: Uint8Array = encoder.encode(": keep-alive\n\n");

/** The list nothing() gives: one, shared, frozen (a write throws rather than reach another request). */
const NOTHING: readonly never[] = Object.freeze([]);

/**
 * An empty list for a request's field that has nothing (its system prompt, its tools), where
 * nothing writes to the list once it is parsed: one list shared by all, not one made a request.
 */
export function nothing<T>(): T[] {
  return NOTHING as unknown as T[];
}

/** An object with no fields, to spread where there are none to add: one, shared, never written. */
export const NO_FIELDS: Readonly<Record<string, never>> = Object.freeze({});

/** jsonResponse's init when none is given: one object, shared, never written (one a response before). */
const NO_INIT: Readonly<{ status?: number; headers?: Headers }> = Object.freeze({});

/** A JSON answer, as every dialect sends one (content-type without a charset, as the providers do). */
export function jsonResponse(
  data: unknown,
  init: Readonly<{ status?: number; headers?: Headers }> = NO_INIT,
): Response {
  // Without headers of the caller's, the response's own are made from a shared record: a Headers
  // to copy them from, and the init around it, were two objects an answer.
  if (init.headers === undefined)
    return new Response(
      JSON.stringify(data),
      init.status === undefined || init.status === 200
        ? JSON_INIT
        : { status: init.status, headers: JSON_HEADERS },
    );
  const headers = init.headers;
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(data), { status: init.status ?? 200, headers });
}

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "application/json",
});
const JSON_INIT: Readonly<{ status: number; headers: Readonly<Record<string, string>> }> =
  Object.freeze({ status: 200, headers: JSON_HEADERS });
