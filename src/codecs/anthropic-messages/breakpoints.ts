import { isObject, type JsonObject } from "../json.ts";

/*
 * Where an Anthropic request's cache breakpoints go. Anthropic caches the prompt up to each block
 * marked `cache_control`, reading tools, then system, then messages; it refuses a request with
 * more than four marks, and one whose 1-hour mark follows a 5-minute one.
 */

export const MAX_BREAKPOINTS = 4;

/** Every block that may carry cache_control, in the order Anthropic reads the prompt. */
function cacheableBlocks(body: JsonObject): JsonObject[] {
  const blocks: JsonObject[] = [];
  const add = (list: unknown) => {
    if (Array.isArray(list)) for (const item of list) if (isObject(item)) blocks.push(item);
  };
  add(body.tools);
  add(body.system);
  if (Array.isArray(body.messages))
    for (const message of body.messages) if (isObject(message)) add(message.content);
  return blocks;
}

/**
 * For a client that cannot mark its prompt (OpenAI, Gemini): the last tool, the last system
 * block, and the last block of each of the last two user turns. The newest turn's mark writes the
 * conversation so far; the one before reads what the previous request wrote, however many blocks
 * a tool loop added since (Anthropic looks back only 20 blocks from a mark).
 */
function automaticBreakpoints(body: JsonObject): JsonObject[] {
  const lastObject = (list: unknown) =>
    Array.isArray(list) ? list.filter(isObject).at(-1) : undefined;
  const chosen = [lastObject(body.tools), lastObject(body.system)];
  const users = Array.isArray(body.messages)
    ? body.messages.filter((m) => isObject(m) && m.role === "user")
    : [];
  for (const message of users.slice(-2)) chosen.push(lastObject((message as JsonObject).content));
  return chosen.filter((block): block is JsonObject => block !== undefined);
}

/**
 * Leaves `body` with at most four breakpoints in an order Anthropic accepts: the client's own,
 * else (when `auto`) levity's. Past four, the last four stay, as they cover the longest prefixes;
 * a 1-hour mark after a 5-minute one becomes a 5-minute one.
 */
export function placeBreakpoints(body: JsonObject, auto: boolean): void {
  let marked = cacheableBlocks(body).filter((block) => block.cache_control !== undefined);
  if (marked.length === 0 && auto) {
    marked = automaticBreakpoints(body);
    for (const block of marked) block.cache_control = { type: "ephemeral" };
  }
  for (const block of marked.slice(0, Math.max(0, marked.length - MAX_BREAKPOINTS)))
    delete block.cache_control;
  let shorter = false;
  for (const block of marked.slice(-MAX_BREAKPOINTS)) {
    const control = block.cache_control;
    if (!isObject(control)) continue;
    if (control.ttl !== "1h") shorter = true;
    else if (shorter) block.cache_control = { type: "ephemeral" };
  }
}
