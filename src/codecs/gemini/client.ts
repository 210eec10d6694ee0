import { geminiErrorBody } from "./error-body.ts";
import type {
  ChatRequest,
  ChatResponse,
  Citation,
  Part,
  Reasoning,
  ServerTool,
  ServerToolCallPart,
  ServerToolResultPart,
  StreamEvent,
  TextPart,
  Tool,
  ToolChoice,
  Turn,
  Usage,
} from "../../ir.ts";
import { textOf } from "../../ir.ts";
import { encodeOpaque } from "../opaque.ts";
import { argumentsObject, asArray, badRequest } from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import type { StreamRenderer, Write } from "../stream-render.ts";
import { fromGeminiSchema } from "./schema.ts";
import { groundingFields, serverToolsFrom } from "./grounding.ts";
import {
  clientMediaPart,
  field,
  geminiParts,
  pairCallIds,
  partsFromGemini,
  TO_GEMINI_FINISH,
  toGeminiUsage,
} from "./wire.ts";

function parseTools(value: unknown): Tool[] {
  const tools: Tool[] = [];
  for (const entry of asArray(value)) {
    if (!isObject(entry)) continue;
    for (const fn of asArray(field(entry, "functionDeclarations", "function_declarations"))) {
      if (!isObject(fn) || typeof fn.name !== "string")
        throw badRequest("tools[].functionDeclarations[] need a name.", "tools");
      const jsonSchema = field(fn, "parametersJsonSchema", "parameters_json_schema");
      const parameters = isObject(jsonSchema)
        ? jsonSchema
        : isObject(fn.parameters)
          ? fromGeminiSchema(fn.parameters)
          : { type: "object", properties: {} };
      tools.push({
        name: fn.name,
        description: typeof fn.description === "string" ? fn.description : undefined,
        parameters,
        kind: "function",
      });
    }
    // googleSearch and urlContext are server tools (serverToolsFrom); codeExecution is not translated.
  }
  return tools;
}

function parseToolChoice(config: unknown): ToolChoice | undefined {
  const calling = isObject(config)
    ? field(config, "functionCallingConfig", "function_calling_config")
    : undefined;
  if (!isObject(calling)) return undefined;
  const allowed = field(calling, "allowedFunctionNames", "allowed_function_names");
  switch (calling.mode) {
    case "NONE":
      return { type: "none" };
    case "ANY":
      return Array.isArray(allowed) && allowed.length === 1 && typeof allowed[0] === "string"
        ? { type: "tool", name: allowed[0] }
        : { type: "required" };
    case "AUTO":
    case "VALIDATED":
      return { type: "auto" };
    default:
      return undefined;
  }
}

function parseReasoning(generation: JsonObject): Reasoning | undefined {
  const config = field(generation, "thinkingConfig", "thinking_config");
  if (!isObject(config)) return undefined;
  const budget = field(config, "thinkingBudget", "thinking_budget");
  const level = field(config, "thinkingLevel", "thinking_level");
  const include = field(config, "includeThoughts", "include_thoughts") === true;
  if (budget === 0) return { effort: "none", include: false };
  const effort =
    typeof level === "string" ? (level.toLowerCase() as Reasoning["effort"]) : undefined;
  return {
    budgetTokens: typeof budget === "number" && budget > 0 ? budget : undefined,
    effort,
    include,
  };
}

function parseResponseFormat(generation: JsonObject): ChatRequest["responseFormat"] {
  if (field(generation, "responseMimeType", "response_mime_type") !== "application/json")
    return undefined;
  const jsonSchema = field(generation, "responseJsonSchema", "response_json_schema");
  const schema = field(generation, "responseSchema", "response_schema");
  if (isObject(jsonSchema)) return { type: "json_schema", schema: jsonSchema };
  if (isObject(schema)) return { type: "json_schema", schema: fromGeminiSchema(schema) };
  return { type: "json_object" };
}

/**
 * The roles a Content may have, as Gemini refuses the rest ("Please use a valid role: user,
 * model."): "function" is the role older SDKs gave a function's response, which Gemini still
 * reads; absent, null and "" are proto3 JSON's unset, a user turn.
 */
const GEMINI_ROLES: ReadonlySet<unknown> = new Set([
  undefined,
  null,
  "",
  "user",
  "model",
  "function",
]);

export const geminiClient: Readonly<ClientCodec> = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const system: string[] = [];
    const instruction = field(body, "systemInstruction", "system_instruction");
    if (typeof instruction === "string") system.push(instruction);
    else if (isObject(instruction))
      system.push(textOf(partsFromGemini(instruction.parts, "systemInstruction", "gemini")));
    let contents = body.contents;
    if (isObject(contents)) contents = [contents];
    if (!Array.isArray(contents))
      throw badRequest("contents must be a list of Content objects.", "contents");
    if (contents.length === 0)
      throw badRequest("contents is not specified: at least one Content is required.", "contents");
    const turns: Turn[] = contents.map((content, i) => {
      if (typeof content === "string")
        return { role: "user", parts: [{ type: "text", text: content }] };
      if (!isObject(content))
        throw badRequest(`contents[${i}] must be a Content object.`, `contents[${i}]`);
      const { role } = content;
      if (!GEMINI_ROLES.has(role))
        throw badRequest(
          `contents[${i}].role: please use a valid role: user, model (not ${JSON.stringify(role).slice(0, 40)}).`,
          `contents[${i}].role`,
        );
      return {
        role: role === "model" ? "assistant" : "user",
        parts: partsFromGemini(content.parts, `contents[${i}]`, "gemini"),
      };
    });
    pairCallIds(turns);
    const generationValue = field(body, "generationConfig", "generation_config");
    if (generationValue !== undefined && generationValue !== null && !isObject(generationValue))
      throw badRequest("generationConfig must be a GenerationConfig object.", "generationConfig");
    const generation = isObject(generationValue) ? generationValue : {};
    const number = (camel: string, snake: string) => {
      const value = field(generation, camel, snake);
      return typeof value === "number" ? value : undefined;
    };
    const stop = field(generation, "stopSequences", "stop_sequences");
    return {
      model,
      system,
      turns,
      tools: parseTools(body.tools),
      ...serverToolsOf(body.tools),
      toolChoice: parseToolChoice(field(body, "toolConfig", "tool_config")),
      stream,
      maxTokens: number("maxOutputTokens", "max_output_tokens"),
      temperature: number("temperature", "temperature"),
      topP: number("topP", "top_p"),
      topK: number("topK", "top_k"),
      stop: Array.isArray(stop)
        ? stop.filter((s): s is string => typeof s === "string")
        : undefined,
      responseFormat: parseResponseFormat(generation),
      reasoning: parseReasoning(generation),
    };
  },

  renderCount: (tokens: number) => ({
    totalTokens: tokens,
    promptTokensDetails: [{ modality: "TEXT", tokenCount: tokens }],
  }),
  renderResponse(response: ChatResponse, ctx: ClientContext) {
    const server = response.parts.filter(isServerPart);
    const texts = response.parts.filter((p): p is TextPart => p.type === "text");
    // A grounded answer's text is one part, as Gemini's is: its supports count bytes in it.
    const grounded = server.length > 0 || texts.some((t) => t.citations);
    const merged: Part[] = [];
    for (const part of response.parts) {
      if (isServerPart(part)) continue;
      const last = merged.at(-1);
      if (grounded && part.type === "text" && last?.type === "text")
        merged[merged.length - 1] = {
          ...last,
          text: last.text + part.text,
          signature: part.signature ?? last.signature,
        };
      else merged.push(part.type === "text" ? { ...part } : part);
    }
    const parts = clientParts(merged, ctx);
    const textIndex = parts.findIndex((p) => isObject(p) && "text" in p && !("thought" in p));
    return chunk(
      response.id,
      response.model,
      parts.length > 0 ? parts : [{ text: "" }],
      TO_GEMINI_FINISH[response.stop],
      response.usage,
      grounded ? groundingFields(server, texts, Math.max(0, textIndex)) : {},
    );
  },

  streamRenderer(ctx: ClientContext, write: Write) {
    return new GeminiStreamRenderer(ctx, write);
  },
};

function isServerPart(part: Part): part is ServerToolCallPart | ServerToolResultPart {
  return part.type === "server_tool_call" || part.type === "server_tool_result";
}

function serverToolsOf(value: unknown): { serverTools?: ServerTool[] } {
  const found = serverToolsFrom(asArray(value));
  return found.length > 0 ? { serverTools: found } : {};
}

function clientParts(parts: Parameters<typeof geminiParts>[0], ctx: ClientContext) {
  return geminiParts(parts, {
    signature: (o) => (o ? encodeOpaque(o) : undefined),
    thinking: ctx.request.reasoning?.include === true,
    media: clientMediaPart,
    callNames: new Map(),
  });
}

function chunk(
  id: string,
  model: string,
  parts: unknown[],
  finish: string | undefined,
  usage: Usage,
  grounding: Record<string, unknown> = {},
) {
  return {
    candidates: [
      {
        content: { role: "model", parts },
        ...(finish ? { finishReason: finish } : {}),
        ...grounding,
        index: 0,
      },
    ],
    usageMetadata: toGeminiUsage(usage),
    modelVersion: model,
    responseId: id,
  };
}

/**
 * Gemini's stream: each chunk carries only new parts and the usage so far; function calls arrive
 * whole, so a call's argument fragments are gathered and sent in one part when it ends.
 */
export class GeminiStreamRenderer implements StreamRenderer {
  /** Google frames SSE events with CRLF; the JSON-array form is what Gemini sends without ?alt=sse. */
  private readonly sse: boolean;
  /** The array's `[` goes with its first element, so a stream that writes nothing opens nothing. */
  private first = true;
  private readonly showThinking: boolean;
  private id = "";
  private model = "";
  private usage: Usage = { input: 0, output: 0 };
  private readonly calls = new Map<
    number,
    { id: string; name: string; args: string; signature?: string }
  >();
  /** What the last chunk's groundingMetadata says, as Gemini puts it there. */
  private readonly server: (ServerToolCallPart | ServerToolResultPart)[] = [];
  private readonly texts: { text: string; citations?: Citation[] }[] = [];

  constructor(
    ctx: ClientContext,
    private readonly write: Write,
  ) {
    this.sse = ctx.framing === "sse";
    this.showThinking = ctx.request.reasoning?.include === true;
  }

  private frame(data: unknown): void {
    const json = JSON.stringify(data);
    if (this.sse) {
      this.write(`data: ${json}\r\n\r\n`);
      return;
    }
    this.write((this.first ? "[" : ",\r\n") + json);
    this.first = false;
  }

  private parts(parts: unknown[]): void {
    this.frame(chunk(this.id, this.model, parts, undefined, this.usage));
  }

  private close(): void {
    if (!this.sse) this.write("]");
  }

  event(event: StreamEvent): boolean {
    switch (event.type) {
      case "start":
        ({ id: this.id, model: this.model, usage: this.usage } = event);
        break;
      case "thinking":
        if (this.showThinking) this.parts([{ text: event.text, thought: true }]);
        break;
      case "thinking_signature":
        // The signature closes the thinking it signs, as an empty thought part; it comes back merged with that thinking.
        if (this.showThinking)
          this.parts([
            { text: "", thought: true, thoughtSignature: encodeOpaque(event.signature) },
          ]);
        break;
      case "server_tool":
        this.server.push(event.part);
        break;
      case "text":
        this.texts.push({ text: event.text, citations: event.citations });
        this.parts([
          {
            text: event.text,
            ...(event.signature ? { thoughtSignature: encodeOpaque(event.signature) } : {}),
          },
        ]);
        break;
      case "media":
        this.parts([clientMediaPart({ type: "media", source: event.source })]);
        break;
      case "tool_call_start":
        this.calls.set(event.index, {
          id: event.id,
          name: event.name,
          args: "",
          signature: event.signature ? encodeOpaque(event.signature) : undefined,
        });
        break;
      case "tool_call_delta": {
        const call = this.calls.get(event.index);
        if (call) call.args += event.arguments;
        break;
      }
      case "tool_call_end": {
        const call = this.calls.get(event.index);
        if (!call) break;
        this.calls.delete(event.index);
        this.parts([
          {
            functionCall: { id: call.id, name: call.name, args: argumentsObject(call.args) },
            ...(call.signature ? { thoughtSignature: call.signature } : {}),
          },
        ]);
        break;
      }
      case "usage":
        this.usage = event.usage;
        break;
      case "finish": {
        const { server, texts } = this;
        const grounded = server.length > 0 || texts.some((t) => t.citations);
        this.frame(
          chunk(
            this.id,
            this.model,
            [{ text: "" }],
            TO_GEMINI_FINISH[event.stop],
            event.usage,
            grounded ? groundingFields(server, texts) : {},
          ),
        );
        this.close();
        return true;
      }
      case "error":
        this.frame(geminiErrorBody(event.status, event.message));
        this.close();
        return true;
      default:
      // redacted thinking is Anthropic's alone
    }
    return false;
  }
}
