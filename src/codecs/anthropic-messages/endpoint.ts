import type { Operation } from "../names.ts";

/** The version the Messages API is asked for when the client did not name one. */
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

export function anthropicEndpointPath(operation: Operation): string {
  return operation === "count-tokens" ? "/v1/messages/count_tokens" : "/v1/messages";
}
