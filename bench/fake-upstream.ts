/*
 * The benchmark's upstream: as fast as Bun can answer, so what is measured is the gateway.
 * POST /v1/chat/completions: a fixed answer, or with "stream": true, STREAM_CHUNKS content
 * chunks numbered in order (a body "user": "interval-N" spaces them N ms apart, for streams held
 * open; the field goes through any gateway unchanged), then a
 * finish chunk, a usage chunk and [DONE]. POST /v1/responses with "stream": true: the same as
 * Responses events (created, the message item, STREAM_CHUNKS text deltas, the item's end and
 * response.completed with usage), "interval-N" alike. POST /v1beta/models/{m}:generateContent: a
 * fixed Gemini answer. Prints "listening PORT".
 */
import { CHAT_ANSWER, GEMINI_ANSWER } from "./bodies.ts";

const CHUNKS = Number(process.env.STREAM_CHUNKS ?? 20);
const encoder = new TextEncoder();

const chunk = (delta: object, finish: string | null) =>
  encoder.encode(
    `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model: "bench-model", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
  );
const contentChunks = Array.from({ length: CHUNKS }, (_, i) =>
  chunk(i === 0 ? { role: "assistant", content: `t${i} ` } : { content: `t${i} ` }, null),
);
const tail = encoder.encode(
  `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model: "bench-model", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n` +
    `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1, model: "bench-model", choices: [], usage: { prompt_tokens: 12, completion_tokens: CHUNKS, total_tokens: 12 + CHUNKS } })}\n\n` +
    "data: [DONE]\n\n",
);
const JSON_HEADERS = { "content-type": "application/json" };

const responsesEvent = (type: string, fields: object) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
const MESSAGE = { id: "msg_bench", type: "message", role: "assistant" };
const RESPONSE = { id: "resp_bench", object: "response", created_at: 1, model: "bench-model" };
const textDelta = (i: number) =>
  responsesEvent("response.output_text.delta", {
    sequence_number: i + 2,
    item_id: "msg_bench",
    output_index: 0,
    content_index: 0,
    delta: `t${i} `,
    logprobs: [],
  });
const responsesChunks = Array.from({ length: CHUNKS }, (_, i) =>
  encoder.encode(
    (i === 0
      ? responsesEvent("response.created", {
          sequence_number: 0,
          response: { ...RESPONSE, status: "in_progress", output: [] },
        }) +
        responsesEvent("response.output_item.added", {
          sequence_number: 1,
          output_index: 0,
          item: { ...MESSAGE, status: "in_progress", content: [] },
        })
      : "") + textDelta(i),
  ),
);
const done = { ...MESSAGE, status: "completed", content: [{ type: "output_text", text: "t0 …" }] };
const responsesTail = encoder.encode(
  responsesEvent("response.output_item.done", {
    sequence_number: CHUNKS + 2,
    output_index: 0,
    item: done,
  }) +
    responsesEvent("response.completed", {
      sequence_number: CHUNKS + 3,
      response: {
        ...RESPONSE,
        status: "completed",
        output: [done],
        usage: { input_tokens: 12, output_tokens: CHUNKS, total_tokens: 12 + CHUNKS },
      },
    }),
);
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

function stream(intervalMs: number, chunks = contentChunks, last = tail): Response {
  let i = 0;
  return new Response(
    new ReadableStream({
      async pull(controller) {
        if (i < chunks.length) {
          if (intervalMs > 0 && i > 0) await Bun.sleep(intervalMs);
          controller.enqueue(chunks[i++]!);
        } else {
          controller.enqueue(last);
          controller.close();
        }
      },
    }),
    { headers: SSE_HEADERS },
  );
}

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    const text = await request.text();
    if (path.endsWith(":generateContent"))
      return new Response(GEMINI_ANSWER, { headers: JSON_HEADERS });
    if (path.endsWith("/chat/completions")) {
      if (text.includes('"stream":true'))
        return stream(Number(/"interval-(\d+)"/.exec(text)?.[1] ?? 0));
      return new Response(CHAT_ANSWER, { headers: JSON_HEADERS });
    }
    if (path.endsWith("/responses") && text.includes('"stream":true'))
      return stream(
        Number(/"interval-(\d+)"/.exec(text)?.[1] ?? 0),
        responsesChunks,
        responsesTail,
      );
    return new Response(
      JSON.stringify({
        error: { message: `no ${path}`, type: "invalid_request_error", param: null, code: null },
      }),
      { status: 404, headers: JSON_HEADERS },
    );
  },
});
console.log(`listening ${server.port}`);
