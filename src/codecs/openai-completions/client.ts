import type { ChatRequest, ChatResponse, StreamEvent } from "../../ir.ts";
import { textOf } from "../../ir.ts";
import { endOpenAIStream } from "../openai-chat/render-chat-stream.ts";
import { failOpenAIStream } from "../openai-chat/stream-error.ts";
import { TO_OPENAI_FINISH } from "../openai-chat/wire.ts";
import { badRequest, idWithPrefix, optionalNumber, optionalStrings, sseData } from "../shared.ts";
import type { JsonObject } from "../json.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import type { StreamRenderer, Write } from "../stream-render.ts";

export function completionsUsage(usage: { input: number; output: number }) {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
  };
}

/** A legacy completion stream: text chunks, then the data-only OpenAI ending (endOpenAIStream). */
class CompletionsStreamRenderer implements StreamRenderer {
  private head = { id: "", object: "text_completion", created: 0, model: "" };

  constructor(
    private readonly ctx: ClientContext,
    private readonly write: Write,
  ) {}

  private choice(text: string, finish: string | null) {
    return {
      ...this.head,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(this.ctx.includeUsage ? { usage: null } : {}),
    };
  }

  event(event: StreamEvent): boolean {
    switch (event.type) {
      case "start":
        this.head = {
          id: idWithPrefix(event.id, "cmpl-"),
          object: "text_completion",
          created: event.created,
          model: event.model,
        };
        break;
      case "text":
        this.write(sseData(this.choice(event.text, null)));
        break;
      case "finish":
        endOpenAIStream(
          this.write,
          this.choice("", TO_OPENAI_FINISH[event.stop]),
          this.ctx.includeUsage
            ? { ...this.head, choices: [], usage: completionsUsage(event.usage) }
            : undefined,
        );
        return true;
      case "error":
        failOpenAIStream(this.write, event.status, event.message);
        return true;
      default:
      // usage arrives with finish; tools, thinking and media have no place in a legacy completion
    }
    return false;
  }
}

/** Legacy completions: a prompt in, text out. Tools and thinking have no place in this dialect. */
export const openaiCompletionsClient: Readonly<ClientCodec> = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const prompt = body.prompt;
    let text: string;
    if (typeof prompt === "string") text = prompt;
    else if (Array.isArray(prompt) && prompt.every((p) => typeof p === "string"))
      text = prompt.join("\n");
    else throw badRequest("prompt must be a string or a list of strings.", "prompt");
    const suffix = typeof body.suffix === "string" ? body.suffix : undefined;
    return {
      model,
      system: suffix ? [`Continue the text; it will be followed by: ${suffix}`] : [],
      turns: [{ role: "user", parts: [{ type: "text", text }] }],
      tools: [],
      stream,
      maxTokens: optionalNumber(body, "max_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      stop: optionalStrings(body, "stop"),
      user: typeof body.user === "string" ? body.user : undefined,
    };
  },

  renderCount: (tokens: number) => ({ input_tokens: tokens }),
  renderResponse(response: ChatResponse) {
    return {
      id: idWithPrefix(response.id, "cmpl-"),
      object: "text_completion",
      created: response.created,
      model: response.model,
      choices: [
        {
          text: textOf(response.parts),
          index: 0,
          logprobs: null,
          finish_reason: TO_OPENAI_FINISH[response.stop],
        },
      ],
      usage: completionsUsage(response.usage),
    };
  },

  streamRenderer(ctx: ClientContext, write: Write) {
    return new CompletionsStreamRenderer(ctx, write);
  },
};
