import type { ClientContext } from "../codec.ts";
import { sseEvent, unixNow, utf8 } from "../shared.ts";
import { responseObject } from "./render.ts";

/**
 * Responses streams end in an `error` event of their own shape, not a chat-style error body.
 * `opened` false: nothing of the answer was written yet (a stream committed at the commit
 * deadline), and the SDKs' accumulators refuse any event before `response.created`, so one goes
 * first: a response in progress, with nothing known of it yet.
 */
export function responsesStreamErrorBytes(
  status: number,
  message: string,
  _jsonArray = false,
  opened = true,
): Uint8Array {
  const error = sseEvent("error", {
    type: "error",
    code: status === 429 ? "rate_limit_exceeded" : "server_error",
    message,
    param: null,
  });
  return utf8(opened ? error : createdEvent() + error);
}

function createdEvent(): string {
  const ctx: ClientContext = {
    request: { model: "", system: [], turns: [], tools: [], stream: true },
    includeUsage: false,
    framing: "sse",
  };
  const response = responseObject(
    ctx,
    { model: "", created: unixNow() },
    { output: [], usage: null, status: "in_progress" },
  );
  return sseEvent("response.created", { type: "response.created", sequence_number: 0, response });
}
