import { sseEvent, utf8 } from "../shared.ts";

/** Responses streams end in an `error` event of their own shape, not a chat-style error body. */
export function responsesStreamErrorBytes(status: number, message: string): Uint8Array {
  return utf8(
    sseEvent("error", {
      type: "error",
      code: status === 429 ? "rate_limit_exceeded" : "server_error",
      message,
      param: null,
    }),
  );
}
