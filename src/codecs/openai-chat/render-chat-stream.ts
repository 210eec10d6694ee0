import type { StreamEvent } from "../../ir.ts";
import { idWithPrefix, sseData } from "../shared.ts";
import { chatImage } from "../media-output.ts";
import type { ClientContext } from "../codec.ts";
import { failOpenAIStream } from "./stream-error.ts";
import { customInput, isCustomTool, TO_OPENAI_FINISH, toOpenAIUsage } from "./wire.ts";

/**
 * How a data-only OpenAI stream (chat and legacy completions) ends: the finish chunk, the
 * usage-only chunk when the client asked for it, then [DONE]; or an error chunk, then [DONE].
 */
export function* endOpenAIStream(
  finishChunk: object,
  usageChunk: object | undefined,
): Generator<string> {
  yield sseData(finishChunk);
  if (usageChunk) yield sseData(usageChunk);
  yield "data: [DONE]\n\n";
}

export async function* renderChatStream(
  events: AsyncIterable<StreamEvent>,
  ctx: ClientContext,
): AsyncGenerator<string> {
  let head = { id: "", object: "chat.completion.chunk", created: 0, model: "" };
  // Usage is null on every chunk when the client asked for it, and absent otherwise.
  const usageNull = ctx.includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finish: string | null) => ({
    ...head,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...usageNull,
  });
  const showThinking = ctx.request.reasoning?.include === true;
  // Custom tool input is free text, not JSON: it is sent whole when the call ends.
  const custom = new Map<number, { id: string; name: string; args: string }>();
  let images = 0;
  for await (const event of events) {
    switch (event.type) {
      case "start":
        head = {
          id: idWithPrefix(event.id, "chatcmpl-"),
          object: "chat.completion.chunk",
          created: event.created,
          model: event.model,
        };
        yield sseData(chunk({ role: "assistant", content: "", refusal: null }, null));
        break;
      case "thinking":
        if (showThinking) yield sseData(chunk({ reasoning_content: event.text }, null));
        break;
      case "text":
        yield sseData(chunk({ content: event.text }, null));
        break;
      case "media":
        yield sseData(chunk({ images: [chatImage(event.source, images++)] }, null));
        break;
      case "tool_call_start":
        if (isCustomTool(ctx.request.tools, event.name))
          custom.set(event.index, { id: event.id, name: event.name, args: "" });
        else
          yield sseData(
            chunk(
              {
                tool_calls: [
                  {
                    index: event.index,
                    id: event.id,
                    type: "function",
                    function: { name: event.name, arguments: "" },
                  },
                ],
              },
              null,
            ),
          );
        break;
      case "tool_call_delta": {
        const pending = custom.get(event.index);
        if (pending) pending.args += event.arguments;
        else
          yield sseData(
            chunk(
              { tool_calls: [{ index: event.index, function: { arguments: event.arguments } }] },
              null,
            ),
          );
        break;
      }
      case "tool_call_end": {
        const pending = custom.get(event.index);
        if (pending)
          yield sseData(
            chunk(
              {
                tool_calls: [
                  {
                    index: event.index,
                    id: pending.id,
                    type: "custom",
                    custom: { name: pending.name, input: customInput(pending.args) },
                  },
                ],
              },
              null,
            ),
          );
        break;
      }
      case "finish":
        yield* endOpenAIStream(
          chunk({}, TO_OPENAI_FINISH[event.stop]),
          ctx.includeUsage
            ? { ...head, system_fingerprint: null, choices: [], usage: toOpenAIUsage(event.usage) }
            : undefined,
        );
        return;
      case "error":
        yield* failOpenAIStream(event.status, event.message);
        return;
      default:
      // thinking signatures and redacted thinking have no place in a chat completion
    }
  }
}
