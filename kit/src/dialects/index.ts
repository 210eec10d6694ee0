import type { Dialect, DialectModule } from "../dialect.ts";
import { anthropic } from "./anthropic.ts";
import { gemini } from "./gemini.ts";
import { openaiChat } from "./openai-chat.ts";
import { openaiResponses } from "./openai-responses.ts";

export const MODULES: Record<Dialect, DialectModule> = {
  anthropic,
  "openai-responses": openaiResponses,
  "openai-chat": openaiChat,
  gemini,
};

/** What a client request is, from its path: the dialect and the kind of operation. */
export type Operation = "generate" | "count" | "compact";

export interface Route {
  dialect: Dialect;
  operation: Operation;
}

export function routeOf(method: string, path: string): Route | undefined {
  if (method !== "POST") return undefined;
  const bare = path.split("?")[0]!.replace(/\/+$/, "");
  if (/\/messages\/count_tokens$/.test(bare)) return { dialect: "anthropic", operation: "count" };
  if (/\/messages$/.test(bare)) return { dialect: "anthropic", operation: "generate" };
  if (/\/responses\/input_tokens$/.test(bare))
    return { dialect: "openai-responses", operation: "count" };
  if (/\/responses\/compact$/.test(bare))
    return { dialect: "openai-responses", operation: "compact" };
  if (/\/responses$/.test(bare)) return { dialect: "openai-responses", operation: "generate" };
  if (/\/chat\/completions$/.test(bare)) return { dialect: "openai-chat", operation: "generate" };
  if (/\/models\/[^/]+:countTokens$/.test(bare)) return { dialect: "gemini", operation: "count" };
  if (/\/models\/[^/]+:(stream)?[gG]enerateContent$/.test(bare))
    return { dialect: "gemini", operation: "generate" };
  return undefined;
}
