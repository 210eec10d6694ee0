import { cutShort, offProtocol } from "../../failure.ts";
import { RESPONSES_INPUT_TOKENS_PATH, RESPONSES_PATH } from "./endpoint.ts";
import type {
  ChatRequest,
  ChatResponse,
  Citation,
  MediaPart,
  Part,
  ServerTool,
  StopReason,
  TextPart,
  ToolResultPart,
  Usage,
} from "../../ir.ts";
import { toolResultText } from "../openai-chat/upstream.ts";
import { COMPACTION_TYPES } from "./compaction.ts";
import { parseOpenAIError } from "../openai-compatible/parse-error.ts";
import { customArguments, mediaToUrl } from "../openai-chat/wire.ts";
import { issue, issuedBy } from "../opaque.ts";
import { type Emit, type EventLimit, type SseHandler, SseParser } from "../sse.ts";
import { clamp, effortFromBudget, markers, parseStreamJson } from "../shared.ts";
import { isObject } from "../json.ts";
import { isJsonObject, keyRules, startsWith } from "../json-bytes.ts";
import type { UpstreamCodec, UpstreamTarget } from "../codec.ts";

function inputContent(part: MediaPart) {
  if (part.source.kind === "base64" && part.source.mediaType === "application/pdf")
    return { type: "input_file", file_data: mediaToUrl(part), filename: "document.pdf" };
  return { type: "input_image", image_url: mediaToUrl(part), detail: "auto" };
}

/**
 * A tool result as a function call's output: text, or, when the tool returned pictures or files,
 * the list of text, input_image and input_file parts the Responses API takes there.
 */
function functionOutput(part: ToolResultPart): string | unknown[] {
  if (!part.content.some((c) => c.type === "media")) return toolResultText(part);
  return part.content.map((c) =>
    c.type === "text" ? { type: "input_text", text: c.text } : inputContent(c),
  );
}

function inputItems(request: ChatRequest, target: UpstreamTarget): unknown[] {
  const items: unknown[] = [];
  for (const turn of request.turns) {
    const content: unknown[] = [];
    const flush = () => {
      if (content.length > 0)
        items.push({ type: "message", role: turn.role, content: content.splice(0) });
    };
    for (const part of turn.parts) {
      if (part.type === "text" && part.text !== "")
        content.push({
          type: turn.role === "assistant" ? "output_text" : "input_text",
          text: part.text,
        });
      else if (part.type === "media" && turn.role === "user") content.push(inputContent(part));
      else if (part.type === "tool_call") {
        flush();
        items.push({
          type: "function_call",
          call_id: part.id,
          name: part.name,
          arguments: part.arguments,
        });
      } else if (part.type === "tool_result") {
        flush();
        items.push({
          type: "function_call_output",
          call_id: part.callId,
          output: functionOutput(part),
        });
      } else if (part.type === "thinking" && issuedBy(part.signature, target)) {
        flush();
        items.push({
          type: "reasoning",
          summary: part.text ? [{ type: "summary_text", text: part.text }] : [],
          encrypted_content: part.signature.value,
        });
      }
    }
    flush();
  }
  return items;
}

/** OpenAI's web_search tool, with the domain filter and location it has fields for. */
function webSearchTool(tool: ServerTool): Record<string, unknown> {
  return {
    type: "web_search",
    ...(tool.allowedDomains ? { filters: { allowed_domains: tool.allowedDomains } } : {}),
    ...(tool.userLocation ? { user_location: { type: "approximate", ...tool.userLocation } } : {}),
  };
}

function fromUsage(usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  // Missing details are undefined, not an empty object made for each answer without them.
  const input = isObject(usage.input_tokens_details) ? usage.input_tokens_details : undefined;
  const output = isObject(usage.output_tokens_details) ? usage.output_tokens_details : undefined;
  return {
    input: Number(usage.input_tokens ?? 0),
    output: Number(usage.output_tokens ?? 0),
    cached: Number(input?.cached_tokens ?? 0),
    reasoning: Number(output?.reasoning_tokens ?? 0),
  };
}

function stopOf(response: Record<string, unknown>, calledTools: boolean): StopReason {
  if (response.status === "incomplete") {
    const reason = isObject(response.incomplete_details)
      ? response.incomplete_details.reason
      : undefined;
    return reason === "content_filter" ? "content_filter" : "length";
  }
  return calledTools ? "tool_use" : "end";
}

/** Text cut at its url_citation annotations (character offsets), each cited piece with its sources. */
function citedTexts(text: string, annotations: unknown): TextPart[] {
  // No annotations (nearly every answer): the text whole, without the map, list and sort below.
  if (!Array.isArray(annotations) || annotations.length === 0) return [{ type: "text", text }];
  const spans = new Map<string, { start: number; end: number; citations: Citation[] }>();
  for (const a of Array.isArray(annotations) ? annotations : []) {
    if (!isObject(a) || a.type !== "url_citation" || typeof a.url !== "string") continue;
    const start = Number(a.start_index);
    const end = Number(a.end_index);
    if (!(start >= 0 && end > start && end <= text.length)) continue;
    const key = `${start}:${end}`;
    const span = spans.get(key) ?? { start, end, citations: [] };
    span.citations.push({
      url: a.url,
      title: typeof a.title === "string" ? a.title : undefined,
      citedText: text.slice(start, end),
    });
    spans.set(key, span);
  }
  const out: TextPart[] = [];
  let at = 0;
  for (const span of [...spans.values()].sort((a, b) => a.start - b.start)) {
    // Overlapping annotations: the earlier one keeps the text.
    if (span.start < at) continue;
    if (span.start > at) out.push({ type: "text", text: text.slice(at, span.start) });
    out.push({ type: "text", text: text.slice(span.start, span.end), citations: span.citations });
    at = span.end;
  }
  if (at < text.length || out.length === 0) out.push({ type: "text", text: text.slice(at) });
  return out;
}

/** A web_search_call item as the search and what it found (its sources, where include asked for them). */
function webSearchParts(item: Record<string, unknown>): Part[] {
  const action = isObject(item.action) ? item.action : {};
  const id = String(item.id ?? "ws_unknown");
  const sources = Array.isArray(action.sources) ? action.sources : [];
  const input =
    action.type === "open_page"
      ? { url: action.url }
      : {
          query:
            typeof action.query === "string"
              ? action.query
              : Array.isArray(action.queries)
                ? action.queries.join(" ")
                : "",
        };
  return [
    {
      type: "server_tool_call",
      id,
      name: "web_search",
      kind: "web_search",
      input: JSON.stringify(input),
    },
    {
      type: "server_tool_result",
      callId: id,
      kind: "web_search",
      results: sources
        .filter((s) => isObject(s) && typeof s.url === "string")
        .map((s) => ({ url: String((s as Record<string, unknown>).url) })),
      ...(item.status === "failed" ? { error: "unavailable" } : {}),
    },
  ];
}

/** The output items no IR part holds, which still make an answer (Codex's remote compaction). */
function opaqueItems(output: unknown): string[] | undefined {
  if (!Array.isArray(output)) return undefined;
  // A loop, and a list only when there is one: two closures and two lists were made per answer.
  let found: string[] | undefined;
  for (const item of output) {
    const type = isObject(item) ? item.type : undefined;
    if (typeof type === "string" && COMPACTION_TYPES.has(type)) {
      found ??= [];
      found.push(type);
    }
  }
  return found;
}

// A function of the module's, not an arrow made for every answer.
function isToolCall(part: Part): boolean {
  return part.type === "tool_call";
}

function partsFromOutput(output: unknown, target: UpstreamTarget): Part[] {
  const parts: Part[] = [];
  if (!Array.isArray(output)) return parts;
  for (const item of output) {
    if (!isObject(item)) continue;
    if (item.type === "reasoning") {
      const text = Array.isArray(item.summary)
        ? item.summary.map((s) => (isObject(s) ? String(s.text ?? "") : "")).join("\n\n")
        : "";
      const signature =
        typeof item.encrypted_content === "string"
          ? issue(target, item.encrypted_content)
          : undefined;
      parts.push({ type: "thinking", text, signature });
    } else if (item.type === "message") {
      if (Array.isArray(item.content))
        for (const content of item.content) {
          if (isObject(content) && content.type === "output_text")
            parts.push(...citedTexts(String(content.text ?? ""), content.annotations));
          if (isObject(content) && content.type === "refusal")
            parts.push({ type: "text", text: String(content.refusal ?? "") });
        }
    } else if (item.type === "web_search_call") {
      parts.push(...webSearchParts(item));
    } else if (item.type === "function_call") {
      parts.push({
        type: "tool_call",
        id: String(item.call_id),
        name: String(item.name),
        arguments: String(item.arguments ?? "{}"),
      });
    } else if (item.type === "custom_tool_call") {
      parts.push({
        type: "tool_call",
        id: String(item.call_id),
        name: String(item.name),
        arguments: customArguments(String(item.input ?? "")),
      });
    }
  }
  return parts;
}

// What POST /responses/input_tokens accepts (store, include, max_output_tokens and sampling it does not).
const INPUT_TOKENS_FIELDS = [
  "model",
  "input",
  "instructions",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "reasoning",
  "text",
] as const;

const PLAIN_DELTA_KEYS = keyRules(
  markers("error"),
  [],
  [
    {
      name: markers("type")[0]!,
      values: markers(
        "response.output_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
      ),
    },
  ],
);

const TYPE_FIRST = markers('{"type":')[0]!;

/**
 * An event the Responses stream's parser reads for nothing once its answer has begun: valid JSON
 * that opens with its type (as OpenAI writes every event), a text or reasoning delta, and holds
 * no error and no other type. Tool calls, items (which carry encrypted reasoning), the usage and
 * the end are all other types; an event written otherwise is read.
 */
export function isPlainResponsesDelta(bytes: Uint8Array, start: number, end: number): boolean {
  return (
    startsWith(bytes, start, end, TYPE_FIRST) && isJsonObject(bytes, start, end, PLAIN_DELTA_KEYS)
  );
}

/** The smallest max_output_tokens OpenAI's Responses API accepts. */
const RESPONSES_MIN_OUTPUT_TOKENS = 16;

export const openaiResponsesUpstream: Readonly<UpstreamCodec> = {
  async buildRequest(request: ChatRequest, target: UpstreamTarget) {
    const body: Record<string, unknown> = {
      model: request.model,
      input: inputItems(request, target),
      store: false,
    };
    const instructions = request.system.filter((s) => s !== "").join("\n\n");
    if (instructions) body.instructions = instructions;
    const serverTools = request.serverTools ?? [];
    if (request.tools.length > 0 || serverTools.length > 0) {
      body.tools = [
        ...request.tools.map((tool) => ({
          type: "function",
          name: tool.name,
          ...(tool.description ? { description: tool.description } : {}),
          parameters: tool.parameters,
          strict: false,
        })),
        ...serverTools.map(webSearchTool),
      ];
      const choice = request.toolChoice;
      // A hosted tool is forced with "required" (its tool_choice type is web_search_preview only).
      if (choice?.type === "tool" && serverTools.some((t) => t.name === choice.name))
        body.tool_choice = "required";
      else if (choice?.type === "tool") body.tool_choice = { type: "function", name: choice.name };
      else if (choice) body.tool_choice = choice.type;
      if (request.parallelToolCalls !== undefined)
        body.parallel_tool_calls = request.parallelToolCalls;
    }
    // OpenAI refuses fewer than 16 (integer_below_min_value); other dialects allow 1, which
    // Claude Code's quota probe sends. The answer may then be a few tokens longer than asked.
    if (request.maxTokens !== undefined)
      body.max_output_tokens = Math.max(request.maxTokens, RESPONSES_MIN_OUTPUT_TOKENS);
    if (request.temperature !== undefined) body.temperature = clamp(request.temperature, 0, 2);
    if (request.topP !== undefined) body.top_p = request.topP;
    const format = request.responseFormat;
    if (format?.type === "json_object") body.text = { format: { type: "json_object" } };
    if (format?.type === "json_schema")
      body.text = {
        format: {
          type: "json_schema",
          name: format.name ?? "response",
          schema: format.schema,
          strict: format.strict ?? false,
        },
      };
    const reasoning = request.reasoning;
    if (reasoning && (reasoning.effort || reasoning.budgetTokens)) {
      body.reasoning = {
        effort: reasoning.effort ?? effortFromBudget(reasoning.budgetTokens!),
        ...(reasoning.include ? { summary: "auto" } : {}),
      };
      // Without stored state, the reasoning must travel encrypted to be reused in the next turn.
      body.include = ["reasoning.encrypted_content"];
    }
    // The pages a search found are listed only when asked for.
    if (serverTools.length > 0)
      body.include = [...((body.include as string[]) ?? []), "web_search_call.action.sources"];
    if (request.user) body.safety_identifier = request.user;
    // Only where the upstream accepts the field: others refuse a request with one they do not know.
    if (request.cacheKey && target.promptCache?.cacheKey) body.prompt_cache_key = request.cacheKey;
    if (request.stream) body.stream = true;
    return { path: RESPONSES_PATH, body };
  },

  /** The request as OpenAI's input_tokens endpoint takes it: the fields that shape the input only. */
  async buildCountRequest(request: ChatRequest, target: UpstreamTarget) {
    const { body } = await this.buildRequest({ ...request, stream: false }, target);
    const built = body as Record<string, unknown>;
    const count = Object.fromEntries(
      INPUT_TOKENS_FIELDS.filter((key) => built[key] !== undefined).map((key) => [key, built[key]]),
    );
    return { path: RESPONSES_INPUT_TOKENS_PATH, body: count };
  },

  parseCount(body: unknown): number {
    return isObject(body) && typeof body.input_tokens === "number" ? body.input_tokens : 0;
  },

  parseResponse(body: unknown, target: UpstreamTarget): ChatResponse {
    if (!isObject(body)) throw offProtocol("the upstream's answer is not a JSON object");
    const parts = partsFromOutput(body.output, target);
    return {
      id: String(body.id ?? "resp_unknown"),
      model: String(body.model ?? ""),
      created:
        typeof body.created_at === "number" ? body.created_at : Math.floor(Date.now() / 1000),
      parts,
      stop: stopOf(body, parts.some(isToolCall)),
      usage: fromUsage(body.usage) ?? { input: 0, output: 0 },
      opaqueOutput: opaqueItems(body.output),
    };
  },

  skippableData: isPlainResponsesDelta,
  serverTools: ["web_search"],

  streamParser(
    emit: Emit,
    target: UpstreamTarget,
    _contentType: string,
    limit?: EventLimit,
    request?: ChatRequest,
  ) {
    const searching = (request?.serverTools?.length ?? 0) > 0;
    return new SseParser(new ResponsesStreamReading(emit, target, searching), limit);
  },

  parseError: parseOpenAIError,
};

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * What a Responses stream says, event by event (its SSE framing is the parser's).
 * `searching`: the request gave the upstream its web search. Its citations arrive after the text
 * they cite (response.output_text.annotation.added), so a message's text is taken whole from its
 * output_item.done, cut at its annotations, instead of delta by delta.
 */
class ResponsesStreamReading implements SseHandler {
  private readonly calls = new Map<number, number>();
  private toolCount = 0;

  constructor(
    private readonly emit: Emit,
    private readonly target: UpstreamTarget,
    private readonly searching: boolean,
  ) {}

  event(sseData: string): boolean {
    const { emit, target } = this;
    const data = parseStreamJson(sseData);
    if (!isObject(data)) return false;
    // Most events have neither: one empty object read for them, not two made for every delta.
    const response = isObject(data.response) ? data.response : NO_FIELDS;
    const item = isObject(data.item) ? data.item : NO_FIELDS;
    const outputIndex = Number(data.output_index);
    switch (data.type) {
      case "response.created":
        emit({
          type: "start",
          id: String(response.id ?? "resp_unknown"),
          model: String(response.model ?? ""),
          created: Number(response.created_at ?? Math.floor(Date.now() / 1000)),
          usage: { input: 0, output: 0 },
        });
        break;
      case "response.output_text.delta":
        if (!this.searching) emit({ type: "text", text: String(data.delta ?? "") });
        break;
      case "response.reasoning_summary_text.delta":
      case "response.reasoning_text.delta":
        emit({ type: "thinking", text: String(data.delta ?? "") });
        break;
      case "response.output_item.added":
        if (item.type === "function_call" || item.type === "custom_tool_call") {
          const index = this.toolCount++;
          this.calls.set(outputIndex, index);
          emit({
            type: "tool_call_start",
            index,
            id: String(item.call_id),
            name: String(item.name),
          });
        }
        break;
      case "response.function_call_arguments.delta": {
        const index = this.calls.get(outputIndex);
        if (index !== undefined)
          emit({ type: "tool_call_delta", index, arguments: String(data.delta ?? "") });
        break;
      }
      case "response.output_item.done": {
        const index = this.calls.get(outputIndex);
        if (index !== undefined) {
          if (item.type === "custom_tool_call")
            emit({
              type: "tool_call_delta",
              index,
              arguments: customArguments(String(item.input ?? "")),
            });
          emit({ type: "tool_call_end", index });
        }
        if (this.searching && (item.type === "message" || item.type === "web_search_call"))
          for (const part of partsFromOutput([item], target)) {
            if (part.type === "text")
              emit({ type: "text", text: part.text, citations: part.citations });
            else if (part.type === "server_tool_call" || part.type === "server_tool_result")
              emit({ type: "server_tool", part });
          }
        // Codex's remote compaction: the answer to a compaction_trigger is one compaction item.
        if (typeof item.type === "string" && COMPACTION_TYPES.has(item.type))
          emit({ type: "opaque_output", itemType: item.type });
        if (item.type === "reasoning" && typeof item.encrypted_content === "string")
          emit({
            type: "thinking_signature",
            signature: issue(target, item.encrypted_content),
          });
        break;
      }
      case "response.completed":
      case "response.incomplete":
        emit({
          type: "finish",
          stop: stopOf(response, this.toolCount > 0),
          usage: fromUsage(response.usage) ?? { input: 0, output: 0 },
        });
        return true;
      case "response.failed": {
        const error = isObject(response.error) ? response.error : {};
        emit({
          type: "error",
          // A prompt over the window fails the same on every account: the client's to fix, not a server error.
          status: error.code === "context_length_exceeded" ? 400 : 500,
          message: String(error.message ?? "the upstream's response failed"),
        });
        return true;
      }
      case "error":
        emit({
          type: "error",
          status: 500,
          message: String(data.message ?? "the upstream reported an error"),
        });
        return true;
      default:
    }
    return false;
  }

  ended(): void {
    throw cutShort("the upstream's stream ended before response.completed");
  }
}
