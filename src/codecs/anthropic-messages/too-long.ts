import type { TooLongWords } from "../family.ts";
import { numbersIn } from "../too-long.ts";

/*
 * Anthropic refuses a prompt over the window with a 400 invalid_request_error whose message is
 * `prompt is too long: N tokens > M maximum`. Claude Code matches that text (case-insensitive,
 * `prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)`) to compact the conversation and retry,
 * so levity's own refusal says it the same way.
 */
export const anthropicTooLong: Readonly<TooLongWords> = {
  error(tokens, limit) {
    const message =
      tokens !== undefined && limit !== undefined
        ? `prompt is too long: ${tokens} tokens > ${limit} maximum`
        : `prompt is too long: it does not fit the model's context window${limit === undefined ? "" : ` of ${limit} tokens`}`;
    return { message, fields: { type: "invalid_request_error" } };
  },
  read(status, body) {
    if (status !== 400) return undefined;
    const prompt = numbersIn(body, /prompt is too long[^0-9]*(\d+)\s*tokens?\s*>\s*(\d+)/i);
    if (prompt) return { tokens: prompt[0], limit: prompt[1] };
    if (/prompt is too long/i.test(body)) return {};
    // The older wording counts the asked-for output against the window too: "190000 + 20000 > 200000".
    const sum = numbersIn(body, /exceed context limit:\s*(\d+)\s*\+\s*(\d+)\s*>\s*(\d+)/i);
    if (sum) return { tokens: sum[0]! + sum[1]!, limit: sum[2] };
    return undefined;
  },
};
