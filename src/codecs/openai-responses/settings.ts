import { badRequest, randomId } from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { ResponsesSettings } from "../codec.ts";

/*
 * The Responses request settings that the Response object reports back (the Open Responses
 * specification makes every one of them a required field) but that the IR does not carry: they
 * do not change what an upstream is asked, or levity cannot honour them upstream anyway.
 */

function numberOr(body: JsonObject, key: string, fallback: number): number {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value))
    throw badRequest(`${key} must be a number.`, key);
  return value;
}

function integerOrNull(body: JsonObject, key: string): number | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
    throw badRequest(`${key} must be a whole number of at least 0.`, key);
  return value;
}

function stringOrNull(body: JsonObject, key: string): string | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw badRequest(`${key} must be a string.`, key);
  return value;
}

function metadataOf(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === "string"))
    throw badRequest("metadata must be an object of string values.", "metadata");
  return value as Record<string, string>;
}

function truncationOf(value: unknown): "auto" | "disabled" {
  if (value === undefined || value === null) return "disabled";
  if (value === "auto" || value === "disabled") return value;
  throw badRequest('truncation must be "auto" or "disabled".', "truncation");
}

/** Parses the settings and mints the response's id: levity's own, random, never the upstream's. */
export function parseResponsesSettings(body: JsonObject): ResponsesSettings {
  // Background mode answers at once with a queued response to poll for; levity answers in the
  // foreground only, and saying so beats a client polling for a response that never queues.
  if (body.background !== undefined && body.background !== null && body.background !== false) {
    throw badRequest(
      "background mode is not supported: levity answers in the foreground only (leave background unset or false).",
      "background",
    );
  }
  if (body.store !== undefined && body.store !== null && typeof body.store !== "boolean")
    throw badRequest("store must be true or false.", "store");
  const include = Array.isArray(body.include) ? body.include : [];
  const reasoning = isObject(body.reasoning) ? body.reasoning : {};
  const text = isObject(body.text) ? body.text : {};
  return {
    id: randomId("resp_"),
    previousResponseId:
      typeof body.previous_response_id === "string" ? body.previous_response_id : null,
    store: body.store !== false,
    instructions: typeof body.instructions === "string" ? body.instructions : null,
    includeEncryptedReasoning: include.includes("reasoning.encrypted_content"),
    presencePenalty: numberOr(body, "presence_penalty", 0),
    frequencyPenalty: numberOr(body, "frequency_penalty", 0),
    topLogprobs: integerOrNull(body, "top_logprobs") ?? 0,
    maxToolCalls: integerOrNull(body, "max_tool_calls"),
    serviceTier: stringOrNull(body, "service_tier") ?? "default",
    safetyIdentifier: stringOrNull(body, "safety_identifier"),
    promptCacheKey: stringOrNull(body, "prompt_cache_key"),
    user: stringOrNull(body, "user"),
    metadata: metadataOf(body.metadata),
    truncation: truncationOf(body.truncation),
    reasoningSummary:
      typeof reasoning.summary === "string" && reasoning.summary !== "none"
        ? reasoning.summary
        : null,
    verbosity: typeof text.verbosity === "string" ? text.verbosity : undefined,
  };
}
