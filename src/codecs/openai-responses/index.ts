import { openaiSessionName } from "../openai-chat/session-opening.ts";
import type { DialectModule } from "../dialect.ts";
import { openaiFamily } from "../openai-compatible/family.ts";
import { firstWhere, SSE_KEEP_ALIVE } from "../shared.ts";
import { openaiResponsesClient } from "./client.ts";
import { RESPONSES_INPUT_TOKENS_PATH, RESPONSES_PATH } from "./endpoint.ts";
import { responsesStreamErrorBytes } from "./stream-error.ts";
import { openaiResponsesUpstream } from "./upstream.ts";

export const openaiResponses: Readonly<DialectModule> = {
  name: "openai-responses",
  family: openaiFamily,
  client: openaiResponsesClient,
  upstream: openaiResponsesUpstream,
  endpointPath: ({ operation }) =>
    operation === "count-tokens" ? RESPONSES_INPUT_TOKENS_PATH : RESPONSES_PATH,
  streamErrorBytes: responsesStreamErrorBytes,
  keepAliveBytes: () => SSE_KEEP_ALIVE,
  sessionName: openaiSessionName,
  streamFraming: () => "sse",
  requestLists: { messages: "input", parts: "content", tools: "tools" },
  sessionOpening: (body) => [
    body.tools,
    body.instructions,
    typeof body.input === "string" ? body.input : firstWhere(body.input, (m) => m.role === "user"),
  ],
};
