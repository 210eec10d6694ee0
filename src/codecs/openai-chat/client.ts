import type {
  CacheMark,
  ChatRequest,
  ChatResponse,
  MediaSource,
  Part,
  ToolCallPart,
  Turn,
} from "../../ir.ts";
import { chatImage } from "../media-output.ts";
import { cacheMarkOf, lastMark, markPart } from "../cache-marks.ts";
import { isResultContent, textOf } from "../../ir.ts";
import {
  badRequest,
  idWithPrefix,
  NO_FIELDS,
  newCallId,
  nothing,
  optionalNumber,
  optionalString,
  optionalStrings,
} from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import {
  customArguments,
  customInput,
  isCustomTool,
  openaiContentParts,
  reasoningText,
  TO_OPENAI_FINISH,
  toOpenAIUsage,
} from "./wire.ts";
import {
  parseChatToolChoice,
  parseChatTools,
  parseEffort,
  parseResponseFormat,
} from "./parse-chat-options.ts";
import { ChatStreamRenderer } from "./render-chat-stream.ts";
import type { Write } from "../stream-render.ts";

const markOf = (part: Part): CacheMark | undefined => ("cache" in part ? part.cache : undefined);

/** A message-level cache_control (LiteLLM's convention) marks the message's last part. */
function markedLast(message: JsonObject, parts: Part[]): Part[] {
  markPart(parts.at(-1), message.cache_control);
  return parts;
}

/** What an assistant message without tool_calls reads: one list, shared, never written. */
const NO_CALLS: readonly unknown[] = Object.freeze([]);

function assistantParts(message: JsonObject, where: string): Part[] {
  const parts: Part[] = [];
  const reasoning = reasoningText(message);
  if (reasoning) parts.push({ type: "thinking", text: reasoning });
  parts.push(...openaiContentParts(message.content, `${where}.content`));
  // A loop, not forEach: its closure took `where` and the parts, a scope for every assistant message.
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : NO_CALLS;
  for (let j = 0; j < calls.length; j++) {
    const call: unknown = calls[j];
    const at = `${where}.tool_calls[${j}]`;
    if (!isObject(call) || typeof call.id !== "string") throw badRequest(`${at} needs an id.`, at);
    if (isObject(call.function) && typeof call.function.name === "string") {
      parts.push({
        type: "tool_call",
        id: call.id,
        name: call.function.name,
        arguments: typeof call.function.arguments === "string" ? call.function.arguments : "{}",
      });
    } else if (isObject(call.custom) && typeof call.custom.name === "string") {
      parts.push({
        type: "tool_call",
        id: call.id,
        name: call.custom.name,
        arguments: customArguments(String(call.custom.input ?? "")),
      });
    } else throw badRequest(`${at} needs a function with a name.`, at);
  }
  if (isObject(message.function_call) && typeof message.function_call.name === "string") {
    parts.push({
      type: "tool_call",
      id: newCallId(),
      name: message.function_call.name,
      arguments: String(message.function_call.arguments ?? "{}"),
    });
  }
  return parts;
}

function messageAt(i: number): string {
  return `messages[${i}]`;
}

/** A message's content as parts: a string read as one text part, without the words for its place. */
function messageContent(message: JsonObject, i: number): Part[] {
  const content = message.content;
  if (typeof content === "string") return [{ type: "text", text: content }];
  return openaiContentParts(content, `${messageAt(i)}.content`);
}

/** Appends a message's turn; consecutive tool messages answer one assistant turn: they form one user turn. */
function pushTurn(turns: Turn[], role: Turn["role"], parts: Part[]): void {
  const last = turns.at(-1);
  if (
    last &&
    last.role === role &&
    role === "user" &&
    parts.every(isToolResult) &&
    last.parts.every(isToolResult)
  )
    last.parts.push(...parts);
  else turns.push({ role, parts });
}

function isToolResult(part: Part): boolean {
  return part.type === "tool_result";
}

/** The ids of a message's tool calls, in order. */
function callIdsOf(parts: Part[]): string[] {
  const ids: string[] = [];
  for (const part of parts) if (part.type === "tool_call") ids.push(part.id);
  return ids;
}

export const openaiChatClient: Readonly<ClientCodec> = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const messages = body.messages;
    if (!Array.isArray(messages))
      throw badRequest("messages must be a list of messages.", "messages");
    if (messages.length === 0) throw badRequest("messages must not be empty.", "messages");
    // Made at the first system message: most requests have none, and get the one shared empty list.
    let system: string[] | undefined;
    // Made at the first mark: most requests have none, and an empty list was made for each.
    let systemCache: (CacheMark | undefined)[] | undefined;
    const turns: Turn[] = [];
    // The calls the last assistant message made, for legacy function messages: made only there.
    let legacyCallIds: string[] | undefined;
    // A loop and a module function, not forEach and a closure over the turns: two functions and
    // their scopes a request.
    for (let i = 0; i < messages.length; i++) {
      const message: unknown = messages[i];
      // A message's place in words only where something else needs them: two strings a message.
      if (!isObject(message)) throw badRequest(`${messageAt(i)} must be an object.`, messageAt(i));
      switch (message.role) {
        case "system":
        case "developer": {
          const parts = messageContent(message, i);
          const mark = lastMark([...parts.map(markOf), cacheMarkOf(message.cache_control)]);
          system ??= [];
          if (mark) {
            systemCache ??= [];
            systemCache[system.length] = mark;
          }
          system.push(textOf(parts));
          break;
        }
        case "user":
          pushTurn(turns, "user", markedLast(message, messageContent(message, i)));
          break;
        case "assistant": {
          const at = messageAt(i);
          const parts = assistantParts(message, at);
          legacyCallIds = callIdsOf(parts);
          pushTurn(turns, "assistant", parts);
          break;
        }
        case "tool": {
          if (typeof message.tool_call_id !== "string")
            throw badRequest(
              `${messageAt(i)}.tool_call_id is required.`,
              `${messageAt(i)}.tool_call_id`,
            );
          const content = messageContent(message, i).filter(isResultContent);
          // Anthropic marks a tool result as a whole: a mark on the message or any of its parts.
          const mark = lastMark([...content.map(markOf), cacheMarkOf(message.cache_control)]);
          pushTurn(turns, "user", [
            {
              type: "tool_result",
              callId: message.tool_call_id,
              content,
              isError: false,
              ...(mark ? { cache: mark } : {}),
            },
          ]);
          break;
        }
        case "function":
          pushTurn(turns, "user", [
            {
              type: "tool_result",
              callId: legacyCallIds?.shift() ?? newCallId(),
              name: typeof message.name === "string" ? message.name : undefined,
              content: [{ type: "text", text: String(message.content ?? "") }],
              isError: false,
            },
          ]);
          break;
        default:
          throw badRequest(
            `${messageAt(i)}.role must be system, developer, user, assistant or tool.`,
            `${messageAt(i)}.role`,
          );
      }
    }
    const effort = parseEffort(body.reasoning_effort, "reasoning_effort");
    return {
      model,
      system: system ?? nothing(),
      ...(systemCache !== undefined ? { systemCache } : NO_FIELDS),
      turns,
      tools: parseChatTools(body.tools, body.functions),
      toolChoice: parseChatToolChoice(body.tool_choice),
      parallelToolCalls:
        typeof body.parallel_tool_calls === "boolean" ? body.parallel_tool_calls : undefined,
      stream,
      maxTokens:
        optionalNumber(body, "max_completion_tokens") ?? optionalNumber(body, "max_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      stop: optionalStrings(body, "stop"),
      responseFormat: parseResponseFormat(body.response_format),
      reasoning: effort ? { effort, include: effort !== "none" } : undefined,
      user:
        typeof body.user === "string"
          ? body.user
          : typeof body.safety_identifier === "string"
            ? body.safety_identifier
            : undefined,
      cacheKey: optionalString(body, "prompt_cache_key"),
    };
  },

  renderCount: (tokens: number) => ({ input_tokens: tokens }),
  renderResponse(response: ChatResponse, ctx: ClientContext) {
    // One pass over the parts, its lists made only where there is something to list: filter, map
    // and flatMap made five lists and four closures for every answer.
    let calls: ToolCallPart[] | undefined;
    let images: MediaSource[] | undefined;
    let thinking = "";
    for (const part of response.parts) {
      if (part.type === "tool_call") {
        calls ??= [];
        calls.push(part);
      } else if (part.type === "thinking") thinking += part.text;
      else if (part.type === "media") {
        images ??= [];
        images.push(part.source);
      }
    }
    const text = textOf(response.parts);
    const message: Record<string, unknown> = {
      role: "assistant",
      content: text === "" && calls !== undefined ? null : text,
      refusal: null,
      annotations: [],
    };
    if (thinking && ctx.request.reasoning?.include) message.reasoning_content = thinking;
    // A loop, not map: its closure took ctx, a scope for every answer, with calls or without.
    if (calls !== undefined) {
      const rendered: unknown[] = [];
      for (const call of calls) rendered.push(renderToolCall(call, ctx));
      message.tool_calls = rendered;
    }
    if (images !== undefined) message.images = images.map(chatImage);
    return {
      id: idWithPrefix(response.id, "chatcmpl-"),
      object: "chat.completion",
      created: response.created,
      model: response.model,
      choices: [
        { index: 0, message, logprobs: null, finish_reason: TO_OPENAI_FINISH[response.stop] },
      ],
      usage: toOpenAIUsage(response.usage),
      system_fingerprint: null,
    };
  },

  streamRenderer(ctx: ClientContext, write: Write) {
    return new ChatStreamRenderer(ctx, write);
  },
};

function renderToolCall(call: ToolCallPart, ctx: ClientContext) {
  if (isCustomTool(ctx.request.tools, call.name))
    return {
      id: call.id,
      type: "custom",
      custom: { name: call.name, input: customInput(call.arguments) },
    };
  return {
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: call.arguments },
  };
}
