import { jsonReply, lastUserText, startFake, type FakeUpstream } from "./fake-server.ts";

/*
 * Anthropic's wire format (PROTOCOLS.md §5): x-api-key auth, anthropic-version required, SSE with
 * an `event:` line per event, a ping in the middle, usage on message_start and message_delta.
 */

export const ANTHROPIC_MODELS = ["claude-sonnet-4-5-real", "claude-haiku-4-5-real"];

export function fakeAnthropic(key: string): FakeUpstream {
  return startFake({
    checkKey(request) {
      const presented = request.headers.get("x-api-key") ?? request.headers.get("authorization")?.replace(/^Bearer /, "");
      if (presented === key) return undefined;
      return jsonReply({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key" }, request_id: "req_fake" }, 401);
    },
    handle(request, streamed) {
      if (!request.headers.get("anthropic-version")) {
        return jsonReply({ type: "error", error: { type: "invalid_request_error", message: "anthropic-version: header is required" } }, 400);
      }
      const body = request.json ?? {};
      if (request.method === "GET" && request.path === "/v1/models") {
        const data = ANTHROPIC_MODELS.map((id) => ({ type: "model", id, display_name: id, created_at: "2025-09-29T00:00:00Z" }));
        return jsonReply({ data, has_more: false, first_id: data[0]!.id, last_id: data.at(-1)!.id });
      }
      if (request.path === "/v1/messages/count_tokens") return jsonReply({ input_tokens: 42 });
      if (request.path !== "/v1/messages") {
        return jsonReply({ type: "error", error: { type: "not_found_error", message: `${request.path} not found` } }, 404);
      }
      const model: string = body.model;
      const reply = `pong from ${model}: ${lastUserText(request)}`;
      const words = reply.match(/\S+\s*/g) ?? [];
      if (!body.stream) {
        return jsonReply(
          {
            id: "msg_fake1",
            type: "message",
            role: "assistant",
            model,
            content: [{ type: "text", text: reply }],
            stop_reason: "end_turn",
            stop_sequence: null,
            usage: { input_tokens: 11, output_tokens: words.length, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: "standard" },
          },
          200,
          { "request-id": "req_upstream_anthropic" },
        );
      }
      const event = (data: { type: string; [field: string]: unknown }) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
      return streamed([
        event({
          type: "message_start",
          message: {
            id: "msg_fake1",
            type: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1, service_tier: "standard" },
          },
        }),
        event({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        ...words.map((w) => event({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } })),
        event({ type: "content_block_stop", index: 0 }),
        event({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: words.length } }),
        event({ type: "message_stop" }),
      ]);
    },
  });
}
