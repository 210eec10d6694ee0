import type { RequestLists } from "../codecs/dialect.ts";
import type { RequestLimits } from "../config/request-limits.ts";
import type { ChatRequest } from "../ir.ts";
import { GatewayError } from "../failure.ts";
import type { JsonObject } from "../codecs/json.ts";

/*
 * Caps on what one translated request may hold (proxy.limits). max_body_mb bounds the bytes; these
 * bound the counts that levity's own work grows with: every turn, part, tool and media item
 * becomes objects in the IR and again in the upstream's request. The limits and their defaults
 * are configuration (src/config/request-limits.ts); this is where a translated request meets them.
 */

const KEYS: Readonly<Record<keyof RequestLimits, string>> = {
  messages: "max_messages",
  parts: "max_parts",
  tools: "max_tools",
  media: "max_media",
};
const NOUNS: Readonly<Record<keyof RequestLimits, string>> = {
  messages: "messages",
  parts: "content parts",
  tools: "tools",
  media: "media items (images, documents)",
};

/** `counted`: how many were counted when the count stopped, past the limit (not always all there are). */
function over(
  limit: keyof RequestLimits,
  counted: number,
  max: number,
  param: string,
): GatewayError {
  return new GatewayError(
    413,
    `This request has more than ${max} ${NOUNS[limit]} (${counted} counted); levity accepts at most ${max} per request (proxy.limits.${KEYS[limit]} in gateway.yaml).`,
    {
      param,
      code: "request_too_large",
    },
  );
}

/**
 * Before the body is parsed into the IR: list lengths read off the raw JSON where the dialect
 * keeps them, in time linear in the number of messages and without allocating, so an oversized
 * request costs no more than its JSON parse. The exact count (media, tool results' contents,
 * stored history) follows the parse.
 */
export function checkRawRequest(
  lists: RequestLists,
  body: JsonObject,
  limits: RequestLimits,
): void {
  const messages = lists.messages ? body[lists.messages] : undefined;
  if (lists.messages && Array.isArray(messages)) {
    if (messages.length > limits.messages)
      throw over("messages", messages.length, limits.messages, lists.messages);
    let parts = 0;
    for (const message of messages) {
      if (message === null || typeof message !== "object" || !lists.parts) continue;
      const content = (message as JsonObject)[lists.parts];
      if (Array.isArray(content)) parts += content.length;
      if (parts > limits.parts) throw over("parts", parts, limits.parts, lists.messages);
    }
  }
  const tools = lists.tools ? body[lists.tools] : undefined;
  if (lists.tools && Array.isArray(tools)) {
    let count = tools.length;
    if (lists.toolGroups)
      for (const tool of tools) {
        const group =
          tool && typeof tool === "object" ? (tool as JsonObject)[lists.toolGroups] : undefined;
        if (Array.isArray(group)) count += group.length;
      }
    if (count > limits.tools) throw over("tools", count, limits.tools, lists.tools);
  }
  const legacy = lists.legacyTools ? body[lists.legacyTools] : undefined;
  if (lists.legacyTools && Array.isArray(legacy) && legacy.length > limits.tools)
    throw over("tools", legacy.length, limits.tools, lists.legacyTools);
}

/** After the parse (and a stored conversation's history): the exact counts, in one pass over the IR. */
export function checkRequest(request: ChatRequest, limits: RequestLimits): void {
  if (request.turns.length > limits.messages)
    throw over("messages", request.turns.length, limits.messages, "messages");
  if (request.tools.length > limits.tools)
    throw over("tools", request.tools.length, limits.tools, "tools");
  let parts = 0;
  let media = 0;
  for (const turn of request.turns) {
    parts += turn.parts.length;
    for (const part of turn.parts) {
      if (part.type === "media") media++;
      else if (part.type === "tool_result") {
        parts += part.content.length;
        for (const item of part.content) if (item.type === "media") media++;
      }
    }
    if (parts > limits.parts) throw over("parts", parts, limits.parts, "messages");
    if (media > limits.media) throw over("media", media, limits.media, "messages");
  }
}
