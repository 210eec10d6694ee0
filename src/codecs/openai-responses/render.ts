import { imageGenerationItem } from "../media-output.ts";
import { openaiErrorBody } from "../openai-compatible/error-body.ts";
import type {
  ChatRequest,
  Citation,
  Opaque,
  Part,
  ServerToolCallPart,
  ServerToolResultPart,
  StopReason,
  StreamEvent,
  Tool,
  Usage,
} from "../../ir.ts";
import { customInput, isCustomTool } from "../openai-chat/wire.ts";
import { encodeReasoning } from "../opaque.ts";
import { argumentsObject, idWithPrefix, randomId, sseEvent, unixNow } from "../shared.ts";
import type { ClientContext, ResponsesSettings } from "../codec.ts";
import type { StreamRenderer, Write } from "../stream-render.ts";
import { parseResponsesSettings } from "./settings.ts";

/* Responses objects and their event stream, from the IR. */

export function responsesUsage(usage: Usage) {
  return {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: usage.cached ?? 0 },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
    total_tokens: usage.input + usage.output,
  };
}

function outcome(stop: StopReason | undefined): {
  status: string;
  incomplete_details: { reason: string } | null;
} {
  if (stop === "length")
    return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  if (stop === "content_filter")
    return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  return { status: "completed", incomplete_details: null };
}

/** The request's Responses settings, with its minted id; parsed once so every event reports the same id. */
export function settingsOf(ctx: ClientContext): ResponsesSettings {
  ctx.responses ??= parseResponsesSettings({});
  return ctx.responses;
}

interface Shell {
  model: string;
  created: number;
}

function textFormat(format: ChatRequest["responseFormat"]) {
  if (format?.type === "json_schema")
    return {
      type: "json_schema",
      name: format.name ?? "response",
      description: null,
      schema: format.schema,
      strict: format.strict ?? false,
    };
  return { type: format?.type ?? "text" };
}

function toolsOf(tools: Tool[]) {
  return tools
    .filter((tool) => !tool.namespace)
    .map((tool) =>
      tool.kind === "custom"
        ? { type: "custom", name: tool.name, description: tool.description ?? null }
        : {
            type: "function",
            name: tool.name,
            description: tool.description ?? null,
            parameters: tool.parameters,
            strict: false,
          },
    );
}

/**
 * The Response object: the output and usage, and the request's settings echoed back as the API
 * does. Every field the Open Responses specification requires is present, null where it has no
 * value yet (completed_at until the response completes, usage until it is known).
 */
export function responseObject(
  ctx: ClientContext,
  shell: Shell,
  fields: {
    stop?: StopReason;
    output: unknown[];
    usage: Usage | null;
    status?: string;
    error?: unknown;
  },
) {
  const request = ctx.request;
  const settings = settingsOf(ctx);
  const result = fields.status
    ? { status: fields.status, incomplete_details: null }
    : outcome(fields.stop);
  const choice = request.toolChoice;
  return {
    id: settings.id,
    object: "response",
    created_at: shell.created,
    completed_at: result.status === "completed" ? unixNow() : null,
    status: result.status,
    incomplete_details: result.incomplete_details,
    model: shell.model,
    previous_response_id: settings.previousResponseId,
    instructions: settings.instructions,
    output: fields.output,
    error: fields.error ?? null,
    tools: [
      ...toolsOf(request.tools),
      ...(request.serverTools ?? []).map((tool) => ({
        type: tool.type.startsWith("web_search") ? tool.type : "web_search",
      })),
    ],
    tool_choice:
      choice === undefined
        ? "auto"
        : choice.type === "tool"
          ? request.serverTools?.some((t) => t.name === choice.name)
            ? { type: "web_search" }
            : { type: "function", name: choice.name }
          : choice.type,
    truncation: settings.truncation,
    parallel_tool_calls: request.parallelToolCalls ?? true,
    text: {
      format: textFormat(request.responseFormat),
      ...(settings.verbosity ? { verbosity: settings.verbosity } : {}),
    },
    top_p: request.topP ?? 1,
    presence_penalty: settings.presencePenalty,
    frequency_penalty: settings.frequencyPenalty,
    top_logprobs: settings.topLogprobs,
    temperature: request.temperature ?? 1,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: settings.reasoningSummary },
    usage: fields.usage && responsesUsage(fields.usage),
    max_output_tokens: request.maxTokens ?? null,
    max_tool_calls: settings.maxToolCalls,
    store: settings.store,
    background: false,
    service_tier: settings.serviceTier,
    metadata: settings.metadata,
    safety_identifier: settings.safetyIdentifier,
    prompt_cache_key: settings.promptCacheKey,
    user: settings.user,
  };
}

function reasoningItem(
  id: string,
  text: string,
  signature: Opaque | undefined,
  ctx: ClientContext,
) {
  return {
    id,
    type: "reasoning",
    summary: ctx.request.reasoning?.include && text !== "" ? [{ type: "summary_text", text }] : [],
    ...(ctx.responses?.includeEncryptedReasoning && (signature || text !== "")
      ? { encrypted_content: encodeReasoning(signature, text) }
      : {}),
  };
}

interface UrlCitation {
  type: "url_citation";
  start_index: number;
  end_index: number;
  url: string;
  title: string;
}

/** The url_citation annotations for text cited from `start` (in the message's text) on. */
function urlCitations(
  text: string,
  start: number,
  citations: Citation[] | undefined,
): UrlCitation[] {
  return (citations ?? []).map((c) => ({
    type: "url_citation",
    start_index: start,
    end_index: start + text.length,
    url: c.url,
    title: c.title ?? c.url,
  }));
}

function messageItem(
  id: string,
  text: string,
  status: "in_progress" | "completed",
  annotations: UrlCitation[] = [],
) {
  return {
    id,
    type: "message",
    status,
    role: "assistant",
    content:
      status === "in_progress" ? [] : [{ type: "output_text", text, annotations, logprobs: [] }],
  };
}

/** A server tool's call as the Responses API's web_search_call: a search, or a page opened (web fetch). */
function webSearchItem(
  call: ServerToolCallPart,
  result: ServerToolResultPart | undefined,
  status: "in_progress" | "completed",
) {
  const input = argumentsObject(call.input);
  const sources = result?.results.map((r) => ({ type: "url", url: r.url })) ?? [];
  const action =
    call.kind === "web_fetch"
      ? { type: "open_page", url: String(input.url ?? "") }
      : {
          type: "search",
          query: String(input.query ?? ""),
          ...(sources.length > 0 ? { sources } : {}),
        };
  return {
    id: idWithPrefix(call.id.replace(/^srvtoolu_/, ""), "ws_"),
    type: "web_search_call",
    status: result?.error !== undefined ? "failed" : status,
    action,
  };
}

function callItem(
  id: string,
  callId: string,
  name: string,
  args: string,
  status: "in_progress" | "completed",
  ctx: ClientContext,
) {
  const namespace = ctx.request.tools.find((tool) => tool.name === name)?.namespace;
  const scope = namespace ? { namespace } : {};
  if (isCustomTool(ctx.request.tools, name))
    return {
      id: idWithPrefix(id, "ctc_"),
      type: "custom_tool_call",
      status,
      call_id: callId,
      name,
      ...scope,
      input: status === "completed" ? customInput(args) : "",
    };
  return { id, type: "function_call", status, call_id: callId, name, ...scope, arguments: args };
}

/** Output items for a whole answer: runs of thinking and of text become one item each, each call its own. */
export function itemsFromParts(parts: Part[], ctx: ClientContext): unknown[] {
  const items: unknown[] = [];
  let text: string | undefined;
  let annotations: UrlCitation[] = [];
  let thinking: { text: string; signature?: Opaque } | undefined;
  const flush = () => {
    if (thinking)
      items.push(reasoningItem(randomId("rs_"), thinking.text, thinking.signature, ctx));
    if (text !== undefined)
      items.push(messageItem(randomId("msg_"), text, "completed", annotations));
    thinking = undefined;
    text = undefined;
    annotations = [];
  };
  const results = new Map<string, ServerToolResultPart>();
  for (const part of parts) if (part.type === "server_tool_result") results.set(part.callId, part);
  for (const part of parts) {
    if (part.type === "thinking") {
      if (text !== undefined) flush();
      thinking = {
        text: (thinking?.text ?? "") + part.text,
        signature: part.signature ?? thinking?.signature,
      };
    } else if (part.type === "text") {
      if (thinking) flush();
      annotations.push(...urlCitations(part.text, (text ?? "").length, part.citations));
      text = (text ?? "") + part.text;
    } else if (part.type === "server_tool_call") {
      flush();
      items.push(webSearchItem(part, results.get(part.id), "completed"));
    } else if (part.type === "tool_call") {
      flush();
      items.push(callItem(randomId("fc_"), part.id, part.name, part.arguments, "completed", ctx));
    } else if (part.type === "media") {
      flush();
      items.push(imageGenerationItem(randomId("ig_"), part.source, "completed"));
    }
  }
  flush();
  return items;
}

type OpenItem =
  | {
      kind: "reasoning";
      id: string;
      index: number;
      text: string;
      signature?: Opaque;
      summaryOpen: boolean;
    }
  | { kind: "message"; id: string; index: number; text: string; annotations: UrlCitation[] }
  | { kind: "call"; id: string; index: number; callId: string; name: string; args: string };

type ReasoningItem = Extract<OpenItem, { kind: "reasoning" }>;
type MessageItem = Extract<OpenItem, { kind: "message" }>;

/**
 * The Responses event stream. The SDK's accumulator requires response.created first, each item
 * added before its deltas and each content part added before its text, and knows every event
 * type by name; there is no [DONE].
 */
export class ResponsesStreamRenderer implements StreamRenderer {
  private sequence = 0;
  private shell: Shell = { model: "", created: unixNow() };
  private readonly output: unknown[] = [];
  /** The item being streamed: one at a time, closed (its done events written) before the next is added. */
  private open: OpenItem | undefined;
  private pendingSearch: ServerToolCallPart | undefined;
  private readonly showSummary: boolean;

  constructor(
    private readonly ctx: ClientContext,
    private readonly write: Write,
  ) {
    this.showSummary = ctx.request.reasoning?.include === true;
  }

  private emit(type: string, data: object): void {
    this.write(sseEvent(type, { type, sequence_number: this.sequence++, ...data }));
  }

  private close(): void {
    const item = this.open;
    if (!item) return;
    this.open = undefined;
    const { ctx, output } = this;
    if (item.kind === "reasoning") {
      if (item.summaryOpen) {
        this.emit("response.reasoning_summary_text.done", {
          item_id: item.id,
          output_index: item.index,
          summary_index: 0,
          text: item.text,
        });
        this.emit("response.reasoning_summary_part.done", {
          item_id: item.id,
          output_index: item.index,
          summary_index: 0,
          part: { type: "summary_text", text: item.text },
        });
      }
      const done = reasoningItem(item.id, item.text, item.signature, ctx);
      output.push(done);
      this.emit("response.output_item.done", { output_index: item.index, item: done });
    } else if (item.kind === "message") {
      const at = { item_id: item.id, output_index: item.index, content_index: 0 };
      this.emit("response.output_text.done", { ...at, text: item.text, logprobs: [] });
      this.emit("response.content_part.done", {
        ...at,
        part: { type: "output_text", text: item.text, annotations: item.annotations, logprobs: [] },
      });
      const done = messageItem(item.id, item.text, "completed", item.annotations);
      output.push(done);
      this.emit("response.output_item.done", { output_index: item.index, item: done });
    } else {
      const done = callItem(item.id, item.callId, item.name, item.args, "completed", ctx);
      if (done.type === "custom_tool_call") {
        const input = customInput(item.args);
        this.emit("response.custom_tool_call_input.delta", {
          item_id: done.id,
          output_index: item.index,
          delta: input,
        });
        this.emit("response.custom_tool_call_input.done", {
          item_id: done.id,
          output_index: item.index,
          input,
        });
      } else {
        this.emit("response.function_call_arguments.done", {
          item_id: item.id,
          output_index: item.index,
          name: item.name,
          arguments: item.args,
        });
      }
      output.push(done);
      this.emit("response.output_item.done", { output_index: item.index, item: done });
    }
  }

  private openReasoning(): ReasoningItem {
    if (this.open?.kind === "reasoning") return this.open;
    this.close();
    const item: ReasoningItem = {
      kind: "reasoning",
      id: randomId("rs_"),
      index: this.output.length,
      text: "",
      summaryOpen: false,
    };
    this.open = item;
    this.emit("response.output_item.added", {
      output_index: item.index,
      item: { id: item.id, type: "reasoning", summary: [] },
    });
    return item;
  }

  private openMessage(): MessageItem {
    if (this.open?.kind === "message") return this.open;
    this.close();
    const item: MessageItem = {
      kind: "message",
      id: randomId("msg_"),
      index: this.output.length,
      text: "",
      annotations: [],
    };
    this.open = item;
    this.emit("response.output_item.added", {
      output_index: item.index,
      item: messageItem(item.id, "", "in_progress"),
    });
    this.emit("response.content_part.added", {
      item_id: item.id,
      output_index: item.index,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [], logprobs: [] },
    });
    return item;
  }

  private flushSearch(result?: ServerToolResultPart): void {
    const call = this.pendingSearch;
    if (!call) return;
    this.pendingSearch = undefined;
    const index = this.output.length;
    const added = webSearchItem(call, undefined, "in_progress");
    const at = { output_index: index, item_id: added.id };
    this.emit("response.output_item.added", { output_index: index, item: added });
    this.emit("response.web_search_call.in_progress", at);
    this.emit("response.web_search_call.searching", at);
    this.emit("response.web_search_call.completed", at);
    const done = webSearchItem(call, result, "completed");
    this.output.push(done);
    this.emit("response.output_item.done", { output_index: index, item: done });
  }

  event(event: StreamEvent): boolean {
    const { ctx, output } = this;
    if (this.pendingSearch && event.type !== "server_tool") this.flushSearch();
    switch (event.type) {
      case "start": {
        this.shell = { model: event.model, created: event.created };
        const snapshot = responseObject(ctx, this.shell, {
          status: "in_progress",
          output: [],
          usage: null,
        });
        this.emit("response.created", { response: snapshot });
        this.emit("response.in_progress", { response: snapshot });
        break;
      }
      case "thinking": {
        const item = this.openReasoning();
        item.text += event.text;
        if (!this.showSummary) break;
        if (!item.summaryOpen) {
          item.summaryOpen = true;
          this.emit("response.reasoning_summary_part.added", {
            item_id: item.id,
            output_index: item.index,
            summary_index: 0,
            part: { type: "summary_text", text: "" },
          });
        }
        this.emit("response.reasoning_summary_text.delta", {
          item_id: item.id,
          output_index: item.index,
          summary_index: 0,
          delta: event.text,
        });
        break;
      }
      case "thinking_signature":
        this.openReasoning().signature = event.signature;
        this.close();
        break;
      case "text": {
        if (event.text === "") break;
        const item = this.openMessage();
        const cited = urlCitations(event.text, item.text.length, event.citations);
        item.text += event.text;
        this.emit("response.output_text.delta", {
          item_id: item.id,
          output_index: item.index,
          content_index: 0,
          delta: event.text,
          logprobs: [],
        });
        for (const annotation of cited) {
          this.emit("response.output_text.annotation.added", {
            item_id: item.id,
            output_index: item.index,
            content_index: 0,
            annotation_index: item.annotations.length,
            annotation,
          });
          item.annotations.push(annotation);
        }
        break;
      }
      case "server_tool": {
        // A search is shown once its results are in: the call waits for them, or for what comes next.
        if (event.part.type === "server_tool_call") {
          this.flushSearch();
          this.close();
          this.pendingSearch = event.part;
        } else if (this.pendingSearch && event.part.callId === this.pendingSearch.id)
          this.flushSearch(event.part);
        break;
      }
      case "media": {
        this.close();
        const index = output.length;
        const id = randomId("ig_");
        const at = { output_index: index, item_id: id };
        this.emit("response.output_item.added", {
          output_index: index,
          item: imageGenerationItem(id, event.source, "in_progress"),
        });
        this.emit("response.image_generation_call.in_progress", at);
        this.emit("response.image_generation_call.generating", at);
        this.emit("response.image_generation_call.completed", at);
        const done = imageGenerationItem(id, event.source, "completed");
        output.push(done);
        this.emit("response.output_item.done", { output_index: index, item: done });
        break;
      }
      case "tool_call_start": {
        this.close();
        const call: OpenItem = {
          kind: "call",
          id: randomId("fc_"),
          index: output.length,
          callId: event.id,
          name: event.name,
          args: "",
        };
        this.open = call;
        const added = callItem(call.id, call.callId, call.name, "", "in_progress", ctx);
        if (added.type === "custom_tool_call") call.id = added.id;
        this.emit("response.output_item.added", { output_index: call.index, item: added });
        break;
      }
      case "tool_call_delta": {
        const call = this.open;
        if (call?.kind !== "call") break;
        call.args += event.arguments;
        if (!isCustomTool(ctx.request.tools, call.name))
          this.emit("response.function_call_arguments.delta", {
            item_id: call.id,
            output_index: call.index,
            delta: event.arguments,
          });
        break;
      }
      case "tool_call_end":
        if (this.open?.kind === "call") this.close();
        break;
      case "finish": {
        this.close();
        const done = responseObject(ctx, this.shell, {
          stop: event.stop,
          output,
          usage: event.usage,
        });
        this.emit(done.status === "completed" ? "response.completed" : "response.incomplete", {
          response: done,
        });
        return true;
      }
      case "error": {
        const { error } = openaiErrorBody(event.status, event.message) as {
          error: { type: string; code: string | null };
        };
        const code = error.code ?? error.type;
        // OpenAI's SDKs read code and message at the top; the Open Responses specification nests them in `error`.
        this.emit("error", {
          code,
          message: event.message,
          param: null,
          error: { type: error.type, code, message: event.message, param: null },
        });
        this.emit("response.failed", {
          response: responseObject(ctx, this.shell, {
            status: "failed",
            output,
            usage: null,
            error: { code, message: event.message },
          }),
        });
        return true;
      }
      default:
      // usage arrives with finish; redacted thinking is Anthropic's alone
    }
    return false;
  }
}
