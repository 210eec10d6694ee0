import type { RequestRecord } from "../../src/observe/record.ts";

/** A finished request's record as the request log takes it: a 200 chat completion, with `fields` over it. */
export function requestRecord(
  requestId: string,
  fields: Partial<RequestRecord> = {},
): RequestRecord {
  return {
    time: Date.now(),
    requestId,
    method: "POST",
    route: "/v1/chat/completions",
    attempts: 1,
    status: 200,
    stream: false,
    latencyMs: 1,
    ttfbMs: 1,
    inputTokens: 0,
    outputTokens: 0,
    cachedTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    ...fields,
  };
}
