import { cutShort, offProtocol } from "../../failure.ts";
import { COMPLETIONS_PATH } from "./endpoint.ts";
import type { ChatRequest, ChatResponse, Usage } from "../../ir.ts";
import { textOf } from "../../ir.ts";
import { toolResultText } from "../openai-chat/upstream.ts";
import { parseOpenAIError } from "../openai-compatible/parse-error.ts";
import { fromOpenAIFinish, fromOpenAIUsage } from "../openai-chat/wire.ts";
import { type Emit, type EventLimit, type SseHandler, SseParser } from "../sse.ts";
import { clamp, parseStreamJson, streamError } from "../shared.ts";
import { isObject } from "../json.ts";
import type { UpstreamCodec, UpstreamTarget } from "../codec.ts";

/** The legacy endpoint's default of 16 tokens would cut nearly every answer short. */
const DEFAULT_MAX_TOKENS = 1024;

/** A conversation as one prompt: a lone user message is sent as it is, anything longer with role labels. */
export function flattenPrompt(request: ChatRequest): string {
  const [only] = request.turns;
  if (request.system.length === 0 && request.turns.length === 1 && only?.role === "user")
    return textOf(only.parts);
  const lines = request.system.filter((s) => s !== "").map((s) => `System: ${s}`);
  for (const turn of request.turns) {
    const text = turn.parts
      .map((p) => (p.type === "text" ? p.text : p.type === "tool_result" ? toolResultText(p) : ""))
      .join("");
    lines.push(`${turn.role === "user" ? "User" : "Assistant"}: ${text}`);
  }
  lines.push("Assistant:");
  return lines.join("\n\n");
}

export const openaiCompletionsUpstream: Readonly<UpstreamCodec> = {
  async buildRequest(request: ChatRequest) {
    const body: Record<string, unknown> = {
      model: request.model,
      prompt: flattenPrompt(request),
      max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    };
    if (request.temperature !== undefined) body.temperature = clamp(request.temperature, 0, 2);
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.stop?.length) body.stop = request.stop.slice(0, 4);
    if (request.user) body.user = request.user;
    if (request.stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return { path: COMPLETIONS_PATH, body };
  },

  parseResponse(body: unknown): ChatResponse {
    if (!isObject(body) || !Array.isArray(body.choices))
      throw offProtocol("the upstream's answer has no choices");
    const choice = isObject(body.choices[0]) ? body.choices[0] : {};
    return {
      id: String(body.id ?? "cmpl-unknown"),
      model: String(body.model ?? ""),
      created: typeof body.created === "number" ? body.created : Math.floor(Date.now() / 1000),
      parts: [{ type: "text", text: String(choice.text ?? "") }],
      stop: fromOpenAIFinish(choice.finish_reason),
      usage: fromOpenAIUsage(body.usage) ?? { input: 0, output: 0 },
    };
  },

  streamParser(emit: Emit, _target: UpstreamTarget, _contentType: string, limit?: EventLimit) {
    return new SseParser(new CompletionsStreamReading(emit), limit);
  },

  parseError: parseOpenAIError,
};

/** What a legacy completions stream says, event by event. */
class CompletionsStreamReading implements SseHandler {
  private started = false;
  private usage: Usage = { input: 0, output: 0 };
  private finish: unknown;

  constructor(private readonly emit: Emit) {}

  event(data: string): boolean {
    if (data === "[DONE]") {
      this.ended();
      return true;
    }
    const chunk = parseStreamJson(data);
    if (!isObject(chunk)) return false;
    if (isObject(chunk.error)) {
      this.emit(streamError(chunk.error));
      return true;
    }
    if (!this.started) {
      this.started = true;
      this.emit({
        type: "start",
        id: String(chunk.id ?? "cmpl-unknown"),
        model: String(chunk.model ?? ""),
        created: Number(chunk.created ?? Math.floor(Date.now() / 1000)),
        usage: this.usage,
      });
    }
    this.usage = fromOpenAIUsage(chunk.usage) ?? this.usage;
    const choice =
      Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
    if (!choice) return false;
    if (typeof choice.text === "string" && choice.text !== "")
      this.emit({ type: "text", text: choice.text });
    if (choice.finish_reason) this.finish = choice.finish_reason;
    return false;
  }

  ended(): void {
    if (!this.started || this.finish === undefined)
      throw cutShort("the upstream's stream ended before its finish_reason");
    this.emit({ type: "finish", stop: fromOpenAIFinish(this.finish), usage: this.usage });
  }
}
