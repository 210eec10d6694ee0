import { markPart } from "../cache-marks.ts";
import type { MediaPart, Part, StopReason, Tool, Usage } from "../../ir.ts";
import { badRequest } from "../shared.ts";
import { isObject } from "../json.ts";

/* What OpenAI's chat, completions and responses halves share: content parts, finish reasons, usage, tools. */

export const TO_OPENAI_FINISH: Readonly<Record<StopReason, string>> = {
  end: "stop",
  stop_sequence: "stop",
  pause: "stop",
  length: "length",
  tool_use: "tool_calls",
  content_filter: "content_filter",
};

export function fromOpenAIFinish(reason: unknown): StopReason {
  switch (reason) {
    case "length":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "content_filter";
    default:
      return "end";
  }
}

/** `data:<type>;base64,<data>` as inline media, any other URL as a reference. */
export function mediaFromUrl(url: string): MediaPart {
  const data = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (data)
    return { type: "media", source: { kind: "base64", mediaType: data[1]!, data: data[2]! } };
  return { type: "media", source: { kind: "url", url } };
}

export function mediaToUrl(part: MediaPart): string {
  return part.source.kind === "base64"
    ? `data:${part.source.mediaType};base64,${part.source.data}`
    : part.source.url;
}

export function isPdf(part: MediaPart): boolean {
  return (
    (part.source.kind === "base64" ? part.source.mediaType : part.source.mediaType) ===
    "application/pdf"
  );
}

/**
 * An OpenAI content value: a string, or parts of the chat (`text`, `image_url`, `file`) and
 * Responses (`input_text`, `output_text`, `input_image`, `input_file`, `refusal`) kinds.
 */
export function openaiContentParts(content: unknown, where: string): Part[] {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content))
    throw badRequest(`${where} must be a string or a list of content parts.`, where);
  const parts: Part[] = [];
  // A loop, not forEach: its closure took `where`, which cost every call a scope, string or not;
  // a part's place in words only in an error, not a string a part.
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i];
    if (!isObject(part)) throw badRequest(`${where}[${i}] must be an object.`, `${where}[${i}]`);
    const before = parts.length;
    switch (part.type) {
      case "text":
      case "input_text":
      case "output_text":
        if (typeof part.text !== "string")
          throw badRequest(`${where}[${i}].text must be a string.`, `${where}[${i}].text`);
        parts.push({ type: "text", text: part.text });
        break;
      case "refusal":
        if (typeof part.refusal === "string") parts.push({ type: "text", text: part.refusal });
        break;
      case "image_url": {
        const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
        if (typeof url !== "string")
          throw badRequest(
            `${where}[${i}].image_url.url must be a string.`,
            `${where}[${i}].image_url`,
          );
        parts.push(mediaFromUrl(url));
        break;
      }
      case "input_image":
        if (typeof part.image_url !== "string")
          throw badRequest(
            `${where}[${i}].image_url must be a URL or data URL (file ids are not supported).`,
            `${where}[${i}].image_url`,
          );
        parts.push(mediaFromUrl(part.image_url));
        break;
      case "file":
      case "input_file": {
        const file = part.type === "file" && isObject(part.file) ? part.file : part;
        const data = file.file_data;
        if (typeof data !== "string")
          throw badRequest(
            `${where}[${i}]: only inline file_data is supported, not uploaded file ids.`,
            `${where}[${i}]`,
          );
        parts.push(
          data.startsWith("data:")
            ? mediaFromUrl(data)
            : { type: "media", source: { kind: "base64", mediaType: "application/pdf", data } },
        );
        break;
      }
      default:
        throw badRequest(
          `${where}[${i}].type ${JSON.stringify(part.type)} cannot be translated for this upstream.`,
          `${where}[${i}].type`,
        );
    }
    // Anthropic's cache_control on a part, as OpenRouter's clients (Kilo Code, Roo Code) send it.
    markPart(parts[before], part.cache_control);
  }
  return parts;
}

export function toOpenAIUsage(usage: Usage) {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
    prompt_tokens_details: { cached_tokens: usage.cached ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoning ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** A usage field's count, where it is a number (a function of the module's, not a closure per answer). */
function number(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/** Chat and completions usage; DeepSeek reports cache hits under its own name. */
export function fromOpenAIUsage(usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  // Missing details are undefined, not an empty object: two objects less for each answer without them.
  const prompt = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : undefined;
  const completion = isObject(usage.completion_tokens_details)
    ? usage.completion_tokens_details
    : undefined;
  const input = number(usage.prompt_tokens) ?? 0;
  const reasoning = number(completion?.reasoning_tokens) ?? 0;
  let output = number(usage.completion_tokens) ?? 0;
  // OpenAI counts reasoning inside completion_tokens; xAI leaves it out and adds it to the total
  // only. The total tells which: the output levity reports always includes the reasoning.
  if (reasoning > 0 && number(usage.total_tokens) === input + output + reasoning)
    output += reasoning;
  return {
    input,
    output,
    // DeepSeek names cache hits prompt_cache_hit_tokens; Moonshot puts cached_tokens at the top.
    cached:
      number(prompt?.cached_tokens) ??
      number(usage.prompt_cache_hit_tokens) ??
      number(usage.cached_tokens) ??
      0,
    reasoning,
  };
}

/** A custom (freeform) tool travels as a function taking one string, `input`. */
export const CUSTOM_TOOL_PARAMETERS: Readonly<Record<string, unknown>> = {
  type: "object",
  properties: { input: { type: "string", description: "The tool's whole input, as free text." } },
  required: ["input"],
};

/** The free-text input of a custom tool call, from the arguments it travelled with. */
export function customInput(argumentsJson: string): string {
  try {
    const parsed = JSON.parse(argumentsJson);
    if (isObject(parsed) && typeof parsed.input === "string") return parsed.input;
  } catch {
    // the arguments were never JSON: they are the input
  }
  return argumentsJson;
}

export function customArguments(input: string): string {
  return JSON.stringify({ input });
}

export function isCustomTool(tools: Tool[], name: string): boolean {
  return tools.some((tool) => tool.kind === "custom" && tool.name === name);
}

/** The text an OpenAI upstream reports as reasoning: `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter). */
/**
 * An answer's content as text and thinking. It is a string almost everywhere; Mistral's reasoning
 * models send a list of `{type: "text"}` and `{type: "thinking", thinking: [{type: "text"}]}` chunks.
 */
/** What a message or delta without content holds: made once, for nearly every stream chunk but text. */
const NO_CONTENT: Readonly<{ text: string; thinking: string }> = Object.freeze({
  text: "",
  thinking: "",
});

export function contentOf(content: unknown): Readonly<{ text: string; thinking: string }> {
  if (typeof content === "string") return { text: content, thinking: "" };
  if (!Array.isArray(content)) return NO_CONTENT;
  let text = "";
  let thinking = "";
  for (const chunk of content) {
    if (!isObject(chunk)) continue;
    if (chunk.type === "text" && typeof chunk.text === "string") text += chunk.text;
    if (chunk.type === "thinking") {
      const inner = Array.isArray(chunk.thinking) ? chunk.thinking : [chunk.thinking];
      for (const piece of inner)
        thinking +=
          typeof piece === "string"
            ? piece
            : isObject(piece) && typeof piece.text === "string"
              ? piece.text
              : "";
    }
  }
  return { text, thinking };
}

export function reasoningText(message: Record<string, unknown>): string | undefined {
  if (typeof message.reasoning_content === "string") return message.reasoning_content;
  if (typeof message.reasoning === "string") return message.reasoning;
  // OpenRouter's structured form, for models whose reasoning it does not also give as text.
  if (Array.isArray(message.reasoning_details)) {
    const text = message.reasoning_details
      .map((detail) =>
        isObject(detail) && typeof detail.text === "string"
          ? detail.text
          : isObject(detail) && typeof detail.summary === "string"
            ? detail.summary
            : "",
      )
      .join("");
    return text === "" ? undefined : text;
  }
  return undefined;
}
