import type { DialectModule } from "../dialect.ts";
import { SSE_KEEP_ALIVE } from "../shared.ts";
import { openaiFamily } from "../openai-compatible/family.ts";
import { openaiChatClient } from "./client.ts";
import { CHAT_PATH } from "./endpoint.ts";
import { chatSessionOpening, openaiSessionName } from "./session-opening.ts";
import { openaiStreamErrorBytes } from "./stream-error.ts";
import { openaiChatUpstream } from "./upstream.ts";

export const openaiChat: Readonly<DialectModule> = {
  name: "openai-chat",
  family: openaiFamily,
  client: openaiChatClient,
  upstream: openaiChatUpstream,
  endpointPath: () => CHAT_PATH,
  streamErrorBytes: openaiStreamErrorBytes,
  keepAliveBytes: () => SSE_KEEP_ALIVE,
  sessionName: openaiSessionName,
  streamFraming: () => "sse",
  requestLists: {
    messages: "messages",
    parts: "content",
    tools: "tools",
    legacyTools: "functions",
  },
  sessionOpening: chatSessionOpening,
};
