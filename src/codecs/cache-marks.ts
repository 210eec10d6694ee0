import type { CacheMark, Part } from "../ir.ts";
import { isObject } from "./json.ts";

/*
 * Anthropic's `cache_control`, as Anthropic clients write it and as OpenAI-chat clients of
 * Anthropic models write it on content parts (OpenRouter's convention, used by Kilo Code and Roo
 * Code): `{type: "ephemeral", ttl?: "5m" | "1h"}`.
 */

/** The mark a block's `cache_control` sets, if any; a TTL Anthropic does not know is left to its default. */
export function cacheMarkOf(value: unknown): CacheMark | undefined {
  if (!isObject(value) || value.type !== "ephemeral") return undefined;
  return value.ttl === "5m" || value.ttl === "1h" ? { ttl: value.ttl } : {};
}

/** One mark for what is made of several parts (a system message): the last one set. */
export function lastMark(marks: readonly (CacheMark | undefined)[]): CacheMark | undefined {
  return marks.findLast((mark) => mark !== undefined);
}

export function cacheControl(mark: CacheMark): Record<string, string> {
  return mark.ttl ? { type: "ephemeral", ttl: mark.ttl } : { type: "ephemeral" };
}

/** `{cache}` to spread into a part or tool when `cache_control` sets a mark, else nothing. */
export function withCache(value: unknown): { cache?: CacheMark } {
  const mark = cacheMarkOf(value);
  return mark ? { cache: mark } : {};
}

/** Sets the mark `cache_control` asks for on the part a block became (thinking and a server tool's blocks carry none). */
export function markPart(part: Part | undefined, value: unknown): void {
  const mark = cacheMarkOf(value);
  if (
    mark &&
    part &&
    part.type !== "thinking" &&
    part.type !== "redacted_thinking" &&
    part.type !== "server_tool_call" &&
    part.type !== "server_tool_result"
  )
    part.cache = mark;
}
