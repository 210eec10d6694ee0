import { cutShort, offProtocol } from "../../failure.ts";
import { COMPLETIONS_PATH } from "./endpoint.ts";
import type { ChatRequest, ChatResponse, StreamEvent, Usage } from "../../ir.ts";
import { textOf } from "../../ir.ts";
import { DONE_MARKER, toolResultText } from "../openai-chat/upstream.ts";
import { parseOpenAIError } from "../openai-compatible/parse-error.ts";
import { fromOpenAIFinish, fromOpenAIUsage } from "../openai-chat/wire.ts";
import { readSse } from "../sse.ts";
import { clamp, parseStreamJson, streamError } from "../shared.ts";
import { isObject } from "../json.ts";
import type { UpstreamCodec } from "../codec.ts";

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

  finalMarkers: () => DONE_MARKER,

  async *parseStream(body: AsyncIterable<Uint8Array>): AsyncGenerator<StreamEvent> {
    let started = false;
    let usage: Usage = { input: 0, output: 0 };
    let finish: unknown;
    for await (const sse of readSse(body)) {
      if (sse.data === "[DONE]") break;
      const chunk = parseStreamJson(sse.data);
      if (!isObject(chunk)) continue;
      if (isObject(chunk.error)) {
        yield streamError(chunk.error);
        return;
      }
      if (!started) {
        started = true;
        yield {
          type: "start",
          id: String(chunk.id ?? "cmpl-unknown"),
          model: String(chunk.model ?? ""),
          created: Number(chunk.created ?? Math.floor(Date.now() / 1000)),
          usage,
        };
      }
      usage = fromOpenAIUsage(chunk.usage) ?? usage;
      const choice =
        Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
      if (!choice) continue;
      if (typeof choice.text === "string" && choice.text !== "")
        yield { type: "text", text: choice.text };
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (!started || finish === undefined)
      throw cutShort("the upstream's stream ended before its finish_reason");
    yield { type: "finish", stop: fromOpenAIFinish(finish), usage };
  },

  parseError: parseOpenAIError,
};
