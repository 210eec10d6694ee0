import { randomId, unixNow } from "../codecs/shared.ts";
import type { ChatRequest, ChatResponse, StreamEvent, Usage } from "../ir.ts";
import { textOf } from "../ir.ts";
import { estimateRequestTokens, estimateTokens } from "../tokens/estimate.ts";

/*
 * The built-in upstream: no network and no key. It answers with the last user text, so a new
 * user can see every client work end to end before adding an account.
 */

const EMPTY_REPLY = "(echo: the last user turn had no text)";

export function echoReplyText(request: ChatRequest): string {
  for (let i = request.turns.length - 1; i >= 0; i--) {
    const turn = request.turns[i]!;
    if (turn.role === "user") return textOf(turn.parts) || EMPTY_REPLY;
  }
  return EMPTY_REPLY;
}

function usageFor(request: ChatRequest, reply: string): Usage {
  return { input: estimateRequestTokens(request), output: estimateTokens(reply) };
}

export function echoResponse(request: ChatRequest): ChatResponse {
  const reply = echoReplyText(request);
  return { id: randomId(""), model: request.model, created: unixNow(), parts: [{ type: "text", text: reply }], stop: "end", usage: usageFor(request, reply) };
}

/** Word by word: each piece keeps its trailing whitespace, so the pieces concatenate to the reply exactly. */
export function splitWords(text: string): string[] {
  return text.match(/^\s+|\S+\s*/g) ?? [];
}

export async function* echoStream(request: ChatRequest): AsyncGenerator<StreamEvent> {
  const reply = echoReplyText(request);
  const usage = usageFor(request, reply);
  yield { type: "start", id: randomId(""), model: request.model, created: unixNow(), usage: { input: usage.input, output: 0 } };
  for (const word of splitWords(reply)) yield { type: "text", text: word };
  yield { type: "finish", stop: "end", usage };
}
