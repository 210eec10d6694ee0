import type { ChatRequest, ChatResponse, Part, ToolCallPart } from "../ir.ts";
import type { StateStore, ToolCallState } from "../state/store.ts";

/*
 * A tool loop needs what the model attached to its calls: Anthropic's signed thinking before a
 * tool_use, Gemini's thoughtSignature on a functionCall. Clients whose dialect has no field for it
 * (OpenAI chat, a Gemini client's call ids, …) drop it, so it is kept here by call id and put back
 * when the conversation returns.
 */

const isOpaqueThinking = (part: Part) => (part.type === "thinking" && part.signature !== undefined) || part.type === "redacted_thinking";

/** After an answer: remember the opaque state of each of its tool calls. */
export function rememberToolCalls(store: StateStore, response: ChatResponse): void {
  const calls = response.parts.filter((p): p is ToolCallPart => p.type === "tool_call");
  if (calls.length === 0) return;
  const thinking = response.parts.filter(isOpaqueThinking);
  for (const call of calls) {
    const state: ToolCallState = { signature: call.signature, thinking };
    if (state.signature || state.thinking.length > 0) store.saveToolCall(call.id, state);
  }
}

/** Before a request: give back to each assistant turn the opaque state its tool calls lost on the way through the client. */
export function restoreToolCalls(store: StateStore, request: ChatRequest): void {
  for (const turn of request.turns) {
    if (turn.role !== "assistant") continue;
    const calls = turn.parts.filter((p): p is ToolCallPart => p.type === "tool_call");
    if (calls.length === 0) continue;
    let thinking: Part[] | undefined;
    for (const call of calls) {
      const state = store.toolCall(call.id);
      if (!state) continue;
      if (!call.signature && state.signature) call.signature = state.signature;
      thinking ??= state.thinking;
    }
    if (thinking?.length && !turn.parts.some(isOpaqueThinking)) {
      // The stored thinking replaces any unsigned copy of it the client sent back as text.
      turn.parts = [...thinking, ...turn.parts.filter((p) => p.type !== "thinking")];
    }
  }
}
