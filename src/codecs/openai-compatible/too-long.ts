import type { TooLongWords } from "../family.ts";
import { numbersIn } from "../too-long.ts";

/*
 * OpenAI refuses a prompt over the window with a 400 whose code is `context_length_exceeded` (what
 * Codex matches to say the context is full), in Chat Completions' words: "This model's maximum
 * context length is M tokens. However, your messages resulted in N tokens. …". The compatible
 * servers say it their own ways (vLLM and DeepSeek "you requested N tokens", Mistral "Prompt
 * contains N tokens … M maximum context length"); each is read.
 */
export const openaiTooLong: Readonly<TooLongWords> = {
  error(tokens, limit) {
    const message =
      tokens !== undefined && limit !== undefined
        ? `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${tokens} tokens. Please reduce the length of the messages.`
        : `Your input exceeds the context window of this model${limit === undefined ? "" : ` (${limit} tokens)`}. Please adjust your input and try again.`;
    return {
      message,
      fields: { type: "invalid_request_error", code: "context_length_exceeded", param: "messages" },
    };
  },
  read(status, body) {
    if (status < 400 || status >= 500) return undefined;
    const openai = numbersIn(
      body,
      /maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens/is,
    );
    if (openai) return { tokens: openai[1], limit: openai[0] };
    const mistral = numbersIn(
      body,
      /prompt contains (\d+) tokens.*?(\d+) maximum context length/is,
    );
    if (mistral) return { tokens: mistral[0], limit: mistral[1] };
    if (/context_length_exceeded|exceeds the context window|maximum context length/i.test(body))
      return {};
    return undefined;
  },
};
