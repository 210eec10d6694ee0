import { isObject, type JsonObject } from "../json.ts";
import { GEMINI_SKIP_SIGNATURE } from "../opaque.ts";
import type { SendSignature } from "../reasoning-history.ts";

/**
 * Gemini signs parts of any kind (`thoughtSignature`). One that may not go to this attempt is
 * left out: a thought part with it, any other part keeps its content without it, and a function
 * call gets the value Google documents for a call the model did not make, because Gemini 3
 * refuses a turn whose first call has no signature. A content left empty goes too. A history
 * that changed, or is sent with no reasoning, has that value on each model turn's first call
 * that lacks a signature too: such a call came from another model (a translated answer).
 */
export function geminiReasoningHistory(
  json: JsonObject,
  send: SendSignature,
  noReasoning: boolean,
): JsonObject | undefined {
  if (!Array.isArray(json.contents)) return undefined;
  let changed = false;
  const contents: unknown[] = [];
  for (const content of json.contents) {
    if (!isObject(content) || !Array.isArray(content.parts)) {
      contents.push(content);
      continue;
    }
    let touched = false;
    const parts: unknown[] = [];
    for (const part of content.parts) {
      const field = !isObject(part)
        ? undefined
        : "thoughtSignature" in part
          ? "thoughtSignature"
          : "thought_signature" in part
            ? "thought_signature"
            : undefined;
      const value = field && isObject(part) ? part[field] : undefined;
      if (!field || typeof value !== "string" || !isObject(part)) {
        parts.push(part);
        continue;
      }
      const sent = send(value);
      if (sent === value) {
        parts.push(part);
        continue;
      }
      const { [field]: _dropped, ...rest } = part;
      if (sent !== undefined) parts.push({ ...rest, [field]: sent });
      else if (part.functionCall !== undefined)
        parts.push({ ...rest, [field]: GEMINI_SKIP_SIGNATURE });
      else if (part.thought === true) {
        // The thought is the signature's; without it the thought goes too.
      } else parts.push(rest);
      touched = true;
    }
    if (!touched) contents.push(content);
    else {
      changed = true;
      if (parts.length > 0) contents.push({ ...content, parts });
    }
  }
  if (!changed && !noReasoning) return undefined;
  return { ...json, contents: contents.map(withCallSignature) };
}

/**
 * Gemini 3 refuses a turn whose first function call lacks its thought signature; Google documents
 * a value for calls it did not make, which skips the check.
 */
export function withCallSignature(content: unknown): unknown {
  if (!isObject(content) || content.role !== "model" || !Array.isArray(content.parts))
    return content;
  const parts: unknown[] = content.parts;
  const first = parts.findIndex((p) => isObject(p) && p.functionCall !== undefined);
  const call = parts[first];
  if (!isObject(call) || "thoughtSignature" in call || "thought_signature" in call) return content;
  const signed = [...parts];
  signed[first] = { ...call, thoughtSignature: GEMINI_SKIP_SIGNATURE };
  return { ...content, parts: signed };
}
