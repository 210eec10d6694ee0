import type { ChatRequest } from "../ir.ts";
import { textOf } from "../ir.ts";

/**
 * A rough token count (about four characters a token for English text). Used only where no
 * upstream count exists, and always marked as an estimate in the response headers.
 */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

export function estimateRequestTokens(request: ChatRequest): number {
  let total = 0;
  for (const system of request.system) total += estimateTokens(system);
  for (const turn of request.turns) total += estimateTokens(textOf(turn.parts));
  return total;
}
