import { anthropicStreamError } from "./stream-error.ts";
import type {
  CacheMark,
  ChatRequest,
  ChatResponse,
  Opaque,
  Part,
  Reasoning,
  ServerTool,
  StreamEvent,
  Tool,
  ToolChoice,
  Turn,
  Usage,
} from "../../ir.ts";
import { textOf } from "../../ir.ts";
import { encodeOpaque } from "../opaque.ts";
import { withCache } from "../cache-marks.ts";
import {
  badRequest,
  idWithPrefix,
  NO_FIELDS,
  nothing,
  optionalNumber,
  optionalStrings,
  sseEvent,
} from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import {
  blocksFromParts,
  mediaBlock,
  partsFromBlocks,
  TO_ANTHROPIC_STOP,
  toAnthropicUsage,
} from "./wire.ts";
import { citationBlock, parseServerTool, searchesIn, serverBlock } from "./server-tools.ts";
import type { StreamRenderer, Write } from "../stream-render.ts";

const encodeOr = (o: Opaque | undefined) => (o ? encodeOpaque(o) : "");

/** usage, with server_tool_use where the answer ran a web search (Claude Code counts them). */
function clientUsage(usage: Usage, searches: number): Record<string, unknown> {
  // Set on toAnthropicUsage's own object: two spreads made two objects more for every answer.
  const written: Record<string, unknown> = toAnthropicUsage(usage);
  if (searches > 0) written.server_tool_use = { web_search_requests: searches };
  return written;
}

/** What a request without tool_choice reads: one object, shared, never written. */
const NO_CHOICE: Readonly<{ choice?: ToolChoice; parallel?: boolean }> = Object.freeze({});
/** blocksFromParts' options, one of two, not an object an answer. */
const SHOW_THINKING: Readonly<{ thinking: boolean }> = Object.freeze({ thinking: true });
const HIDE_THINKING: Readonly<{ thinking: boolean }> = Object.freeze({ thinking: false });

function parseTools(value: unknown): { tools: Tool[]; serverTools?: ServerTool[] } {
  if (value === undefined || value === null) return { tools: [] };
  if (!Array.isArray(value)) throw badRequest("tools: Input should be a valid list", "tools");
  const tools: Tool[] = [];
  const serverTools: ServerTool[] = [];
  value.forEach((tool, i) => {
    if (!isObject(tool) || typeof tool.name !== "string")
      throw badRequest(`tools.${i}.name: Field required`, `tools.${i}.name`);
    // Typed tools run at the provider: web search and fetch are carried, any other is refused by name.
    if (tool.type !== undefined && tool.type !== null && tool.type !== "custom") {
      serverTools.push(parseServerTool(tool, `tools.${i}`));
      return;
    }
    tools.push({
      name: tool.name,
      description: typeof tool.description === "string" ? tool.description : undefined,
      parameters: isObject(tool.input_schema)
        ? tool.input_schema
        : { type: "object", properties: {} },
      kind: "function",
      ...withCache(tool.cache_control),
    });
  });
  return serverTools.length > 0 ? { tools, serverTools } : { tools };
}

function parseToolChoice(value: unknown): Readonly<{ choice?: ToolChoice; parallel?: boolean }> {
  if (!isObject(value)) return NO_CHOICE;
  const parallel = value.disable_parallel_tool_use === true ? false : undefined;
  switch (value.type) {
    case "auto":
      return { choice: { type: "auto" }, parallel };
    case "any":
      return { choice: { type: "required" }, parallel };
    case "none":
      return { choice: { type: "none" }, parallel };
    case "tool":
      if (typeof value.name !== "string")
        throw badRequest("tool_choice.name: Field required", "tool_choice.name");
      return { choice: { type: "tool", name: value.name }, parallel };
    default:
      throw badRequest(
        "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
        "tool_choice.type",
      );
  }
}

function parseReasoning(body: JsonObject): Reasoning | undefined {
  const thinking = body.thinking;
  const effort =
    isObject(body.output_config) && typeof body.output_config.effort === "string"
      ? (body.output_config.effort as Reasoning["effort"])
      : undefined;
  if (!isObject(thinking) || thinking.type === "disabled")
    return effort ? { effort, include: false } : undefined;
  if (thinking.type === "enabled") {
    if (typeof thinking.budget_tokens !== "number")
      throw badRequest("thinking.enabled.budget_tokens: Field required", "thinking.budget_tokens");
    return {
      budgetTokens: thinking.budget_tokens,
      effort,
      include: thinking.display !== "omitted",
    };
  }
  if (thinking.type === "adaptive")
    return { effort: effort ?? "medium", include: thinking.display !== "omitted" };
  throw badRequest(
    "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'",
    "thinking.type",
  );
}

function parseResponseFormat(body: JsonObject): ChatRequest["responseFormat"] {
  const config = body.output_config;
  if (!isObject(config) || !isObject(config.format)) return undefined;
  if (config.format.type === "json_schema" && isObject(config.format.schema))
    return { type: "json_schema", schema: config.format.schema };
  return undefined;
}

export const anthropicMessagesClient: Readonly<ClientCodec> = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    // Made where there is a system prompt: a request without one gets the one shared empty list.
    let system: string[] | undefined;
    // Made at the first mark: most requests have none, and an empty list was made for each.
    let systemCache: (CacheMark | undefined)[] | undefined;
    if (body.system !== undefined && body.system !== null) {
      system = [];
      if (typeof body.system === "string") system.push(body.system);
      else
        for (const part of partsFromBlocks(body.system, "system"))
          if (part.type === "text") {
            if (part.cache !== undefined || systemCache !== undefined) {
              systemCache ??= new Array<CacheMark | undefined>(system.length).fill(undefined);
              systemCache[system.length] = part.cache;
            }
            system.push(part.text);
          }
    }
    const messages = body.messages;
    if (!Array.isArray(messages)) throw badRequest("messages: Field required", "messages");
    if (messages.length === 0)
      throw badRequest("messages: at least one message is required", "messages");
    const turns: Turn[] = [];
    // A loop, not forEach: a closure and its scope a request.
    for (let i = 0; i < messages.length; i++) {
      const message: unknown = messages[i];
      if (!isObject(message))
        throw badRequest(`messages.${i}: Input should be an object`, `messages.${i}`);
      // A string as one text part, without the words for its place (a string a message).
      const content = message.content;
      const parts: Part[] =
        typeof content === "string"
          ? [{ type: "text", text: content }]
          : partsFromBlocks(content, `messages.${i}.content`);
      if (message.role === "user" || message.role === "assistant")
        turns.push({ role: message.role, parts });
      else if (message.role === "system") {
        system ??= [];
        system.push(textOf(parts));
      } else
        throw badRequest(
          `messages.${i}.role: Input should be 'user' or 'assistant'`,
          `messages.${i}.role`,
        );
    }
    const { choice, parallel } = parseToolChoice(body.tool_choice);
    const metadata = isObject(body.metadata) ? body.metadata : undefined;
    // Parsed only where there are some: parseTools' object for none was one a request.
    const given =
      body.tools === undefined || body.tools === null ? undefined : parseTools(body.tools);
    return {
      model,
      system: system ?? nothing(),
      ...(systemCache !== undefined ? { systemCache } : NO_FIELDS),
      turns,
      tools: given ? given.tools : nothing(),
      ...(given?.serverTools ? { serverTools: given.serverTools } : NO_FIELDS),
      toolChoice: choice,
      parallelToolCalls: parallel,
      stream,
      maxTokens: optionalNumber(body, "max_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      topK: optionalNumber(body, "top_k"),
      stop: optionalStrings(body, "stop_sequences"),
      responseFormat: parseResponseFormat(body),
      reasoning: parseReasoning(body),
      user: typeof metadata?.user_id === "string" ? metadata.user_id : undefined,
    };
  },

  renderCount: (tokens: number) => ({ input_tokens: tokens }),
  renderResponse(response: ChatResponse, ctx: ClientContext) {
    return {
      id: idWithPrefix(response.id, "msg_"),
      type: "message",
      role: "assistant",
      model: response.model,
      content: blocksFromParts(
        response.parts,
        encodeOr,
        ctx.request.reasoning?.include === true ? SHOW_THINKING : HIDE_THINKING,
      ),
      stop_reason: TO_ANTHROPIC_STOP[response.stop],
      stop_sequence: response.stopSequence ?? null,
      usage: answerUsage(response),
    };
  },

  streamRenderer(ctx: ClientContext, write: Write) {
    return new AnthropicStreamRenderer(ctx.request.reasoning?.include === true, write);
  },
};

/** message_start's usage: service_tier last, on toAnthropicUsage's object rather than a copy of it. */
function startUsage(usage: Usage): Record<string, unknown> {
  const written: Record<string, unknown> = toAnthropicUsage(usage);
  written.service_tier = "standard";
  return written;
}

/** A whole answer's usage: service_tier last, on clientUsage's object rather than a copy of it. */
function answerUsage(response: ChatResponse): Record<string, unknown> {
  const usage = clientUsage(
    response.usage,
    response.usage.webSearches ?? searchesIn(response.parts),
  );
  usage.service_tier = "standard";
  return usage;
}

type BlockKind = "text" | "cited" | "thinking" | "tool";

/** The deltas that carry one string, and the field that holds it. */
type DeltaKind = "text_delta" | "thinking_delta" | "input_json_delta";
const DELTA_FIELD: Readonly<Record<DeltaKind, string>> = Object.freeze({
  text_delta: "text",
  thinking_delta: "thinking",
  input_json_delta: "partial_json",
});

/** Anthropic's stream: message_start, then one content block at a time (start, deltas, stop), message_delta, message_stop. */
class AnthropicStreamRenderer implements StreamRenderer {
  private index = -1;
  /** Cited text is a block of its own ("cited"), so plain text after it opens another. */
  private open: BlockKind | undefined;
  private searches = 0;
  /** deltaValue's text before the value, and the block and kind of delta it is for. */
  private head = "";
  private headIndex = -1;
  private headKind: DeltaKind | undefined;

  constructor(
    private readonly showThinking: boolean,
    private readonly write: Write,
  ) {}

  private start(block: object, kind: BlockKind): void {
    this.index++;
    this.open = kind;
    this.write(
      sseEvent("content_block_start", {
        type: "content_block_start",
        index: this.index,
        content_block: block,
      }),
    );
  }

  private delta(body: object): void {
    this.write(
      sseEvent("content_block_delta", {
        type: "content_block_delta",
        index: this.index,
        delta: body,
      }),
    );
  }

  /**
   * A text, thinking or argument delta, as delta() writes it: the event's text up to the value is
   * made once a block, where an object for the delta, one around it and their JSON were made for
   * every chunk of every stream.
   */
  private deltaValue(kind: DeltaKind, value: string): void {
    if (this.headIndex !== this.index || this.headKind !== kind) {
      this.headIndex = this.index;
      this.headKind = kind;
      this.head = `event: content_block_delta\ndata: {"type":"content_block_delta","index":${this.index},"delta":{"type":"${kind}","${DELTA_FIELD[kind]}":`;
    }
    this.write(`${this.head}${JSON.stringify(value)}}}\n\n`);
  }

  private close(): void {
    if (this.open === undefined) return;
    this.write(sseEvent("content_block_stop", { type: "content_block_stop", index: this.index }));
    this.open = undefined;
  }

  private openThinking(): void {
    if (this.open === "thinking") return;
    this.close();
    this.start({ type: "thinking", thinking: "", signature: "" }, "thinking");
  }

  event(event: StreamEvent): boolean {
    switch (event.type) {
      case "start":
        this.write(
          sseEvent("message_start", {
            type: "message_start",
            message: {
              id: idWithPrefix(event.id, "msg_"),
              type: "message",
              role: "assistant",
              model: event.model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              usage: startUsage(event.usage),
            },
          }),
        );
        break;
      case "thinking":
        if (!this.showThinking) break;
        this.openThinking();
        this.deltaValue("thinking_delta", event.text);
        break;
      case "thinking_signature":
        if (!this.showThinking) break;
        this.openThinking();
        this.delta({ type: "signature_delta", signature: encodeOpaque(event.signature) });
        this.close();
        break;
      case "redacted_thinking":
        if (!this.showThinking) break;
        this.close();
        this.start({ type: "redacted_thinking", data: encodeOpaque(event.data) }, "thinking");
        this.close();
        break;
      case "text":
        // Cited text is a block of its own, as Anthropic sends it: citations_delta, then its text.
        if (event.citations) {
          this.close();
          this.start({ type: "text", text: "" }, "cited");
          for (const citation of event.citations)
            this.delta({ type: "citations_delta", citation: citationBlock(citation, encodeOr) });
        } else if (this.open !== "text") {
          this.close();
          this.start({ type: "text", text: "" }, "text");
        }
        if (event.text !== "") this.deltaValue("text_delta", event.text);
        break;
      case "server_tool": {
        this.close();
        const part = event.part;
        if (part.type === "server_tool_call") {
          if (part.kind === "web_search") this.searches++;
          // The call's input streams as JSON, as a tool_use's does; its result block comes whole.
          this.start({ ...serverBlock(part, encodeOr), input: {} }, "tool");
          this.deltaValue("input_json_delta", part.input);
        } else this.start(serverBlock(part, encodeOr), "tool");
        this.close();
        break;
      }
      case "media":
        this.close();
        this.start(mediaBlock({ type: "media", source: event.source }), "tool");
        this.close();
        break;
      case "tool_call_start":
        this.close();
        this.start({ type: "tool_use", id: event.id, name: event.name, input: {} }, "tool");
        break;
      case "tool_call_delta":
        if (this.open === "tool") this.deltaValue("input_json_delta", event.arguments);
        break;
      case "tool_call_end":
        if (this.open === "tool") this.close();
        break;
      case "finish":
        this.close();
        // The finish's usage is the whole answer's: it stands in for any start or usage event's.
        this.write(
          sseEvent("message_delta", {
            type: "message_delta",
            delta: {
              stop_reason: TO_ANTHROPIC_STOP[event.stop],
              stop_sequence: event.stopSequence ?? null,
            },
            usage: clientUsage(event.usage, event.usage.webSearches ?? this.searches),
          }),
        );
        this.write(sseEvent("message_stop", { type: "message_stop" }));
        return true;
      case "error":
        this.write(anthropicStreamError(event.status, event.message));
        return true;
    }
    return false;
  }
}
