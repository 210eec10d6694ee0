/*
 * The benchmark's upstream: as fast as Bun can answer, so what is measured is the gateway.
 * POST /v1/chat/completions: a fixed answer, or with "stream": true, STREAM_CHUNKS content
 * chunks numbered in order (a body "user": "interval-N" spaces them N ms apart, for streams held
 * open; the field goes through any gateway unchanged), then a
 * finish chunk, a usage chunk and [DONE]. POST /v1beta/models/{m}:generateContent: a fixed
 * Gemini answer. Prints "listening PORT".
 */
const CHUNKS = Number(process.env.STREAM_CHUNKS ?? 20);
const encoder = new TextEncoder();

const chatAnswer = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1,
  model: "bench-model",
  choices: [
    {
      index: 0,
      message: { role: "assistant", content: "The quick brown fox jumps over the lazy dog." },
      finish_reason: "stop",
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 10, total_tokens: 22 },
});
const geminiAnswer = JSON.stringify({
  candidates: [
    {
      content: { role: "model", parts: [{ text: "The quick brown fox jumps over the lazy dog." }] },
      finishReason: "STOP",
      index: 0,
    },
  ],
  usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 10, totalTokenCount: 22 },
  modelVersion: "gemini-bench",
});
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
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

function stream(intervalMs: number): Response {
  let i = 0;
  return new Response(
    new ReadableStream({
      async pull(controller) {
        if (i < contentChunks.length) {
          if (intervalMs > 0 && i > 0) await Bun.sleep(intervalMs);
          controller.enqueue(contentChunks[i++]!);
        } else {
          controller.enqueue(tail);
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
      return new Response(geminiAnswer, { headers: JSON_HEADERS });
    if (path.endsWith("/chat/completions")) {
      if (text.includes('"stream":true'))
        return stream(Number(/"interval-(\d+)"/.exec(text)?.[1] ?? 0));
      return new Response(chatAnswer, { headers: JSON_HEADERS });
    }
    return new Response(
      JSON.stringify({
        error: { message: `no ${path}`, type: "invalid_request_error", param: null, code: null },
      }),
      { status: 404, headers: JSON_HEADERS },
    );
  },
});
console.log(`listening ${server.port}`);
export {};
