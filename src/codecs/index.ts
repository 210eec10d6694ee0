import { anthropicMessages } from "./anthropic-messages/index.ts";
import type { DialectModule } from "./dialect.ts";
import { gemini } from "./gemini/index.ts";
import { DIALECTS, type Dialect } from "./names.ts";
import { openaiChat } from "./openai-chat/index.ts";
import { openaiCompletions } from "./openai-completions/index.ts";
import { openaiResponses } from "./openai-responses/index.ts";
import type { ClientCodec, UpstreamCodec } from "./codec.ts";

/**
 * The five dialects. Each knows itself in both directions over one IR, so every client-upstream
 * pair works with no translator per pair. Adding a dialect is its folder, its name in names.ts,
 * and a line here.
 */
export const DIALECT_MODULES: Readonly<Record<Dialect, DialectModule>> = {
  "openai-chat": openaiChat,
  "openai-completions": openaiCompletions,
  "openai-responses": openaiResponses,
  "anthropic-messages": anthropicMessages,
  gemini,
};

/** One half of every dialect, keyed by dialect: for callers that only render, or only call upstreams. */
function halves<K extends "client" | "upstream">(
  half: K,
): Readonly<Record<Dialect, DialectModule[K]>> {
  return Object.fromEntries(DIALECTS.map((name) => [name, DIALECT_MODULES[name][half]])) as Record<
    Dialect,
    DialectModule[K]
  >;
}

export const CLIENT_CODECS: Readonly<Record<Dialect, ClientCodec>> = halves("client");
export const UPSTREAM_CODECS: Readonly<Record<Dialect, UpstreamCodec>> = halves("upstream");
