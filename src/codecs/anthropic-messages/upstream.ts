import { cutShort, offProtocol } from "../../failure.ts";
import { anthropicEndpointPath } from "./endpoint.ts";
import type {
  ChatRequest,
  Citation,
  ChatResponse,
  Part,
  StopReason,
  Turn,
  Usage,
} from "../../ir.ts";
import { issue, issuedBy } from "../opaque.ts";
import { type Emit, type EventLimit, type SseHandler, SseParser } from "../sse.ts";
import {
  clamp,
  EFFORT_BUDGET,
  failureFromBody,
  mergeSameRoleTurns,
  parseStreamJson,
} from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { UpstreamCodec, ErrorBodyReading, UpstreamTarget } from "../codec.ts";
import { blocksFromParts, fromAnthropicStop, fromAnthropicUsage, partsFromBlocks } from "./wire.ts";
import { cacheControl } from "../cache-marks.ts";
import { placeBreakpoints } from "./breakpoints.ts";
import { citationsFrom, serverPartFrom, serverToolBlock } from "./server-tools.ts";

/** Anthropic requires max_tokens; this is what a request that did not say gets. */
export const DEFAULT_MAX_TOKENS = 8192;
const MIN_THINKING_BUDGET = 1024;

function thinkingBudget(request: ChatRequest): number | undefined {
  const reasoning = request.reasoning;
  if (!reasoning || reasoning.effort === "none") return undefined;
  const budget =
    reasoning.budgetTokens ?? EFFORT_BUDGET[reasoning.effort ?? "medium"] ?? EFFORT_BUDGET.medium!;
  return budget <= 0 ? undefined : Math.max(MIN_THINKING_BUDGET, budget);
}

/**
 * Anthropic wants strictly alternating turns starting with the user, tool results first in their
 * user turn, and no empty content. Consecutive same-role turns are merged.
 */
function alternate(turns: Turn[]): Turn[] {
  const merged = mergeSameRoleTurns(turns);
  for (const turn of merged) {
    if (turn.role === "user")
      turn.parts = [
        ...turn.parts.filter((p) => p.type === "tool_result"),
        ...turn.parts.filter((p) => p.type !== "tool_result"),
      ];
  }
  if (merged[0]?.role === "assistant")
    merged.unshift({ role: "user", parts: [{ type: "text", text: "(conversation continues)" }] });
  return merged;
}

/**
 * With thinking on, Anthropic requires the assistant turn of an ongoing tool loop to start with
 * its signed thinking. When that turn's thinking came from another upstream it cannot be sent, so
 * thinking is left off for this request rather than failing it.
 */
function canThink(turns: Turn[], target: UpstreamTarget): boolean {
  const lastAssistant = [...turns].reverse().find((t) => t.role === "assistant");
  if (!lastAssistant?.parts.some((p) => p.type === "tool_call")) return true;
  return lastAssistant.parts.some(
    (p) =>
      (p.type === "thinking" && issuedBy(p.signature, target)) ||
      (p.type === "redacted_thinking" && issuedBy(p.data, target)),
  );
}

/**
 * Signed thinking whose text is gone: Anthropic checks the text against the signature, so it
 * cannot be sent. Responses clients that keep only encrypted_content (Codex with store: false and
 * no reasoning summary) send thinking back so; tool-state.ts restores the text of a tool loop's
 * turn, and any other such block is left out (Anthropic drops earlier turns' thinking anyway).
 * Should the loop's turn still lack it, canThink then leaves thinking off for the request.
 */
function withoutUnverifiableThinking(turns: Turn[]): Turn[] {
  return turns.map((turn) => ({
    ...turn,
    parts: turn.parts.filter(
      (p) => !(p.type === "thinking" && p.signature !== undefined && p.text === ""),
    ),
  }));
}

export const anthropicMessagesUpstream: Readonly<UpstreamCodec> = {
  async buildRequest(request: ChatRequest, target: UpstreamTarget) {
    const turns = withoutUnverifiableThinking(alternate(request.turns));
    let budget = thinkingBudget(request);
    if (budget !== undefined && !canThink(turns, target)) budget = undefined;
    const signature = (opaque: Parameters<typeof issuedBy>[0]) =>
      issuedBy(opaque, target) ? opaque.value : undefined;
    const messages = turns
      .map((turn) => ({
        role: turn.role,
        content: blocksFromParts(turn.parts, signature, { thinking: budget !== undefined }),
      }))
      .filter((message) => message.content.length > 0);

    let maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (budget !== undefined && maxTokens <= budget)
      maxTokens = budget + Math.max(MIN_THINKING_BUDGET, maxTokens);
    const body: Record<string, unknown> = { model: request.model, max_tokens: maxTokens, messages };
    const system = request.system.map((text, i) => ({ text, cache: request.systemCache?.[i] }));
    if (request.responseFormat?.type === "json_object")
      system.push({
        text: "Respond with a single JSON object and nothing else.",
        cache: undefined,
      });
    if (system.length > 0)
      body.system = system
        .filter((s) => s.text !== "")
        .map(({ text, cache }) => ({
          type: "text",
          text,
          ...(cache ? { cache_control: cacheControl(cache) } : {}),
        }));
    const serverTools = request.serverTools ?? [];
    if (request.tools.length > 0 || serverTools.length > 0) {
      body.tools = [
        ...request.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description ? { description: tool.description } : {}),
          input_schema: { type: "object", ...tool.parameters },
          ...(tool.cache ? { cache_control: cacheControl(tool.cache) } : {}),
        })),
        ...serverTools.map(serverToolBlock),
      ];
      const choice = request.toolChoice ?? { type: "auto" };
      const disableParallel =
        request.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
      if (choice.type === "tool")
        body.tool_choice = { type: "tool", name: choice.name, ...disableParallel };
      else if (choice.type === "required") body.tool_choice = { type: "any", ...disableParallel };
      else if (choice.type === "none") body.tool_choice = { type: "none" };
      else if (request.parallelToolCalls === false)
        body.tool_choice = { type: "auto", ...disableParallel };
    }
    if (budget !== undefined) {
      // Thinking allows neither a custom temperature nor top_k.
      body.thinking = { type: "enabled", budget_tokens: budget };
    } else {
      if (request.temperature !== undefined) body.temperature = clamp(request.temperature, 0, 1);
      if (request.topP !== undefined) body.top_p = request.topP;
      if (request.topK !== undefined) body.top_k = request.topK;
    }
    if (request.stop?.length) body.stop_sequences = request.stop;
    if (request.responseFormat?.type === "json_schema")
      body.output_config = {
        format: { type: "json_schema", schema: request.responseFormat.schema },
      };
    if (request.user) body.metadata = { user_id: request.user };
    if (request.stream) body.stream = true;
    placeBreakpoints(body, target.promptCache?.autoBreakpoints === true);
    return { path: anthropicEndpointPath("generate"), body };
  },

  async buildCountRequest(request: ChatRequest, target: UpstreamTarget) {
    const { body } = await this.buildRequest({ ...request, stream: false }, target);
    const {
      max_tokens: _max,
      temperature: _t,
      top_p: _p,
      top_k: _k,
      stop_sequences: _s,
      metadata: _m,
      stream: _stream,
      ...count
    } = body as Record<string, unknown>;
    return { path: anthropicEndpointPath("count-tokens"), body: count };
  },

  parseCount(body: unknown): number {
    return isObject(body) && typeof body.input_tokens === "number" ? body.input_tokens : 0;
  },

  parseResponse(body: unknown, target: UpstreamTarget): ChatResponse {
    if (!isObject(body)) throw offProtocol("the upstream's answer is not a JSON object");
    return {
      id: typeof body.id === "string" ? body.id : "msg_unknown",
      model: typeof body.model === "string" ? body.model : "",
      created: Math.floor(Date.now() / 1000),
      parts: stampIssuer(partsFromBlocks(body.content ?? [], "content", target.name), target),
      stop: fromAnthropicStop(body.stop_reason),
      stopSequence: typeof body.stop_sequence === "string" ? body.stop_sequence : undefined,
      usage: fromAnthropicUsage(body.usage),
    };
  },

  serverTools: ["web_search", "web_fetch"],
  takesServerBlocks: true,

  streamParser(emit: Emit, target: UpstreamTarget, _contentType: string, limit?: EventLimit) {
    return new SseParser(new AnthropicStreamReading(emit, target), limit);
  },

  parseError(text: string): ErrorBodyReading {
    return failureFromBody(text, (json) =>
      isObject(json) && isObject(json.error) && typeof json.error.message === "string"
        ? { message: json.error.message }
        : undefined,
    );
  },
};

/** Signatures in an upstream's answer belong to this attempt's issuer: upstream, account group, model family. */
function stampIssuer(parts: Part[], target: UpstreamTarget): Part[] {
  for (const part of parts) {
    if (part.type === "thinking" && part.signature)
      part.signature = issue(target, part.signature.value);
    if (part.type === "redacted_thinking") part.data = issue(target, part.data.value);
    if (part.type === "server_tool_result")
      for (const result of part.results)
        if (result.encrypted) result.encrypted = issue(target, result.encrypted.value);
    if (part.type === "text" && part.citations)
      for (const citation of part.citations)
        if (citation.encryptedIndex)
          citation.encryptedIndex = issue(target, citation.encryptedIndex.value);
  }
  return parts;
}

/** The events that belong inside a message, after its message_start. */
const MESSAGE_EVENTS: ReadonlySet<string> = new Set([
  "content_block_start",
  "content_block_delta",
  "content_block_stop",
  "message_delta",
  "message_stop",
]);

/** A content block of the message being streamed, as far as it has come. */
interface StreamedBlock {
  kind: string;
  toolIndex?: number;
  /** A server tool call's block, its input gathered until its stop. */
  server?: JsonObject;
  input?: string;
  /** A text block's citations; once one arrives, its text is held until the block's stop. */
  citations?: Citation[];
  held?: string;
}

/** What an Anthropic stream says, event by event (its SSE framing is the parser's). */
class AnthropicStreamReading implements SseHandler {
  private usage: Usage = { input: 0, output: 0 };
  private stop: StopReason = "end";
  private stopSequence: string | undefined;
  private readonly blocks = new Map<number, StreamedBlock>();
  private toolCount = 0;
  private started = false;
  private readonly issuer = (value: string) => issue(this.target, value);

  constructor(
    private readonly emit: Emit,
    private readonly target: UpstreamTarget,
  ) {}

  event(sseData: string): boolean {
    const { emit, target, blocks, issuer } = this;
    const data = parseStreamJson(sseData);
    if (!isObject(data)) return false;
    // Events out of order are a broken upstream: a client's SDK would fail on them, so they are never forwarded.
    if (!this.started && MESSAGE_EVENTS.has(String(data.type)))
      throw offProtocol(`the upstream sent ${String(data.type)} before message_start`);
    if (
      (data.type === "content_block_delta" || data.type === "content_block_stop") &&
      !blocks.has(Number(data.index))
    ) {
      throw offProtocol(
        `the upstream sent ${data.type} for block ${String(data.index)}, which it never started`,
      );
    }
    switch (data.type) {
      case "message_start": {
        this.started = true;
        const message = isObject(data.message) ? data.message : {};
        this.usage = fromAnthropicUsage(message.usage);
        emit({
          type: "start",
          id: String(message.id ?? "msg_unknown"),
          model: String(message.model ?? ""),
          created: Math.floor(Date.now() / 1000),
          usage: this.usage,
        });
        break;
      }
      case "content_block_start": {
        const index = Number(data.index);
        const block = isObject(data.content_block) ? data.content_block : {};
        const kind = String(block.type);
        if (kind === "tool_use") {
          const toolIndex = this.toolCount++;
          blocks.set(index, { kind, toolIndex });
          emit({
            type: "tool_call_start",
            index: toolIndex,
            id: String(block.id),
            name: String(block.name),
          });
        } else if (kind === "server_tool_use") {
          blocks.set(index, { kind, server: block, input: "" });
        } else if (kind.endsWith("_tool_result")) {
          blocks.set(index, { kind });
          // A result block comes whole in its start.
          const part = serverPartFrom(block, issuer, target.name);
          if (part?.type === "server_tool_result") emit({ type: "server_tool", part });
          else if (part?.type === "text") emit({ type: "text", text: part.text });
        } else {
          blocks.set(index, { kind });
          if (kind === "redacted_thinking" && typeof block.data === "string")
            emit({ type: "redacted_thinking", data: issue(target, block.data) });
          if (kind === "text" && typeof block.text === "string" && block.text !== "")
            emit({ type: "text", text: block.text });
        }
        break;
      }
      case "content_block_delta": {
        const delta = isObject(data.delta) ? data.delta : {};
        const block = blocks.get(Number(data.index));
        if (delta.type === "citations_delta" && block) {
          const [citation] = citationsFrom([delta.citation], issuer) ?? [];
          if (citation) block.citations = [...(block.citations ?? []), citation];
          block.held ??= "";
        } else if (delta.type === "text_delta" && typeof delta.text === "string") {
          if (block?.held !== undefined) block.held += delta.text;
          else emit({ type: "text", text: delta.text });
        } else if (
          delta.type === "input_json_delta" &&
          block?.input !== undefined &&
          typeof delta.partial_json === "string"
        )
          block.input += delta.partial_json;
        else if (delta.type === "thinking_delta" && typeof delta.thinking === "string")
          emit({ type: "thinking", text: delta.thinking });
        else if (delta.type === "signature_delta" && typeof delta.signature === "string")
          emit({
            type: "thinking_signature",
            signature: issue(target, delta.signature),
          });
        else if (
          delta.type === "input_json_delta" &&
          block?.toolIndex !== undefined &&
          typeof delta.partial_json === "string" &&
          delta.partial_json !== ""
        ) {
          emit({ type: "tool_call_delta", index: block.toolIndex, arguments: delta.partial_json });
        }
        break;
      }
      case "content_block_stop": {
        const block = blocks.get(Number(data.index));
        if (block?.toolIndex !== undefined) emit({ type: "tool_call_end", index: block.toolIndex });
        if (block?.server) {
          const input = block.input === "" ? {} : parseStreamJson(block.input ?? "");
          const part = serverPartFrom({ ...block.server, input }, issuer, target.name);
          if (part?.type === "server_tool_call") emit({ type: "server_tool", part });
          else if (part?.type === "text") emit({ type: "text", text: part.text });
        }
        if (block?.held !== undefined)
          emit({ type: "text", text: block.held, citations: block.citations });
        break;
      }
      case "message_delta": {
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.stop_reason) this.stop = fromAnthropicStop(delta.stop_reason);
        if (typeof delta.stop_sequence === "string") this.stopSequence = delta.stop_sequence;
        this.usage = fromAnthropicUsage(data.usage, this.usage);
        emit({ type: "usage", usage: this.usage });
        break;
      }
      case "message_stop":
        emit({
          type: "finish",
          stop: this.stop,
          stopSequence: this.stopSequence,
          usage: this.usage,
        });
        return true;
      case "error": {
        const error = isObject(data.error) ? data.error : {};
        emit({
          type: "error",
          status: error.type === "overloaded_error" ? 529 : 500,
          message: String(error.message ?? "the upstream reported an error"),
        });
        return true;
      }
      default:
      // ping and unknown events carry nothing to translate
    }
    return false;
  }

  ended(): void {
    throw cutShort("the upstream's stream ended before message_stop");
  }
}
