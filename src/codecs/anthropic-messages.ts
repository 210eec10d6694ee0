import type { JsonObject } from "../http/body.ts";
import { errorBody } from "../http/errors.ts";
import type { ChatRequest, ChatResponse, Part, StopReason, StreamEvent, Turn, Usage } from "../ir.ts";
import { textOf } from "../ir.ts";
import { badRequest, idWithPrefix, isObject, optionalNumber, optionalStrings, sseEvent, type Codec } from "./shared.ts";

export const ANTHROPIC_STOP: Record<StopReason, string> = {
  end: "end_turn",
  stop_sequence: "stop_sequence",
  length: "max_tokens",
  tool_use: "tool_use",
  content_filter: "refusal",
};

function anthropicParts(content: unknown, where: string): Part[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) throw badRequest(`${where} must be a string or a list of content blocks.`, where);
  const parts: Part[] = [];
  content.forEach((block, i) => {
    if (!isObject(block)) throw badRequest(`${where}[${i}] must be an object.`, `${where}[${i}]`);
    if (block.type === "text") {
      if (typeof block.text !== "string") throw badRequest(`${where}[${i}].text must be a string.`, `${where}[${i}].text`);
      parts.push({ type: "text", text: block.text });
    }
  });
  return parts;
}

function anthropicUsage(usage: Usage) {
  // Anthropic's input_tokens excludes cache reads; the IR's input includes them.
  const cached = usage.cached ?? 0;
  return { input_tokens: usage.input - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: usage.output };
}

export const anthropicMessages: Codec = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const system: string[] = [];
    if (body.system !== undefined && body.system !== null) system.push(textOf(anthropicParts(body.system, "system")));
    const messages = body.messages;
    if (!Array.isArray(messages)) throw badRequest("messages: Field required", "messages");
    const turns: Turn[] = [];
    messages.forEach((message, i) => {
      if (!isObject(message)) throw badRequest(`messages.${i}: must be an object`, `messages.${i}`);
      const parts = anthropicParts(message.content, `messages.${i}.content`);
      if (message.role === "user" || message.role === "assistant") turns.push({ role: message.role, parts });
      else if (message.role === "system") system.push(textOf(parts));
      else throw badRequest(`messages.${i}.role: Input should be 'user' or 'assistant'`, `messages.${i}.role`);
    });
    return {
      model,
      system,
      turns,
      stream,
      maxTokens: optionalNumber(body, "max_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      stop: optionalStrings(body, "stop_sequences"),
    };
  },

  renderResponse(response: ChatResponse) {
    return {
      id: idWithPrefix(response.id, "msg_"),
      type: "message",
      role: "assistant",
      model: response.model,
      content: [{ type: "text", text: textOf(response.parts) }],
      stop_reason: ANTHROPIC_STOP[response.stop],
      stop_sequence: null,
      usage: { ...anthropicUsage(response.usage), service_tier: "standard" },
    };
  },

  async *renderStream(events: AsyncIterable<StreamEvent>) {
    let blockOpen = false;
    for await (const event of events) {
      switch (event.type) {
        case "start":
          yield sseEvent("message_start", {
            type: "message_start",
            message: {
              id: idWithPrefix(event.id, "msg_"),
              type: "message",
              role: "assistant",
              model: event.model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              usage: { ...anthropicUsage(event.usage), service_tier: "standard" },
            },
          });
          break;
        case "text":
          if (!blockOpen) {
            blockOpen = true;
            yield sseEvent("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
          }
          yield sseEvent("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: event.text } });
          break;
        case "finish":
          if (blockOpen) yield sseEvent("content_block_stop", { type: "content_block_stop", index: 0 });
          yield sseEvent("message_delta", {
            type: "message_delta",
            delta: { stop_reason: ANTHROPIC_STOP[event.stop], stop_sequence: null },
            usage: anthropicUsage(event.usage),
          });
          yield sseEvent("message_stop", { type: "message_stop" });
          return;
        case "error":
          yield sseEvent("error", errorBody("anthropic", event.status, event.message));
          return;
      }
    }
  },
};
