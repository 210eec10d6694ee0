import { createHash } from "node:crypto";
import { isObject } from "../codecs/shared.ts";
import type { Dialect } from "../config/schema.ts";
import type { JsonObject } from "../http/body.ts";

/** The header a client may set to name its conversation for the sticky strategy. */
export const SESSION_HEADER = "x-levity-session";

/**
 * What identifies a conversation, so the sticky strategy keeps it on one account (and its prompt
 * cache): the client's own session header, Anthropic `metadata.user_id`, OpenAI `prompt_cache_key`
 * or `user`, else a hash of the system prompt and the first user turn, which every later request
 * of the conversation repeats.
 */
export function sessionKey(dialect: Dialect, body: JsonObject, headers: Headers): string {
  const explicit = headers.get(SESSION_HEADER);
  if (explicit) return `header:${explicit}`;
  const metadata = isObject(body.metadata) ? body.metadata : undefined;
  if (dialect === "anthropic-messages" && typeof metadata?.user_id === "string")
    return `user:${metadata.user_id}`;
  for (const field of ["prompt_cache_key", "user"])
    if (typeof body[field] === "string") return `${field}:${body[field]}`;
  return `opening:${createHash("sha256")
    .update(JSON.stringify(opening(dialect, body)))
    .digest("base64url")
    .slice(0, 22)}`;
}

/** The system prompt and the first user turn, as the dialect writes them. */
function opening(dialect: Dialect, body: JsonObject): unknown[] {
  const first = (list: unknown, isUser: (item: JsonObject) => boolean) =>
    Array.isArray(list) ? list.find((item) => isObject(item) && isUser(item)) : undefined;
  switch (dialect) {
    case "anthropic-messages":
      return [body.system, first(body.messages, (m) => m.role === "user")];
    case "gemini":
      return [
        body.systemInstruction ?? body.system_instruction,
        first(body.contents, (c) => c.role !== "model"),
      ];
    case "openai-responses":
      return [
        body.instructions,
        typeof body.input === "string" ? body.input : first(body.input, (m) => m.role === "user"),
      ];
    case "openai-completions":
      return [body.prompt];
    default:
      return [
        first(body.messages, (m) => m.role === "system" || m.role === "developer"),
        first(body.messages, (m) => m.role === "user"),
      ];
  }
}
