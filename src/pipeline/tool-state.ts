import type { ChatRequest, ChatResponse, Part } from "../ir.ts";
import {
  bothWritten,
  type SharedWrite,
  type StateStore,
  type ToolCallState,
} from "../state/store.ts";

/*
 * A tool loop needs what the model attached to its calls: Anthropic's signed thinking before a
 * tool_use, Gemini's thoughtSignature on a functionCall. Clients whose dialect has no field for it
 * (OpenAI chat, a Gemini client's call ids, …) drop it, so it is kept here by call id and put back
 * when the conversation returns.
 */

const isOpaqueThinking = (part: Part) =>
  (part.type === "thinking" && part.signature !== undefined) || part.type === "redacted_thinking";
// Unsigned reasoning is kept too: DeepSeek and Kimi refuse a tool-calling turn sent back without its
// reasoning_content, and a Responses client with store: false returns at most a summary of it.
const isKeptThinking = (part: Part) =>
  isOpaqueThinking(part) || (part.type === "thinking" && part.text !== "");

/** After an answer: remember the opaque state of each of its tool calls (and a shared store's writes of it). */
export function rememberToolCalls(store: StateStore, response: ChatResponse): SharedWrite {
  // One loop, the thinking found at the first call: a list and a closure for every answer
  // before, most of them without calls.
  let thinking: Part[] | undefined;
  let written: SharedWrite;
  for (const call of response.parts) {
    if (call.type !== "tool_call") continue;
    thinking ??= response.parts.filter(isKeptThinking);
    const state: ToolCallState = { signature: call.signature, thinking };
    if (state.signature || state.thinking.length > 0)
      written = bothWritten(written, store.saveToolCall(call.id, state));
  }
  return written;
}

/** Before a request: give back to each assistant turn the opaque state its tool calls lost on the way through the client. */
export function restoreToolCalls(store: StateStore, request: ChatRequest): void {
  for (const turn of request.turns) {
    if (turn.role !== "assistant") continue;
    // The turn's calls read in place: a list of them, and the closure that chose them, were
    // made for every assistant turn of every request, calls or not.
    let thinking: Part[] | undefined;
    for (const call of turn.parts) {
      if (call.type !== "tool_call") continue;
      const state = store.toolCall(call.id);
      if (!state) continue;
      if (!call.signature && state.signature) call.signature = state.signature;
      thinking ??= state.thinking;
    }
    if (!thinking?.length) continue;
    if (!turn.parts.some(isOpaqueThinking)) {
      // Unsigned reasoning the client still has is its own: a stored copy only fills the gap when
      // it is gone (a provider that numbers its call ids per answer could have stored another's).
      if (
        !thinking.some(isOpaqueThinking) &&
        turn.parts.some((p) => p.type === "thinking" && p.text !== "")
      )
        continue;
      // The stored thinking replaces any unsigned copy of it the client sent back as text.
      turn.parts = [...thinking, ...turn.parts.filter((p) => p.type !== "thinking")];
      continue;
    }
    // A Responses client with store: false and no reasoning summary (Codex's default) sends back the
    // signature (its encrypted_content) without the text, and Anthropic refuses a signature whose
    // thinking was changed: the text comes back from what was stored under the same signature.
    for (const part of turn.parts) {
      if (part.type !== "thinking" || part.text !== "" || !part.signature) continue;
      const kept = thinking.find(
        (t) =>
          t.type === "thinking" &&
          t.signature?.value === part.signature!.value &&
          t.signature.issuer === part.signature!.issuer,
      );
      if (kept?.type === "thinking") part.text = kept.text;
    }
  }
}
