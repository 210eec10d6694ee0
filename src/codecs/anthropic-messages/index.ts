import type { DialectModule } from "../dialect.ts";
import { firstWhere, utf8 } from "../shared.ts";
import { isObject } from "../json.ts";
import { anthropicMessagesClient } from "./client.ts";
import { anthropicEndpointPath } from "./endpoint.ts";
import { anthropicFamily } from "./family.ts";
import { anthropicStreamError } from "./stream-error.ts";
import { anthropicMessagesUpstream } from "./upstream.ts";

const ANTHROPIC_PING = utf8('event: ping\ndata: {"type": "ping"}\n\n');

export const anthropicMessages: Readonly<DialectModule> = {
  name: "anthropic-messages",
  family: anthropicFamily,
  client: anthropicMessagesClient,
  upstream: anthropicMessagesUpstream,
  endpointPath: (call) => anthropicEndpointPath(call.operation),
  streamErrorBytes: (status, message) => utf8(anthropicStreamError(status, message)),
  // Anthropic's own keep-alive, byte for byte: its SDKs skip it wherever it comes.
  keepAliveBytes: () => ANTHROPIC_PING,
  streamFraming: () => "sse",
  requestLists: { messages: "messages", parts: "content", tools: "tools" },
  sessionOpening: (body) => [
    body.tools,
    body.system,
    firstWhere(body.messages, (m) => m.role === "user"),
  ],
  sessionName: (body) =>
    isObject(body.metadata) && typeof body.metadata.user_id === "string"
      ? `user:${body.metadata.user_id}`
      : undefined,
};
