import { isObject, type JsonObject } from "../json.ts";
import type { SendSignature } from "../reasoning-history.ts";

const SIGNED_FIELD: Readonly<Record<string, string>> = {
  thinking: "signature",
  redacted_thinking: "data",
};

/**
 * Anthropic thinking and redacted thinking blocks whose signature may not go to this attempt (or
 * that have none) are left out: Anthropic itself ignores earlier turns' thinking, and a block cannot be kept without
 * its signature. An assistant message left empty goes too. With thinking on, Anthropic requires
 * the last assistant message of a tool loop to start with its thinking; when that thinking was
 * left out, thinking is turned off for this request (the docs' own advice: "To avoid this
 * requirement, disable `thinking`").
 */
export function anthropicReasoningHistory(
  json: JsonObject,
  send: SendSignature,
  _noReasoning: boolean,
): JsonObject | undefined {
  if (!Array.isArray(json.messages)) return undefined;
  let changed = false;
  const messages: unknown[] = [];
  for (const message of json.messages) {
    if (!isObject(message) || message.role !== "assistant" || !Array.isArray(message.content)) {
      messages.push(message);
      continue;
    }
    let touched = false;
    const content: unknown[] = [];
    for (const block of message.content) {
      const field = isObject(block) ? SIGNED_FIELD[String(block.type)] : undefined;
      if (!field || !isObject(block)) {
        content.push(block);
        continue;
      }
      // A block without a signature is one no upstream accepts: left out like a foreign one.
      const value = block[field];
      const sent = typeof value === "string" && value !== "" ? send(value) : undefined;
      if (sent === value) content.push(block);
      else {
        touched = true;
        if (sent !== undefined) content.push({ ...block, [field]: sent });
      }
    }
    if (!touched) messages.push(message);
    else {
      changed = true;
      if (content.length > 0) messages.push({ ...message, content });
    }
  }
  if (!changed) return undefined;
  const body: JsonObject = { ...json, messages };
  if (thinkingOn(json) && toolLoopLacksThinking(messages)) return withoutThinking(body);
  return body;
}

function thinkingOn(json: JsonObject): boolean {
  return isObject(json.thinking) && json.thinking.type !== "disabled";
}

function toolLoopLacksThinking(messages: unknown[]): boolean {
  const last = messages.findLast((m) => isObject(m) && m.role === "assistant");
  if (!isObject(last) || !Array.isArray(last.content)) return false;
  const content: unknown[] = last.content;
  if (!content.some((b) => isObject(b) && b.type === "tool_use")) return false;
  const first = content[0];
  return !(isObject(first) && (first.type === "thinking" || first.type === "redacted_thinking"));
}

/** Thinking off, and the context edits that only work with it on (clearing thinking). */
function withoutThinking(body: JsonObject): JsonObject {
  const { thinking: _thinking, ...rest } = body;
  const management = rest.context_management;
  if (isObject(management) && Array.isArray(management.edits)) {
    const edits = management.edits.filter(
      (edit) => !(isObject(edit) && String(edit.type).startsWith("clear_thinking")),
    );
    rest.context_management = { ...management, edits };
  }
  return rest;
}
