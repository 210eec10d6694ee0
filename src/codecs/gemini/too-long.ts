import type { TooLongWords } from "../family.ts";
import { numbersIn } from "../too-long.ts";

/*
 * Gemini refuses a prompt over the model's inputTokenLimit with a 400 INVALID_ARGUMENT: "The input
 * token count (N) exceeds the maximum number of tokens allowed (M)."
 */
export const geminiTooLong: Readonly<TooLongWords> = {
  error(tokens, limit) {
    const message =
      tokens !== undefined && limit !== undefined
        ? `The input token count (${tokens}) exceeds the maximum number of tokens allowed (${limit}).`
        : `The input token count exceeds the maximum number of tokens allowed${limit === undefined ? "" : ` (${limit})`}.`;
    return { message, fields: {} };
  },
  read(status, body) {
    if (status !== 400) return undefined;
    const numbers = numbersIn(
      body,
      /input token count \(?(\d+)\)? exceeds the maximum number of tokens allowed \(?(\d+)\)?/i,
    );
    if (numbers) return { tokens: numbers[0], limit: numbers[1] };
    if (/input token count.*exceeds the maximum number of tokens/i.test(body)) return {};
    return undefined;
  },
};
