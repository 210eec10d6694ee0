import { openaiErrorBody } from "../openai-compatible/error-body.ts";
import { sseData, utf8 } from "../shared.ts";

/** An error chunk then `[DONE]`: the OpenAI SDKs raise on a chunk holding `error`. */
export function openaiStreamErrorBytes(status: number, message: string): Uint8Array {
  return utf8(`${sseData(openaiErrorBody(status, message))}data: [DONE]\n\n`);
}
