import { sseEvent } from "../shared.ts";
import { anthropicErrorBody } from "./error-body.ts";

/** An `error` event in the error body's shape: how a Messages stream says it failed, translated or forwarded. */
export function anthropicStreamError(status: number, message: string): string {
  return sseEvent("error", anthropicErrorBody(status, message));
}
