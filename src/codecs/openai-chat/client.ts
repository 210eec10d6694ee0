import { openaiErrorBody } from "../openai-compatible/error-body.ts";
import type {
  ChatRequest,
  ChatResponse,
  Effort,
  Part,
  StreamEvent,
  Tool,
  ToolCallPart,
  ToolChoice,
  Turn,
} from "../../ir.ts";
import { isResultContent, textOf } from "../../ir.ts";
import {
  badRequest,
  idWithPrefix,
  isObject,
  newCallId,
  optionalNumber,
  optionalStrings,
  sseData,
  type JsonObject,
} from "../shared.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import {
  CUSTOM_TOOL_PARAMETERS,
  customArguments,
  customInput,
  isCustomTool,
  openaiContentParts,
  reasoningText,
  TO_OPENAI_FINISH,
  toOpenAIUsage,
} from "./wire.ts";

const EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

export function parseChatTools(value: unknown, legacyFunctions?: unknown): Tool[] {
  const tools: Tool[] = [];
  for (const [i, tool] of (Array.isArray(value) ? value : []).entries()) {
    if (!isObject(tool)) throw badRequest(`tools[${i}] must be an object.`, `tools[${i}]`);
    if (
      tool.type === "function" &&
      isObject(tool.function) &&
      typeof tool.function.name === "string"
    ) {
      const fn = tool.function;
      tools.push({
        name: String(fn.name),
        description: typeof fn.description === "string" ? fn.description : undefined,
        parameters: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
        kind: "function",
      });
    } else if (
      tool.type === "custom" &&
      isObject(tool.custom) &&
      typeof tool.custom.name === "string"
    ) {
      tools.push({
        name: tool.custom.name,
        description:
          typeof tool.custom.description === "string" ? tool.custom.description : undefined,
        parameters: CUSTOM_TOOL_PARAMETERS,
        kind: "custom",
      });
    } else {
      throw badRequest(`tools[${i}] must be a function or custom tool with a name.`, `tools[${i}]`);
    }
  }
  for (const fn of Array.isArray(legacyFunctions) ? legacyFunctions : []) {
    if (isObject(fn) && typeof fn.name === "string")
      tools.push({
        name: fn.name,
        description: typeof fn.description === "string" ? fn.description : undefined,
        parameters: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
        kind: "function",
      });
  }
  return tools;
}

export function parseChatToolChoice(value: unknown): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === "none" || value === "auto" || value === "required") return { type: value };
  if (isObject(value)) {
    const named = isObject(value.function)
      ? value.function.name
      : isObject(value.custom)
        ? value.custom.name
        : value.name;
    if ((value.type === "function" || value.type === "custom") && typeof named === "string")
      return { type: "tool", name: named };
    if (value.type === "allowed_tools")
      return {
        type:
          isObject(value.allowed_tools) && value.allowed_tools.mode === "required"
            ? "required"
            : "auto",
      };
  }
  throw badRequest(
    'tool_choice must be "none", "auto", "required" or {type: "function", function: {name}}.',
    "tool_choice",
  );
}

export function parseResponseFormat(value: unknown): ChatRequest["responseFormat"] {
  if (!isObject(value)) return undefined;
  if (value.type === "json_object") return { type: "json_object" };
  if (
    value.type === "json_schema" &&
    isObject(value.json_schema) &&
    isObject(value.json_schema.schema)
  ) {
    const spec = value.json_schema;
    return {
      type: "json_schema",
      name: typeof spec.name === "string" ? spec.name : undefined,
      schema: spec.schema as Record<string, unknown>,
      strict: spec.strict === true,
    };
  }
  return undefined;
}

export function parseEffort(value: unknown, param: string): Effort | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !EFFORTS.includes(value))
    throw badRequest(`${param} must be one of ${EFFORTS.join(", ")}.`, param);
  return value as Effort;
}

function assistantParts(message: JsonObject, where: string): Part[] {
  const parts: Part[] = [];
  const reasoning = reasoningText(message);
  if (reasoning) parts.push({ type: "thinking", text: reasoning });
  parts.push(...openaiContentParts(message.content, `${where}.content`));
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  calls.forEach((call, j) => {
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
  });
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

export const openaiChatClient: ClientCodec = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const messages = body.messages;
    if (!Array.isArray(messages))
      throw badRequest("messages must be a list of messages.", "messages");
    if (messages.length === 0) throw badRequest("messages must not be empty.", "messages");
    const system: string[] = [];
    const turns: Turn[] = [];
    const push = (role: Turn["role"], parts: Part[]) => {
      const last = turns.at(-1);
      // Consecutive tool messages answer one assistant turn: they form one user turn.
      if (
        last &&
        last.role === role &&
        role === "user" &&
        parts.every((p) => p.type === "tool_result") &&
        last.parts.every((p) => p.type === "tool_result")
      )
        last.parts.push(...parts);
      else turns.push({ role, parts });
    };
    let legacyCallIds: string[] = [];
    messages.forEach((message, i) => {
      const at = `messages[${i}]`;
      if (!isObject(message)) throw badRequest(`${at} must be an object.`, at);
      switch (message.role) {
        case "system":
        case "developer":
          system.push(textOf(openaiContentParts(message.content, `${at}.content`)));
          break;
        case "user":
          push("user", openaiContentParts(message.content, `${at}.content`));
          break;
        case "assistant": {
          const parts = assistantParts(message, at);
          legacyCallIds = parts
            .filter((p): p is ToolCallPart => p.type === "tool_call")
            .map((p) => p.id);
          push("assistant", parts);
          break;
        }
        case "tool":
          if (typeof message.tool_call_id !== "string")
            throw badRequest(`${at}.tool_call_id is required.`, `${at}.tool_call_id`);
          push("user", [
            {
              type: "tool_result",
              callId: message.tool_call_id,
              content: openaiContentParts(message.content, `${at}.content`).filter(isResultContent),
              isError: false,
            },
          ]);
          break;
        case "function":
          push("user", [
            {
              type: "tool_result",
              callId: legacyCallIds.shift() ?? newCallId(),
              name: typeof message.name === "string" ? message.name : undefined,
              content: [{ type: "text", text: String(message.content ?? "") }],
              isError: false,
            },
          ]);
          break;
        default:
          throw badRequest(
            `${at}.role must be system, developer, user, assistant or tool.`,
            `${at}.role`,
          );
      }
    });
    const effort = parseEffort(body.reasoning_effort, "reasoning_effort");
    return {
      model,
      system,
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
    };
  },

  renderResponse(response: ChatResponse, ctx: ClientContext) {
    const calls = response.parts.filter((p): p is ToolCallPart => p.type === "tool_call");
    const thinking = response.parts
      .filter((p) => p.type === "thinking")
      .map((p) => (p as { text: string }).text)
      .join("");
    const text = textOf(response.parts);
    const message: Record<string, unknown> = {
      role: "assistant",
      content: text === "" && calls.length > 0 ? null : text,
      refusal: null,
      annotations: [],
    };
    if (thinking && ctx.request.reasoning?.include) message.reasoning_content = thinking;
    if (calls.length > 0) message.tool_calls = calls.map((call) => renderToolCall(call, ctx));
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

  renderStream(events: AsyncIterable<StreamEvent>, ctx: ClientContext) {
    return renderChatStream(events, ctx);
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

/**
 * How a data-only OpenAI stream (chat and legacy completions) ends: the finish chunk, the
 * usage-only chunk when the client asked for it, then [DONE]; or an error chunk, then [DONE].
 */
export function* endOpenAIStream(
  finishChunk: object,
  usageChunk: object | undefined,
): Generator<string> {
  yield sseData(finishChunk);
  if (usageChunk) yield sseData(usageChunk);
  yield "data: [DONE]\n\n";
}

export function* failOpenAIStream(status: number, message: string): Generator<string> {
  yield sseData(openaiErrorBody(status, message));
  yield "data: [DONE]\n\n";
}

async function* renderChatStream(
  events: AsyncIterable<StreamEvent>,
  ctx: ClientContext,
): AsyncGenerator<string> {
  let head = { id: "", object: "chat.completion.chunk", created: 0, model: "" };
  // Usage is null on every chunk when the client asked for it, and absent otherwise.
  const usageNull = ctx.includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finish: string | null) => ({
    ...head,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...usageNull,
  });
  const showThinking = ctx.request.reasoning?.include === true;
  // Custom tool input is free text, not JSON: it is sent whole when the call ends.
  const custom = new Map<number, { id: string; name: string; args: string }>();
  for await (const event of events) {
    switch (event.type) {
      case "start":
        head = {
          id: idWithPrefix(event.id, "chatcmpl-"),
          object: "chat.completion.chunk",
          created: event.created,
          model: event.model,
        };
        yield sseData(chunk({ role: "assistant", content: "", refusal: null }, null));
        break;
      case "thinking":
        if (showThinking) yield sseData(chunk({ reasoning_content: event.text }, null));
        break;
      case "text":
        yield sseData(chunk({ content: event.text }, null));
        break;
      case "tool_call_start":
        if (isCustomTool(ctx.request.tools, event.name))
          custom.set(event.index, { id: event.id, name: event.name, args: "" });
        else
          yield sseData(
            chunk(
              {
                tool_calls: [
                  {
                    index: event.index,
                    id: event.id,
                    type: "function",
                    function: { name: event.name, arguments: "" },
                  },
                ],
              },
              null,
            ),
          );
        break;
      case "tool_call_delta": {
        const pending = custom.get(event.index);
        if (pending) pending.args += event.arguments;
        else
          yield sseData(
            chunk(
              { tool_calls: [{ index: event.index, function: { arguments: event.arguments } }] },
              null,
            ),
          );
        break;
      }
      case "tool_call_end": {
        const pending = custom.get(event.index);
        if (pending)
          yield sseData(
            chunk(
              {
                tool_calls: [
                  {
                    index: event.index,
                    id: pending.id,
                    type: "custom",
                    custom: { name: pending.name, input: customInput(pending.args) },
                  },
                ],
              },
              null,
            ),
          );
        break;
      }
      case "finish":
        yield* endOpenAIStream(
          chunk({}, TO_OPENAI_FINISH[event.stop]),
          ctx.includeUsage
            ? { ...head, system_fingerprint: null, choices: [], usage: toOpenAIUsage(event.usage) }
            : undefined,
        );
        return;
      case "error":
        yield* failOpenAIStream(event.status, event.message);
        return;
      default:
      // thinking signatures and redacted thinking have no place in a chat completion
    }
  }
}
