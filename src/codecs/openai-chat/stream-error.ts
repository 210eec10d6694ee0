import { openaiErrorBody } from "../openai-compatible/error-body.ts";
import { sseData, utf8 } from "../shared.ts";
import type { Write } from "../stream-render.ts";

/**
 * How an OpenAI data-only stream (chat, legacy completions) fails: an error chunk, which the
 * OpenAI SDKs raise on, then [DONE]. Translated streams write it; forwarded ones send its bytes.
 */
export function failOpenAIStream(write: Write, status: number, message: string): void {
  write(sseData(openaiErrorBody(status, message)));
  write("data: [DONE]\n\n");
}

export function openaiStreamErrorBytes(status: number, message: string): Uint8Array {
  let text = "";
  failOpenAIStream(
    (written) => {
      text += written;
    },
    status,
    message,
  );
  return utf8(text);
}
