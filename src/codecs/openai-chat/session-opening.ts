import { firstWhere } from "../shared.ts";
import type { JsonObject } from "../json.ts";

export function chatSessionOpening(body: JsonObject): unknown[] {
  return [
    body.tools ?? body.functions,
    firstWhere(body.messages, (m) => m.role === "system" || m.role === "developer"),
    firstWhere(body.messages, (m) => m.role === "user"),
  ];
}

/** OpenAI's own names for a conversation or its user, in the order they identify it best. */
export function openaiSessionName(body: JsonObject): string | undefined {
  for (const field of ["prompt_cache_key", "user"])
    if (typeof body[field] === "string") return `${field}:${body[field]}`;
  return undefined;
}
