import { openaiSessionName } from "../openai-chat/session-opening.ts";
import type { DialectModule } from "../dialect.ts";
import { SSE_KEEP_ALIVE } from "../shared.ts";
import { openaiStreamErrorBytes } from "../openai-chat/stream-error.ts";
import { openaiFamily } from "../openai-compatible/family.ts";
import { openaiCompletionsClient } from "./client.ts";
import { COMPLETIONS_PATH } from "./endpoint.ts";
import { openaiCompletionsUpstream } from "./upstream.ts";

export const openaiCompletions: Readonly<DialectModule> = {
  name: "openai-completions",
  family: openaiFamily,
  client: openaiCompletionsClient,
  upstream: openaiCompletionsUpstream,
  endpointPath: () => COMPLETIONS_PATH,
  // Legacy completions stream the way chat does: an error chunk, then [DONE].
  streamErrorBytes: openaiStreamErrorBytes,
  keepAliveBytes: () => SSE_KEEP_ALIVE,
  sessionName: openaiSessionName,
  streamFraming: () => "sse",
  requestLists: {},
  sessionOpening: (body) => [body.prompt],
};
