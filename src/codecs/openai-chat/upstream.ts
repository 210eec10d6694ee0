import { cutShort, offProtocol } from "../../failure.ts";
import { parseOpenAIError } from "../openai-compatible/parse-error.ts";
import { CHAT_PATH } from "./endpoint.ts";
import type {
  ChatRequest,
  ChatResponse,
  MediaPart,
  Part,
  StopReason,
  ToolCallPart,
  ToolResultPart,
  Usage,
} from "../../ir.ts";
import { type Emit, type EventLimit, type SseHandler, SseParser } from "../sse.ts";
import {
  clamp,
  effortFromBudget,
  markers,
  newCallId,
  parseStreamJson,
  streamError,
} from "../shared.ts";
import { isObject } from "../json.ts";
import { isJsonObject, keyRules } from "../json-bytes.ts";
import type { UpstreamCodec, UpstreamTarget } from "../codec.ts";
import { compatOf, profileFromBaseUrl, type ChatCompat } from "../openai-compatible/profiles.ts";
import {
  contentOf,
  customArguments,
  fromOpenAIFinish,
  fromOpenAIUsage,
  isPdf,
  mediaToUrl,
  reasoningText,
} from "./wire.ts";

function mediaContent(part: MediaPart) {
  if (isPdf(part))
    return { type: "file", file: { file_data: mediaToUrl(part), filename: "document.pdf" } };
  return { type: "image_url", image_url: { url: mediaToUrl(part) } };
}

/**
 * A tool result as text. `attached` names where its pictures and files went instead (the chat
 * dialect's tool messages carry text only); without it, they are said to be left out.
 */
export function toolResultText(part: ToolResultPart, attached?: string): string {
  const text = part.content
    .map((c) =>
      c.type === "text"
        ? c.text
        : (attached ?? "[a media attachment the tool returned was omitted]"),
    )
    .join("\n");
  return part.isError && text !== "" && !/error/i.test(text) ? `Error: ${text}` : text;
}

/** Where a chat tool message says its attachments are: in the user message after the tool messages. */
const ATTACHED_BELOW = "[the tool returned an attachment: it follows in the next user message]";

/**
 * A user turn's messages, pushed onto the request's: one loop, and lists made only where there
 * is something to hold (a list of its own, three closures, two lists and a spread a turn before).
 */
function pushUserMessages(messages: unknown[], parts: Part[]): void {
  // A tool's pictures go in a user message right after the tool messages, each introduced by the
  // call it answers: the model sees them, which it would not were they left out.
  let attachments: unknown[] | undefined;
  // Whether the turn has text or media, whether all of it is text, and that text (one string
  // then): no list of them made for a turn of text (nearly every one), which was one a turn.
  let any = false;
  let textOnly = true;
  let text = "";
  for (const part of parts)
    if (part.type === "tool_result") {
      const media = part.content.filter((c): c is MediaPart => c.type === "media");
      messages.push({
        role: "tool",
        tool_call_id: part.callId,
        content: toolResultText(part, media.length > 0 ? ATTACHED_BELOW : undefined),
      });
      if (media.length > 0) {
        attachments ??= [];
        attachments.push(
          { type: "text", text: `Attachments the tool call ${part.callId} returned:` },
          ...media.map(mediaContent),
        );
      }
    } else if (part.type === "text") {
      any = true;
      text += part.text;
    } else if (part.type === "media") {
      any = true;
      textOnly = false;
    }
  if (!any && attachments === undefined) return;
  if (attachments === undefined && textOnly) {
    messages.push({ role: "user", content: text });
    return;
  }
  // The turn's text and media, in order, after any attachments.
  const content: unknown[] = attachments ?? [];
  for (const p of parts)
    if (p.type === "text") content.push({ type: "text", text: p.text });
    else if (p.type === "media") content.push(mediaContent(p));
  messages.push({ role: "user", content });
}

function assistantMessage(parts: Part[], compat: ChatCompat): unknown | undefined {
  const text = parts
    .filter((p) => p.type === "text")
    .map((p) => (p as { text: string }).text)
    .join("");
  const calls = parts.filter((p): p is ToolCallPart => p.type === "tool_call");
  if (text === "" && calls.length === 0) return undefined;
  const message: Record<string, unknown> = {
    role: "assistant",
    content: text === "" ? null : text,
  };
  // DeepSeek and Kimi in thinking mode refuse a tool-calling turn sent back without its reasoning.
  // Where the history lost that reasoning (a client that kept none), an empty one is what these providers' own clients send.
  const reasoning = parts
    .filter((p) => p.type === "thinking")
    .map((p) => (p as { text: string }).text)
    .join("");
  if (compat.reasoningEcho === "tool_turns" && calls.length > 0)
    message[compat.reasoningField] = reasoning;
  else if (compat.reasoningEcho === "always" && reasoning !== "")
    message[compat.reasoningField] = reasoning;
  if (calls.length > 0)
    message.tool_calls = calls.map((call) => ({
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: call.arguments },
    }));
  return message;
}

/** A target built without a configured upstream (tests, tools) gets the differences its host implies. */
function compatOfTarget(target: UpstreamTarget): ChatCompat {
  return target.compat ?? compatOf(profileFromBaseUrl(target.baseUrl));
}

const PLAIN_DELTA_KEYS = keyRules(
  markers("error", "tool_calls"),
  markers("finish_reason", "usage"),
);

/**
 * A chunk the chat stream's parser reads for nothing once its answer has begun: valid JSON with
 * no error, no tool call (whose indexes it follows), and a null finish_reason and usage wherever
 * they are. What it would yield (text, reasoning) a same-dialect client has in the bytes.
 */
export function isPlainChatDelta(bytes: Uint8Array, start: number, end: number): boolean {
  return isJsonObject(bytes, start, end, PLAIN_DELTA_KEYS);
}

export const openaiChatUpstream: Readonly<UpstreamCodec> = {
  // Not async: nothing is awaited (UpstreamCodec.buildRequest).
  buildRequest(request: ChatRequest, target: UpstreamTarget) {
    const compat = compatOfTarget(target);
    // Loops, not filter and map: two lists and two closures a request.
    const messages: unknown[] = [];
    for (const content of request.system)
      if (content !== "") messages.push({ role: "system", content });
    for (const turn of request.turns) {
      if (turn.role === "user") pushUserMessages(messages, turn.parts);
      else {
        const message = assistantMessage(turn.parts, compat);
        if (message) messages.push(message);
      }
    }
    const body: Record<string, unknown> = { model: request.model, messages };
    if (request.tools.length > 0) {
      body.tools = request.tools.map((tool) => ({
        type: "function",
        function: {
          name: tool.name,
          ...(tool.description ? { description: tool.description } : {}),
          parameters: tool.parameters,
        },
      }));
      const choice = request.toolChoice;
      if (choice?.type === "tool")
        body.tool_choice = { type: "function", function: { name: choice.name } };
      else if (choice) body.tool_choice = choice.type;
      if (request.parallelToolCalls !== undefined)
        body.parallel_tool_calls = request.parallelToolCalls;
    }
    if (request.maxTokens !== undefined) body[compat.maxTokensField] = request.maxTokens;
    if (request.temperature !== undefined) body.temperature = clamp(request.temperature, 0, 2);
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.stop?.length) body.stop = request.stop.slice(0, 4);
    const format = request.responseFormat;
    if (format?.type === "json_object") body.response_format = { type: "json_object" };
    if (format?.type === "json_schema") {
      body.response_format = {
        type: "json_schema",
        json_schema: {
          name: format.name ?? "response",
          schema: format.schema,
          ...(format.strict ? { strict: true } : {}),
        },
      };
    }
    const reasoning = request.reasoning;
    if (reasoning && (reasoning.effort || reasoning.budgetTokens)) {
      body.reasoning_effort = reasoning.effort ?? effortFromBudget(reasoning.budgetTokens!);
    }
    if (request.user) body.user = request.user;
    // Only where the upstream accepts the field: others refuse a request with one they do not know.
    if (request.cacheKey && target.promptCache?.cacheKey) body.prompt_cache_key = request.cacheKey;
    if (request.stream) {
      body.stream = true;
      if (compat.streamOptions) body.stream_options = { include_usage: true };
    }
    return { path: CHAT_PATH, body };
  },

  parseResponse(body: unknown): ChatResponse {
    if (!isObject(body) || !Array.isArray(body.choices))
      throw offProtocol("the upstream's answer has no choices");
    const choice = isObject(body.choices[0]) ? body.choices[0] : {};
    const message = isObject(choice.message) ? choice.message : {};
    const parts: Part[] = [];
    // Content as a string (nearly every answer) is read as it is: contentOf made an object for it.
    const raw = message.content;
    const content = typeof raw === "string" ? undefined : contentOf(raw);
    const reasoning = reasoningText(message) ?? content?.thinking;
    if (reasoning) parts.push({ type: "thinking", text: reasoning });
    const text = content ? content.text : (raw as string);
    if (text !== "") parts.push({ type: "text", text });
    if (typeof message.refusal === "string" && message.refusal !== "")
      parts.push({ type: "text", text: message.refusal });
    // Only where there are calls: an empty array for each answer without was an object for nothing.
    if (Array.isArray(message.tool_calls))
      for (const call of message.tool_calls) {
        if (!isObject(call)) continue;
        const id = typeof call.id === "string" ? call.id : newCallId();
        if (isObject(call.function))
          parts.push({
            type: "tool_call",
            id,
            name: String(call.function.name),
            arguments: String(call.function.arguments ?? "{}"),
          });
        else if (isObject(call.custom))
          parts.push({
            type: "tool_call",
            id,
            name: String(call.custom.name),
            arguments: customArguments(String(call.custom.input ?? "")),
          });
      }
    return {
      id: typeof body.id === "string" ? body.id : "chatcmpl-unknown",
      model: typeof body.model === "string" ? body.model : "",
      created: typeof body.created === "number" ? body.created : Math.floor(Date.now() / 1000),
      parts,
      stop: fromOpenAIFinish(choice.finish_reason),
      usage: fromOpenAIUsage(body.usage) ?? { input: 0, output: 0 },
    };
  },

  skippableData: isPlainChatDelta,

  streamParser(emit: Emit, _target: UpstreamTarget, _contentType: string, limit?: EventLimit) {
    return new SseParser(new ChatStreamReading(emit), limit);
  },

  parseError: parseOpenAIError,
};

/**
 * Stream tool-call deltas carry an `index` that says which call a fragment belongs to. Mistral
 * sends each call whole without one; a call then takes the next index, and a fragment with
 * neither index nor a new id continues the open call.
 */
class ToolCallIndexes {
  private next = 0;
  private readonly byId = new Map<string, number>();
  indexOf(call: Record<string, unknown>, open: number | undefined): number {
    const id = typeof call.id === "string" && call.id !== "" ? call.id : undefined;
    if (typeof call.index === "number") {
      this.next = Math.max(this.next, call.index + 1);
      if (id) this.byId.set(id, call.index);
      return call.index;
    }
    if (id) {
      const known = this.byId.get(id);
      if (known !== undefined) return known;
      this.byId.set(id, this.next);
      return this.next++;
    }
    return open ?? this.next++;
  }
}

/** Azure OpenAI opens a stream with a content-filter chunk: no choices, empty id and model, created 0. */
function isPreamble(chunk: Record<string, unknown>): boolean {
  return (!Array.isArray(chunk.choices) || chunk.choices.length === 0) && chunk.usage == null;
}

/** What a chat stream says, event by event (its SSE framing is the parser's). */
class ChatStreamReading implements SseHandler {
  private started = false;
  private usage: Usage = { input: 0, output: 0 };
  private stop: StopReason | undefined;
  private openTool: number | undefined;
  private readonly indexes = new ToolCallIndexes();

  constructor(private readonly emit: Emit) {}

  event(data: string): boolean {
    // [DONE] ends the answer: finish at once, whatever the connection does afterwards.
    if (data === "[DONE]") {
      this.ended();
      return true;
    }
    const emit = this.emit;
    const chunk = parseStreamJson(data);
    if (!isObject(chunk)) return false;
    if (isObject(chunk.error)) {
      emit(streamError(chunk.error));
      return true;
    }
    if (!this.started) {
      if (isPreamble(chunk)) return false;
      this.started = true;
      const created =
        typeof chunk.created === "number" && chunk.created > 0
          ? chunk.created
          : Math.floor(Date.now() / 1000);
      emit({
        type: "start",
        id: String(chunk.id || "chatcmpl-unknown"),
        model: String(chunk.model ?? ""),
        created,
        usage: this.usage,
      });
    }
    const choice =
      Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
    // Moonshot streams its usage inside the last choice rather than at the top.
    const reported = fromOpenAIUsage(chunk.usage) ?? fromOpenAIUsage(choice?.usage);
    if (reported) {
      this.usage = reported;
      emit({ type: "usage", usage: reported });
    }
    if (!choice) return false;
    const delta = isObject(choice.delta) ? choice.delta : {};
    // Content as a string (nearly every chunk) is read as it is: contentOf made an object a chunk.
    const raw = delta.content;
    const content = typeof raw === "string" ? undefined : contentOf(raw);
    const reasoning = reasoningText(delta) ?? content?.thinking;
    if (reasoning) emit({ type: "thinking", text: reasoning });
    const text = content ? content.text : (raw as string);
    if (text !== "") emit({ type: "text", text });
    // Only where there are calls: an empty array for every chunk without was an object for nothing.
    if (Array.isArray(delta.tool_calls))
      for (const call of delta.tool_calls) {
        if (!isObject(call)) continue;
        const index = this.indexes.indexOf(call, this.openTool);
        const fn = isObject(call.function) ? call.function : {};
        if (
          index !== this.openTool &&
          (typeof call.id === "string" || typeof fn.name === "string")
        ) {
          if (this.openTool !== undefined) emit({ type: "tool_call_end", index: this.openTool });
          this.openTool = index;
          emit({
            type: "tool_call_start",
            index,
            id: typeof call.id === "string" ? call.id : newCallId(),
            name: String(fn.name ?? ""),
          });
        }
        if (typeof fn.arguments === "string" && fn.arguments !== "")
          emit({ type: "tool_call_delta", index, arguments: fn.arguments });
      }
    if (choice.finish_reason) {
      this.stop = fromOpenAIFinish(choice.finish_reason);
      if (this.openTool !== undefined) emit({ type: "tool_call_end", index: this.openTool });
      this.openTool = undefined;
    }
    return false;
  }

  ended(): void {
    if (!this.started || this.stop === undefined)
      throw cutShort("the upstream's stream ended before its finish_reason");
    this.emit({ type: "finish", stop: this.stop, usage: this.usage });
  }
}
