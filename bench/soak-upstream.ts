/*
 * The soak's upstream: OpenAI chat, Anthropic messages and Gemini generateContent on one port,
 * streamed or whole, each answer a little slow (as a model is), and one request in ten faulted
 * in turn: a 429 with a short hint, a 500, a stream that goes quiet after its first content
 * (closed a second later), a data line that is not JSON before any content (a whole answer that
 * is not JSON), an HTML page with a 200, a connection that answers nothing.
 */

export const FAULTS = [
  "rate_limit",
  "server_error",
  "cut_after_content",
  "bad_json_before_content",
  "html_200",
  "drop",
] as const;
export type Fault = (typeof FAULTS)[number];

const encoder = new TextEncoder();
const ANSWER_WORDS = ["soak", "steady", "and", "complete"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Protocol = "openai" | "anthropic" | "gemini";

function protocolOf(path: string): Protocol {
  if (path.endsWith("/messages")) return "anthropic";
  if (path.includes(":generateContent") || path.includes(":streamGenerateContent")) return "gemini";
  return "openai";
}

function whole(protocol: Protocol): string {
  const text = ANSWER_WORDS.join(" ");
  if (protocol === "anthropic")
    return JSON.stringify({
      id: "msg_soak",
      type: "message",
      role: "assistant",
      model: "soak",
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 4 },
    });
  if (protocol === "gemini")
    return JSON.stringify({
      candidates: [
        { content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 },
      ],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 },
      modelVersion: "soak",
    });
  return JSON.stringify({
    id: "chatcmpl-soak",
    object: "chat.completion",
    created: 1,
    model: "soak",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
  });
}

/** The stream's events: content events first (one per word), then the protocol's ending. */
function events(protocol: Protocol): { content: string[]; end: string[] } {
  if (protocol === "anthropic") {
    const event = (type: string, data: object) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    return {
      content: [
        event("message_start", {
          message: {
            id: "msg_soak",
            type: "message",
            role: "assistant",
            model: "soak",
            content: [],
            stop_reason: null,
            usage: { input_tokens: 5, output_tokens: 0 },
          },
        }) +
          event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
          event("content_block_delta", {
            index: 0,
            delta: { type: "text_delta", text: ANSWER_WORDS[0] },
          }),
        ...ANSWER_WORDS.slice(1).map((w) =>
          event("content_block_delta", { index: 0, delta: { type: "text_delta", text: ` ${w}` } }),
        ),
      ],
      end: [
        event("content_block_stop", { index: 0 }) +
          event("message_delta", {
            delta: { stop_reason: "end_turn" },
            usage: { output_tokens: 4 },
          }) +
          event("message_stop", {}),
      ],
    };
  }
  if (protocol === "gemini") {
    const chunk = (text: string, last: boolean) =>
      `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 }, modelVersion: "soak" })}\r\n\r\n`;
    return {
      content: ANSWER_WORDS.map((w, i) => chunk(i ? ` ${w}` : w, i === ANSWER_WORDS.length - 1)),
      end: [],
    };
  }
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: "chatcmpl-soak", object: "chat.completion.chunk", created: 1, model: "soak", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return {
    content: ANSWER_WORDS.map((w, i) =>
      chunk(i ? { content: ` ${w}` } : { role: "assistant", content: w }, null),
    ),
    end: [
      chunk({}, "stop") +
        `data: ${JSON.stringify({ id: "chatcmpl-soak", object: "chat.completion.chunk", created: 1, model: "soak", choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } })}\n\ndata: [DONE]\n\n`,
    ],
  };
}

function errorBody(protocol: Protocol, status: number, message: string): string {
  if (protocol === "anthropic")
    return JSON.stringify({
      type: "error",
      error: { type: status === 429 ? "rate_limit_error" : "api_error", message },
    });
  if (protocol === "gemini")
    return JSON.stringify({
      error: { code: status, message, status: status === 429 ? "RESOURCE_EXHAUSTED" : "INTERNAL" },
    });
  return JSON.stringify({
    error: { message, type: status === 429 ? "requests" : "server_error", param: null, code: null },
  });
}

/** The parts, `paceMs` apart; with `stopAfter`, the stream goes quiet after that many and never ends. */
function streamed(parts: string[], paceMs: number, stopAfter?: number): Response {
  let i = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (stopAfter !== undefined && i === stopAfter) return new Promise<void>(() => {});
        if (i >= parts.length) {
          controller.close();
          return;
        }
        if (i > 0) await sleep(paceMs);
        controller.enqueue(encoder.encode(parts[i++]!));
      },
    }),
    { headers: { "content-type": "text/event-stream" } },
  );
}

export interface SoakUpstream {
  url: string;
  served(): number;
  faulted(): Record<Fault, number>;
  stop(): Promise<void>;
}

/** Every `faultEvery`-th request is faulted, the kinds in turn; answers take about `paceMs` per chunk. */
export function startSoakUpstream(options: { faultEvery: number; paceMs: number }): SoakUpstream {
  let count = 0;
  const faulted = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request, bunServer) {
      const url = new URL(request.url);
      const protocol = protocolOf(url.pathname);
      const body = (await request.json()) as { stream?: boolean };
      const stream = body.stream === true || url.pathname.includes(":streamGenerateContent");
      const n = ++count;
      const fault =
        n % options.faultEvery === 0
          ? FAULTS[(n / options.faultEvery) % FAULTS.length]!
          : undefined;
      if (fault) faulted[fault]++;
      const json = { "content-type": "application/json" };
      switch (fault) {
        case "rate_limit":
          return new Response(errorBody(protocol, 429, "soak: slow down"), {
            status: 429,
            headers: { ...json, "retry-after-ms": "100" },
          });
        case "server_error":
          return new Response(errorBody(protocol, 500, "soak: internal error"), {
            status: 500,
            headers: json,
          });
        case "html_200":
          return new Response("<html><body>upstream proxy error</body></html>", {
            headers: { "content-type": "text/html" },
          });
        default:
      }
      // A connection that goes quiet is closed by this server after a second: before any answer
      // (drop, or a whole answer cut), or after a stream's first content.
      const cut = fault === "drop" || fault === "cut_after_content";
      if (cut) bunServer.timeout(request, 1);
      if (fault === "drop" || (cut && !stream)) return new Promise<Response>(() => {});
      await sleep(options.paceMs);
      if (!stream)
        return new Response(
          fault === "bad_json_before_content" ? "{soak not json" : whole(protocol),
          { headers: json },
        );
      const { content, end } = events(protocol);
      if (fault === "cut_after_content") return streamed([...content, ...end], options.paceMs, 1);
      if (fault === "bad_json_before_content")
        return streamed(["data: {soak not json\n\n", ...content, ...end], options.paceMs);
      return streamed([...content, ...end], options.paceMs);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    served: () => count,
    faulted: () => ({ ...faulted }),
    stop: () => server.stop(true),
  };
}
