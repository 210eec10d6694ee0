import type { Dialect } from "../config/schema.ts";
import type { Upstream } from "../config/snapshot.ts";
import { anthropicMessagesClient } from "./anthropic-messages/client.ts";
import { anthropicMessagesUpstream } from "./anthropic-messages/upstream.ts";
import { geminiClient } from "./gemini/client.ts";
import { geminiUpstream } from "./gemini/upstream.ts";
import { openaiChatClient } from "./openai-chat/client.ts";
import { openaiChatUpstream } from "./openai-chat/upstream.ts";
import { openaiCompletionsClient } from "./openai-completions/client.ts";
import { openaiCompletionsUpstream } from "./openai-completions/upstream.ts";
import { openaiResponsesClient } from "./openai-responses/client.ts";
import { openaiResponsesUpstream } from "./openai-responses/upstream.ts";
import type { ClientCodec, UpstreamCodec } from "./shared.ts";
import { dialectOfApi } from "../upstream/openai-compatible.ts";

/** Five codecs, each knowing its dialect in both directions: every client-upstream pair, with no translator per pair. */
export const CLIENT_CODECS: Record<Dialect, ClientCodec> = {
  "openai-chat": openaiChatClient,
  "openai-completions": openaiCompletionsClient,
  "openai-responses": openaiResponsesClient,
  "anthropic-messages": anthropicMessagesClient,
  gemini: geminiClient,
};

export const UPSTREAM_CODECS: Record<Dialect, UpstreamCodec> = {
  "openai-chat": openaiChatUpstream,
  "openai-completions": openaiCompletionsUpstream,
  "openai-responses": openaiResponsesUpstream,
  "anthropic-messages": anthropicMessagesUpstream,
  gemini: geminiUpstream,
};

/** The dialect levity speaks to an upstream for translated requests: an OpenAI-compatible one's wire_api (chat unless it lacks chat). */
export function upstreamDialect(upstream: Upstream): Dialect {
  switch (upstream.protocol) {
    case "anthropic":
      return "anthropic-messages";
    case "gemini":
      return "gemini";
    default:
      return dialectOfApi(upstream.openai?.wireApi ?? "chat");
  }
}
