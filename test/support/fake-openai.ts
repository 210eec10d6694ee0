import { jsonReply, lastUserText, startFake, type FakeUpstream } from "./fake-server.ts";

/*
 * OpenAI's wire format (PROTOCOLS.md §1–4): Bearer auth, data-only SSE ending in [DONE] for chat
 * and completions, typed events with sequence numbers and no [DONE] for responses.
 * Ids and timestamps are fixed so a test can compare streamed bytes exactly.
 */

export const OPENAI_MODELS = ["gpt-4o-real", "o3-real"];

const CREATED = 1_700_000_000;

export function fakeOpenAI(key: string): FakeUpstream {
  return startFake({
    checkKey(request) {
      if (request.headers.get("authorization") === `Bearer ${key}`) return undefined;
      return jsonReply(
        { error: { message: "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys.", type: "invalid_request_error", param: null, code: "invalid_api_key" } },
        401,
      );
    },
    handle(request, streamed) {
      const body = request.json ?? {};
      const model: string = body.model;
      const reply = `pong from ${model}: ${lastUserText(request)}`;
      const words = reply.match(/\S+\s*/g) ?? [];
      const usage = { prompt_tokens: 9, completion_tokens: words.length, total_tokens: 9 + words.length };

      if (request.method === "GET" && request.path === "/v1/models") {
        return jsonReply({ object: "list", data: OPENAI_MODELS.map((id) => ({ id, object: "model", created: CREATED, owned_by: "system" })) });
      }
      if (request.path === "/v1/chat/completions") {
        if (!body.stream) {
          return jsonReply(
            {
              id: "chatcmpl-fake1",
              object: "chat.completion",
              created: CREATED,
              model,
              choices: [{ index: 0, message: { role: "assistant", content: reply, refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
              usage: { ...usage, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 } },
              system_fingerprint: "fp_fake",
            },
            200,
            { "x-request-id": "req_upstream_openai" },
          );
        }
        const includeUsage = body.stream_options?.include_usage === true;
        const head = { id: "chatcmpl-fake1", object: "chat.completion.chunk", created: CREATED, model, system_fingerprint: "fp_fake" };
        const extra = includeUsage ? { usage: null } : {};
        const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
        const events = [chunk({ role: "assistant", content: "", refusal: null }, null), ...words.map((w) => chunk({ content: w }, null)), chunk({}, "stop")];
        if (includeUsage) events.push(`data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`);
        events.push("data: [DONE]\n\n");
        return streamed(events);
      }
      if (request.path === "/v1/completions") {
        const head = { id: "cmpl-fake1", object: "text_completion", created: CREATED, model };
        if (!body.stream) return jsonReply({ ...head, choices: [{ text: reply, index: 0, logprobs: null, finish_reason: "stop" }], usage });
        const events = words.map((w) => `data: ${JSON.stringify({ ...head, choices: [{ text: w, index: 0, logprobs: null, finish_reason: null }] })}\n\n`);
        events.push(`data: ${JSON.stringify({ ...head, choices: [{ text: "", index: 0, logprobs: null, finish_reason: "stop" }] })}\n\n`, "data: [DONE]\n\n");
        return streamed(events);
      }
      if (request.path === "/v1/responses") return responses(model, reply, words, !!body.stream, streamed);
      return jsonReply({ error: { message: `Invalid URL (${request.method} ${request.path})`, type: "invalid_request_error", param: null, code: null } }, 404);
    },
  });
}

function responses(model: string, reply: string, words: string[], stream: boolean, streamed: (events: string[]) => Response): Response {
  const usage = { input_tokens: 9, input_tokens_details: { cached_tokens: 0 }, output_tokens: words.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 9 + words.length };
  const message = (text: string, status: string) => ({
    id: "msg_fake1",
    type: "message",
    status,
    role: "assistant",
    content: status === "in_progress" ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }],
  });
  const response = (status: string, output: unknown[], withUsage: boolean) => ({
    id: "resp_fake1",
    object: "response",
    created_at: CREATED,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: withUsage ? usage : null,
    user: null,
    metadata: {},
  });
  if (!stream) return jsonReply(response("completed", [message(reply, "completed")], true));
  let sequence = 0;
  const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
  const part = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });
  const at = { item_id: "msg_fake1", output_index: 0, content_index: 0 };
  return streamed([
    event("response.created", { response: response("in_progress", [], false) }),
    event("response.in_progress", { response: response("in_progress", [], false) }),
    event("response.output_item.added", { output_index: 0, item: message("", "in_progress") }),
    event("response.content_part.added", { ...at, part: part("") }),
    ...words.map((w) => event("response.output_text.delta", { ...at, delta: w, logprobs: [] })),
    event("response.output_text.done", { ...at, text: reply, logprobs: [] }),
    event("response.content_part.done", { ...at, part: part(reply) }),
    event("response.output_item.done", { output_index: 0, item: message(reply, "completed") }),
    event("response.completed", { response: response("completed", [message(reply, "completed")], true) }),
  ]);
}
