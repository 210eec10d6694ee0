import type { StreamEvent } from "../../ir.ts";
import { idWithPrefix, sseData } from "../shared.ts";
import { chatImage } from "../media-output.ts";
import type { ClientContext } from "../codec.ts";
import type { StreamRenderer, Write } from "../stream-render.ts";
import { failOpenAIStream } from "./stream-error.ts";
import { customInput, isCustomTool, TO_OPENAI_FINISH, toOpenAIUsage } from "./wire.ts";

/**
 * How a data-only OpenAI stream (chat and legacy completions) ends: the finish chunk, the
 * usage-only chunk when the client asked for it, then [DONE]; or an error chunk, then [DONE].
 */
export function endOpenAIStream(
  write: Write,
  finishChunk: object,
  usageChunk: object | undefined,
): void {
  write(sseData(finishChunk));
  if (usageChunk) write(sseData(usageChunk));
  write("data: [DONE]\n\n");
}

/** A chat completion stream, chunk by chunk, as OpenAI streams one. */
export class ChatStreamRenderer implements StreamRenderer {
  private head = { id: "", object: "chat.completion.chunk", created: 0, model: "" };
  /** Usage is null on every chunk when the client asked for it, and absent otherwise. */
  private readonly usageNull: object;
  private readonly showThinking: boolean;
  /** Custom tool input is free text, not JSON: it is sent whole when the call ends. */
  private readonly custom = new Map<number, { id: string; name: string; args: string }>();
  private images = 0;

  constructor(
    private readonly ctx: ClientContext,
    private readonly write: Write,
  ) {
    this.usageNull = ctx.includeUsage ? { usage: null } : {};
    this.showThinking = ctx.request.reasoning?.include === true;
  }

  private chunk(delta: object, finish: string | null) {
    return {
      ...this.head,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...this.usageNull,
    };
  }

  private send(delta: object): void {
    this.write(sseData(this.chunk(delta, null)));
  }

  event(event: StreamEvent): boolean {
    const { ctx, custom } = this;
    switch (event.type) {
      case "start":
        this.head = {
          id: idWithPrefix(event.id, "chatcmpl-"),
          object: "chat.completion.chunk",
          created: event.created,
          model: event.model,
        };
        this.send({ role: "assistant", content: "", refusal: null });
        break;
      case "thinking":
        if (this.showThinking) this.send({ reasoning_content: event.text });
        break;
      case "text":
        this.send({ content: event.text });
        break;
      case "media":
        this.send({ images: [chatImage(event.source, this.images++)] });
        break;
      case "tool_call_start":
        if (isCustomTool(ctx.request.tools, event.name))
          custom.set(event.index, { id: event.id, name: event.name, args: "" });
        else
          this.send({
            tool_calls: [
              {
                index: event.index,
                id: event.id,
                type: "function",
                function: { name: event.name, arguments: "" },
              },
            ],
          });
        break;
      case "tool_call_delta": {
        const pending = custom.get(event.index);
        if (pending) pending.args += event.arguments;
        else
          this.send({
            tool_calls: [{ index: event.index, function: { arguments: event.arguments } }],
          });
        break;
      }
      case "tool_call_end": {
        const pending = custom.get(event.index);
        if (pending)
          this.send({
            tool_calls: [
              {
                index: event.index,
                id: pending.id,
                type: "custom",
                custom: { name: pending.name, input: customInput(pending.args) },
              },
            ],
          });
        break;
      }
      case "finish":
        endOpenAIStream(
          this.write,
          this.chunk({}, TO_OPENAI_FINISH[event.stop]),
          ctx.includeUsage
            ? {
                ...this.head,
                system_fingerprint: null,
                choices: [],
                usage: toOpenAIUsage(event.usage),
              }
            : undefined,
        );
        return true;
      case "error":
        failOpenAIStream(this.write, event.status, event.message);
        return true;
      default:
      // thinking signatures and redacted thinking have no place in a chat completion
    }
    return false;
  }
}
