import type { Socket } from "node:net";
import { httpResponse, LAST_CHUNK, SSE_HEAD, sseChunk, type RawRequest } from "./raw-upstream.ts";

/*
 * Correct answers written at the socket level, for the raw upstreams of the broken- and
 * hostile-upstream tests: an OpenAI chat completion and an Anthropic message, whole or streamed.
 */

/** One OpenAI chat stream chunk. */
export const chunk = (delta: object, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
/** The end of an OpenAI chat stream: the finish, the usage and [DONE]. */
export const OPENAI_TAIL = [
  chunk({}, "stop"),
  `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices: [], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } })}\n\n`,
  "data: [DONE]\n\n",
];
export const chatAnswer = (text: string) =>
  JSON.stringify({
    id: "c1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });
export const anthropicMessage = (text: string) =>
  JSON.stringify({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [{ type: "text", text }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 1 },
  });
export const anthropicEvent = (type: string, data: object) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
export const MESSAGE_START = anthropicEvent("message_start", {
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [],
    stop_reason: null,
    usage: { input_tokens: 3, output_tokens: 0 },
  },
});
export const BLOCK_START = anthropicEvent("content_block_start", {
  index: 0,
  content_block: { type: "text", text: "" },
});
export const textDelta = (text: string) =>
  anthropicEvent("content_block_delta", { index: 0, delta: { type: "text_delta", text } });
export const ANTHROPIC_STREAM = [
  MESSAGE_START,
  BLOCK_START,
  textDelta("fine"),
  anthropicEvent("content_block_stop", { index: 0 }),
  anthropicEvent("message_delta", {
    delta: { stop_reason: "end_turn" },
    usage: { output_tokens: 1 },
  }),
  anthropicEvent("message_stop", {}),
];

/** A correct answer in the upstream's protocol (Anthropic on /messages, else OpenAI chat), streamed or whole. */
export function answerWell(request: RawRequest, socket: Socket): void {
  const body = JSON.parse(request.body);
  if (request.path.endsWith("/messages")) {
    if (body.stream) socket.write(SSE_HEAD + ANTHROPIC_STREAM.map(sseChunk).join("") + LAST_CHUNK);
    else socket.write(httpResponse(200, anthropicMessage("fine")));
    return;
  }
  if (body.stream)
    socket.write(
      SSE_HEAD +
        [chunk({ role: "assistant", content: "fine" }), ...OPENAI_TAIL].map(sseChunk).join("") +
        LAST_CHUNK,
    );
  else socket.write(httpResponse(200, chatAnswer("fine")));
}
