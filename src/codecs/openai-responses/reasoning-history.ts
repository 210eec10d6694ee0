import { isObject, type JsonObject } from "../json.ts";
import type { SendSignature } from "../reasoning-history.ts";

/**
 * A reasoning item whose encrypted_content may not go to this attempt is left out whole: only
 * the organisation that encrypted it can read it, and OpenAI refuses the request otherwise
 * ("could not be verified"). Reasoning is never required in the input.
 */
export function responsesReasoningHistory(
  json: JsonObject,
  send: SendSignature,
  _noReasoning: boolean,
): JsonObject | undefined {
  if (!Array.isArray(json.input)) return undefined;
  let changed = false;
  const input: unknown[] = [];
  for (const item of json.input) {
    const value = isObject(item) && item.type === "reasoning" ? item.encrypted_content : undefined;
    if (typeof value !== "string" || !isObject(item)) {
      input.push(item);
      continue;
    }
    const sent = send(value);
    if (sent !== value) changed = true;
    if (sent === value) input.push(item);
    else if (sent !== undefined) input.push({ ...item, encrypted_content: sent });
  }
  return changed ? { ...json, input } : undefined;
}
