import type { JsonObject } from "../http/body.ts";
import { errorBody } from "../http/errors.ts";
import type { ChatRequest, ChatResponse, Part, StopReason, StreamEvent, Turn, Usage } from "../ir.ts";
import { textOf } from "../ir.ts";
import { badRequest, isObject, type Codec, type RenderOptions } from "./shared.ts";

export const GEMINI_FINISH: Record<StopReason, string> = {
  end: "STOP",
  stop_sequence: "STOP",
  tool_use: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
};

/** Gemini accepts proto3 JSON, so both lowerCamelCase and snake_case field names are valid input. */
function field(object: JsonObject, camel: string, snake: string): unknown {
  return object[camel] !== undefined ? object[camel] : object[snake];
}

function geminiParts(content: unknown, where: string): Part[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!isObject(content)) throw badRequest(`${where} must be a Content object with parts.`, where);
  const parts = content.parts;
  if (!Array.isArray(parts)) throw badRequest(`${where}.parts must be a list of parts.`, `${where}.parts`);
  const out: Part[] = [];
  parts.forEach((part, i) => {
    if (!isObject(part)) throw badRequest(`${where}.parts[${i}] must be an object.`, `${where}.parts[${i}]`);
    if (typeof part.text === "string" && part.thought !== true) out.push({ type: "text", text: part.text });
  });
  return out;
}

function usageMetadata(usage: Usage) {
  const reasoning = usage.reasoning ?? 0;
  return {
    promptTokenCount: usage.input,
    candidatesTokenCount: usage.output - reasoning,
    ...(reasoning > 0 ? { thoughtsTokenCount: reasoning } : {}),
    ...(usage.cached ? { cachedContentTokenCount: usage.cached } : {}),
    totalTokenCount: usage.input + usage.output,
  };
}

function generateContentResponse(id: string, model: string, text: string, finish: string | undefined, usage: Usage) {
  return {
    candidates: [{ content: { role: "model", parts: [{ text }] }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
    usageMetadata: usageMetadata(usage),
    modelVersion: model,
    responseId: id,
  };
}

export const gemini: Codec = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const system: string[] = [];
    const instruction = field(body, "systemInstruction", "system_instruction");
    if (instruction !== undefined && instruction !== null) system.push(textOf(geminiParts(instruction, "systemInstruction")));
    let contents = body.contents;
    if (isObject(contents)) contents = [contents];
    if (!Array.isArray(contents)) throw badRequest("contents must be a list of Content objects.", "contents");
    const turns: Turn[] = contents.map((content, i) => {
      const parts = geminiParts(content, `contents[${i}]`);
      const role = isObject(content) ? content.role : undefined;
      return { role: role === "model" ? "assistant" : "user", parts };
    });
    const config = field(body, "generationConfig", "generation_config");
    const generation = isObject(config) ? config : {};
    const number = (camel: string, snake: string) => {
      const value = field(generation, camel, snake);
      return typeof value === "number" ? value : undefined;
    };
    const stop = field(generation, "stopSequences", "stop_sequences");
    return {
      model,
      system,
      turns,
      stream,
      maxTokens: number("maxOutputTokens", "max_output_tokens"),
      temperature: number("temperature", "temperature"),
      topP: number("topP", "top_p"),
      stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === "string") : undefined,
    };
  },

  renderResponse(response: ChatResponse) {
    return generateContentResponse(response.id, response.model, textOf(response.parts), GEMINI_FINISH[response.stop], response.usage);
  },

  async *renderStream(events: AsyncIterable<StreamEvent>, options: RenderOptions) {
    // Google frames SSE events with CRLF; the JSON-array form is what Gemini sends without ?alt=sse.
    const sse = options.geminiFraming === "sse";
    let first = true;
    const frame = (data: unknown) => {
      const json = JSON.stringify(data);
      if (sse) return `data: ${json}\r\n\r\n`;
      const out = (first ? "[" : ",\r\n") + json;
      first = false;
      return out;
    };
    let id = "";
    let model = "";
    let usage: Usage = { input: 0, output: 0 };
    for await (const event of events) {
      switch (event.type) {
        case "start":
          id = event.id;
          model = event.model;
          usage = event.usage;
          break;
        case "text":
          yield frame(generateContentResponse(id, model, event.text, undefined, usage));
          break;
        case "finish":
          yield frame(generateContentResponse(id, model, "", GEMINI_FINISH[event.stop], event.usage));
          if (!sse) yield "]";
          return;
        case "error":
          yield frame(errorBody("gemini", event.status, event.message));
          if (!sse) yield "]";
          return;
      }
    }
  },
};
