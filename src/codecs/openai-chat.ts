import type { JsonObject } from "../http/body.ts";
import { errorBody } from "../http/errors.ts";
import type { ChatRequest, ChatResponse, Part, StopReason, StreamEvent, Turn, Usage } from "../ir.ts";
import { textOf } from "../ir.ts";
import { badRequest, idWithPrefix, isObject, optionalNumber, optionalStrings, sseData, type Codec, type RenderOptions } from "./shared.ts";

export const OPENAI_FINISH: Record<StopReason, string> = {
  end: "stop",
  stop_sequence: "stop",
  length: "length",
  tool_use: "tool_calls",
  content_filter: "content_filter",
};

/** Text of an OpenAI content value: a string, or a list of `{type:"text"|"input_text"|"output_text", text}` parts. */
export function openaiContentParts(content: unknown, where: string): Part[] {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) throw badRequest(`${where} must be a string or a list of content parts.`, where);
  const parts: Part[] = [];
  content.forEach((part, i) => {
    if (!isObject(part)) throw badRequest(`${where}[${i}] must be an object.`, `${where}[${i}]`);
    if (typeof part.text === "string") parts.push({ type: "text", text: part.text });
  });
  return parts;
}

export function openaiUsage(usage: Usage) {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
    prompt_tokens_details: { cached_tokens: usage.cached ?? 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: usage.reasoning ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/**
 * How a data-only OpenAI stream (chat and legacy completions) ends: the finish chunk, the
 * usage-only chunk when the client asked for it, then [DONE]; or an error chunk, then [DONE].
 */
export function* endOpenAIStream(finishChunk: object, usageChunk: object | undefined): Generator<string> {
  yield sseData(finishChunk);
  if (usageChunk) yield sseData(usageChunk);
  yield "data: [DONE]\n\n";
}

export function* failOpenAIStream(status: number, message: string): Generator<string> {
  yield sseData(errorBody("openai", status, message));
  yield "data: [DONE]\n\n";
}

export const openaiChat: Codec = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const messages = body.messages;
    if (!Array.isArray(messages)) throw badRequest("messages must be a list of messages.", "messages");
    if (messages.length === 0) throw badRequest("messages must not be empty.", "messages");
    const system: string[] = [];
    const turns: Turn[] = [];
    messages.forEach((message, i) => {
      if (!isObject(message)) throw badRequest(`messages[${i}] must be an object.`, `messages[${i}]`);
      const parts = openaiContentParts(message.content, `messages[${i}].content`);
      switch (message.role) {
        case "system":
        case "developer":
          system.push(textOf(parts));
          break;
        case "user":
        case "tool":
        case "function":
          turns.push({ role: "user", parts });
          break;
        case "assistant":
          turns.push({ role: "assistant", parts });
          break;
        default:
          throw badRequest(`messages[${i}].role must be system, developer, user, assistant or tool.`, `messages[${i}].role`);
      }
    });
    return {
      model,
      system,
      turns,
      stream,
      maxTokens: optionalNumber(body, "max_completion_tokens") ?? optionalNumber(body, "max_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      stop: optionalStrings(body, "stop"),
    };
  },

  renderResponse(response: ChatResponse) {
    return {
      id: idWithPrefix(response.id, "chatcmpl-"),
      object: "chat.completion",
      created: response.created,
      model: response.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: textOf(response.parts), refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: OPENAI_FINISH[response.stop],
        },
      ],
      usage: openaiUsage(response.usage),
      system_fingerprint: null,
    };
  },

  async *renderStream(events: AsyncIterable<StreamEvent>, options: RenderOptions) {
    let head = { id: "", object: "chat.completion.chunk", created: 0, model: "" };
    // Usage is null on every chunk when the client asked for it, and absent otherwise.
    const usageNull = options.includeUsage ? { usage: null } : {};
    const chunk = (delta: object, finish: string | null) => ({
      ...head,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...usageNull,
    });
    for await (const event of events) {
      switch (event.type) {
        case "start":
          head = { id: idWithPrefix(event.id, "chatcmpl-"), object: "chat.completion.chunk", created: event.created, model: event.model };
          yield sseData(chunk({ role: "assistant", content: "", refusal: null }, null));
          break;
        case "text":
          yield sseData(chunk({ content: event.text }, null));
          break;
        case "finish":
          yield* endOpenAIStream(
            chunk({}, OPENAI_FINISH[event.stop]),
            options.includeUsage ? { ...head, system_fingerprint: null, choices: [], usage: openaiUsage(event.usage) } : undefined,
          );
          return;
        case "error":
          yield* failOpenAIStream(event.status, event.message);
          return;
      }
    }
  },
};
