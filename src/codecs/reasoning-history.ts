import type { JsonObject } from "./json.ts";
import { anthropicReasoningHistory } from "./anthropic-messages/reasoning-history.ts";
import { geminiReasoningHistory } from "./gemini/reasoning-history.ts";
import type { Dialect } from "./names.ts";
import { responsesReasoningHistory } from "./openai-responses/reasoning-history.ts";

/*
 * A same-dialect request's history rewritten where a signature in it may not go to this attempt:
 * each dialect finds its signed reasoning in its own fields, and asks `send` what becomes of each
 * value: the value to send (itself, or the upstream's own value out of levity's wrapping), or
 * undefined to leave it out, in whatever way the dialect's upstream then accepts.
 */

/** The value to send for a signature as the client sent it, or undefined to leave it out. */
export type SendSignature = (value: string) => string | undefined;

/**
 * The body with the history's signatures as `send` says, or undefined when nothing changes.
 * `noReasoning`: the request once more after the upstream refused a signature, with none left.
 */
export type ReasoningHistory = (
  json: JsonObject,
  send: SendSignature,
  noReasoning: boolean,
) => JsonObject | undefined;

/** The dialects whose requests carry signatures back (chat and completions carry none). */
export const REASONING_HISTORY: Readonly<Partial<Record<Dialect, ReasoningHistory>>> = {
  "anthropic-messages": anthropicReasoningHistory,
  gemini: geminiReasoningHistory,
  "openai-responses": responsesReasoningHistory,
};
