import type { DialectModule } from "../dialect.ts";
import { firstWhere, isObject, sseEvent, utf8 } from "../shared.ts";
import { anthropicMessagesClient } from "./client.ts";
import { anthropicEndpointPath } from "./endpoint.ts";
import { anthropicErrorBody } from "./error-body.ts";
import { anthropicFamily } from "./family.ts";
import { anthropicMessagesUpstream } from "./upstream.ts";

export const anthropicMessages: DialectModule = {
  name: "anthropic-messages",
  family: anthropicFamily,
  client: anthropicMessagesClient,
  upstream: anthropicMessagesUpstream,
  endpointPath: (call) => anthropicEndpointPath(call.operation),
  streamErrorBytes: (status, message) =>
    utf8(sseEvent("error", anthropicErrorBody(status, message))),
  sessionOpening: (body) => [body.system, firstWhere(body.messages, (m) => m.role === "user")],
  sessionUser: (body) =>
    isObject(body.metadata) && typeof body.metadata.user_id === "string"
      ? body.metadata.user_id
      : undefined,
};
