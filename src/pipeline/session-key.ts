import { createHash } from "node:crypto";
import { DIALECT_MODULES } from "../codecs/index.ts";
import type { Dialect } from "../codecs/names.ts";
import type { JsonObject } from "../codecs/json.ts";

/** The header a client may set to name its conversation for the sticky strategy. */
const SESSION_HEADER = "x-levity-session";

/** A request as the session key is read from, holding the key once it has been hashed. */
interface Sessioned {
  request: Request;
  body?: { json: JsonObject };
  sessionKey?: string;
}

/** The request's session key, hashed at most once a request (sticky affinity and the prompt cache both ask). */
export function requestSessionKey(ctx: Sessioned, dialect: Dialect): string {
  if (ctx.sessionKey === undefined)
    ctx.sessionKey = sessionKey(dialect, ctx.body!.json, ctx.request.headers);
  return ctx.sessionKey;
}

/**
 * What identifies a conversation, so the sticky strategy keeps it on one account (and its prompt
 * cache): the client's own session header, Anthropic `metadata.user_id`, OpenAI `prompt_cache_key`
 * or `user`, else a hash of the system prompt and the first user turn, which every later request
 * of the conversation repeats.
 */
export function sessionKey(dialect: Dialect, body: JsonObject, headers: Headers): string {
  const explicit = headers.get(SESSION_HEADER);
  if (explicit) return `header:${explicit}`;
  const own = DIALECT_MODULES[dialect];
  const named = own.sessionName?.(body);
  if (named !== undefined) return named;
  const opening = own.sessionOpening(body);
  const text = JSON.stringify(opening);
  return `opening:${digest(text.includes('"cache_control"') ? JSON.stringify(opening, withoutCacheMarks) : text)}`;
}

/* A client moves its cache marks to the newest turn each time (Claude Code does): the first turn
 * carries one only while it is the last, so the marks are not part of what names the session. */
function withoutCacheMarks(key: string, value: unknown): unknown {
  return key === "cache_control" ? undefined : value;
}

/**
 * The prompt_cache_key levity sends an OpenAI upstream for a client that has none of its own: the
 * session's key, hashed, so that it is stable across the session's turns and carries no user id.
 */
export function derivedCacheKey(session: string): string {
  return `levity-${digest(session)}`;
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("base64url").slice(0, 22);
}
