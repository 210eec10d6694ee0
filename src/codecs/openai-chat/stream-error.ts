import { openaiErrorBody } from "../openai-compatible/error-body.ts";
import { sseData, utf8 } from "../shared.ts";

/**
 * How an OpenAI data-only stream (chat, legacy completions) fails: an error chunk, which the
 * OpenAI SDKs raise on, then [DONE]. Translated streams yield it; forwarded ones write its bytes.
 */
export function* failOpenAIStream(status: number, message: string): Generator<string> {
  yield sseData(openaiErrorBody(status, message));
  yield "data: [DONE]\n\n";
}

export function openaiStreamErrorBytes(status: number, message: string): Uint8Array {
  return utf8([...failOpenAIStream(status, message)].join(""));
}
