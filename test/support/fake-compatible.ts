import { jsonReply, startFake, type FakeUpstream, type RecordedRequest } from "./fake-server.ts";
import { answer, words, type Answer, type Prompt } from "./scripted-model.ts";

/*
 * An OpenAI-compatible provider that serves Chat Completions only, as most do, with the
 * documented differences of the provider it plays (each from that provider's own docs or the
 * errors its users quote in public issue threads):
 *
 * - every provider: no /v1/responses or /v1/completions, answered with the provider's own 404
 *   (Groq's `unknown_url` JSON, Ollama's plain text, vLLM's FastAPI `detail`);
 * - deepseek: no `developer` role (a deserialization error naming the variant); in thinking mode
 *   (a `-reasoner` model) it returns `reasoning_content` and refuses an assistant turn with
 *   tool calls sent back without its `reasoning_content`;
 * - mistral: unknown fields are refused with a 422 `extra_forbidden` (`stream_options`,
 *   `max_completion_tokens`); streamed tool calls come whole, with no `index`;
 * - azure: the stream opens with a content-filter chunk (empty id and model, created 0, no choices);
 * - xai: `completion_tokens` leaves the reasoning tokens out (the total has them);
 * - moonshot: the streamed usage sits in the last choice, not at the top; in thinking mode (a
 *   `-thinking` model) it refuses a tool-calling assistant turn without `reasoning_content`;
 * - mistral's reasoning models answer with content as a list of `text` and `thinking` chunks.
 */

export type CompatibleProvider =
  | "generic"
  | "ollama"
  | "vllm"
  | "deepseek"
  | "mistral"
  | "azure"
  | "xai"
  | "moonshot";

const CREATED = 1_700_000_000;

function noSuchRoute(provider: CompatibleProvider, request: RecordedRequest): Response {
  if (provider === "ollama")
    return new Response("404 page not found", {
      status: 404,
      headers: { "content-type": "text/plain" },
    });
  if (provider === "vllm") return jsonReply({ detail: "Not Found" }, 404);
  return jsonReply(
    {
      error: {
        message: `Unknown request URL: ${request.method} ${request.path}. Please check the URL for typos.`,
        type: "invalid_request_error",
        code: "unknown_url",
      },
    },
    404,
  );
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return Array.isArray(content)
    ? content.map((p: any) => (typeof p?.text === "string" ? p.text : "")).join("")
    : "";
}

/** What this provider refuses in a request, in its own error shape; undefined when it accepts it. */
function refusal(provider: CompatibleProvider, body: any): Response | undefined {
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  if (provider === "deepseek") {
    const developer = messages.findIndex((m) => m.role === "developer");
    if (developer >= 0) {
      return jsonReply(
        {
          error: {
            message: `Failed to deserialize the JSON body into the target type: messages[${developer}].role: unknown variant \`developer\`, expected one of \`system\`, \`user\`, \`assistant\`, \`tool\``,
            type: "invalid_request_error",
            param: null,
            code: "invalid_request_error",
          },
        },
        400,
      );
    }
    if (String(body.model).endsWith("-reasoner")) {
      const bare = messages.findIndex(
        (m) =>
          m.role === "assistant" &&
          Array.isArray(m.tool_calls) &&
          m.tool_calls.length > 0 &&
          typeof m.reasoning_content !== "string",
      );
      if (bare >= 0) {
        return jsonReply(
          {
            error: {
              message:
                "The `reasoning_content` in the thinking mode must be passed back to the API.",
              type: "invalid_request_error",
              param: null,
              code: "invalid_request_error",
            },
          },
          400,
        );
      }
    }
  }
  if (provider === "moonshot" && String(body.model).endsWith("-thinking")) {
    const bare = messages.findIndex(
      (m) =>
        m.role === "assistant" &&
        Array.isArray(m.tool_calls) &&
        m.tool_calls.length > 0 &&
        typeof m.reasoning_content !== "string",
    );
    if (bare >= 0)
      return jsonReply(
        {
          error: {
            message: `thinking is enabled but reasoning_content is missing in assistant tool call message at index ${bare}`,
            type: "invalid_request_error",
          },
        },
        400,
      );
  }
  if (provider === "mistral") {
    for (const field of ["stream_options", "max_completion_tokens"]) {
      if (body[field] !== undefined) {
        return jsonReply(
          {
            object: "error",
            message: {
              detail: [
                {
                  type: "extra_forbidden",
                  loc: ["body", field],
                  msg: "Extra inputs are not permitted",
                  input: body[field],
                },
              ],
            },
            type: "invalid_request_message_error",
            param: null,
            code: null,
          },
          422,
        );
      }
    }
  }
  return undefined;
}

function promptOf(body: any): Prompt {
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  const trailingTools: any[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === "tool"; i--)
    trailingTools.unshift(messages[i]);
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  return {
    model: body.model,
    system: messages
      .filter((m) => m.role === "system")
      .map((m) => textOf(m.content))
      .join("\n"),
    text: trailingTools.length > 0 ? "" : textOf(lastUser?.content),
    images: [],
    toolResults: trailingTools.map((m) => textOf(m.content)),
    tools: (body.tools ?? []).map((t: any) => ({
      name: t.function?.name,
      parameters: t.function?.parameters,
    })),
    thinking:
      /-(reasoner|thinking)$|^magistral/.test(String(body.model)) ||
      (typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none"),
  };
}

function tokens(text: string | undefined): number {
  return text ? words(text).length : 0;
}

/** Usage as the provider reports it: reasoning inside completion_tokens, except xAI's. */
function usageOf(provider: CompatibleProvider, reply: Answer) {
  const reasoning = tokens(reply.thinking);
  const visible = tokens(reply.text) + reply.calls.length * 8 + 1;
  const completion = provider === "xai" ? visible : visible + reasoning;
  return {
    prompt_tokens: 11,
    completion_tokens: completion,
    total_tokens: 11 + visible + reasoning,
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

export function fakeCompatible(
  key: string,
  provider: CompatibleProvider = "generic",
): FakeUpstream {
  return startFake({
    keyOf: (r) => r.headers.get("authorization")?.replace(/^Bearer /, ""),
    checkKey: (r) =>
      r.headers.get("authorization") === `Bearer ${key}`
        ? undefined
        : jsonReply(
            {
              error: {
                message: "Incorrect API key provided.",
                type: "invalid_request_error",
                code: "invalid_api_key",
              },
            },
            401,
          ),
    handle(request, streamed) {
      if (request.method === "GET" && request.path === "/v1/models")
        return jsonReply({
          object: "list",
          data: [{ id: "chat-model", object: "model", created: CREATED, owned_by: provider }],
        });
      if (request.method !== "POST" || request.path !== "/v1/chat/completions")
        return noSuchRoute(provider, request);
      const refused = refusal(provider, request.json ?? {});
      if (refused) return refused;
      const body = request.json;
      const reply = answer(promptOf(body));
      const calls = reply.calls.map((call, i) => ({
        id: `call_${provider}_${i}`,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.args) },
      }));
      const finish = calls.length > 0 ? "tool_calls" : "stop";
      const usage = usageOf(provider, reply);
      if (body.stream !== true) {
        const message: Record<string, unknown> = { role: "assistant", content: reply.text ?? null };
        if (reply.thinking && provider === "mistral")
          message.content = [
            { type: "thinking", thinking: [{ type: "text", text: reply.thinking }] },
            { type: "text", text: reply.text ?? "" },
          ];
        else if (reply.thinking) message.reasoning_content = reply.thinking;
        if (calls.length > 0) message.tool_calls = calls;
        return jsonReply({
          id: `chatcmpl-${provider}`,
          object: "chat.completion",
          created: CREATED,
          model: body.model,
          choices: [{ index: 0, message, finish_reason: finish }],
          usage,
        });
      }
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id: `chatcmpl-${provider}`, object: "chat.completion.chunk", created: CREATED, model: body.model, choices, ...extra })}\n\n`;
      const events: string[] = [];
      if (provider === "azure") {
        events.push(
          `data: ${JSON.stringify({ id: "", object: "", created: 0, model: "", choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: "safe" } } }] })}\n\n`,
        );
      }
      events.push(
        chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]),
      );
      for (const word of words(reply.thinking ?? "")) {
        const delta =
          provider === "mistral"
            ? { content: [{ type: "thinking", thinking: [{ type: "text", text: word }] }] }
            : { reasoning_content: word };
        events.push(chunk([{ index: 0, delta, finish_reason: null }]));
      }
      for (const word of words(reply.text ?? ""))
        events.push(chunk([{ index: 0, delta: { content: word }, finish_reason: null }]));
      if (calls.length > 0) {
        if (provider === "mistral")
          events.push(chunk([{ index: 0, delta: { tool_calls: calls }, finish_reason: null }]));
        else {
          calls.forEach((call, index) => {
            events.push(
              chunk([
                {
                  index: 0,
                  delta: {
                    tool_calls: [
                      {
                        index,
                        id: call.id,
                        type: "function",
                        function: { name: call.function.name, arguments: "" },
                      },
                    ],
                  },
                  finish_reason: null,
                },
              ]),
            );
            events.push(
              chunk([
                {
                  index: 0,
                  delta: {
                    tool_calls: [{ index, function: { arguments: call.function.arguments } }],
                  },
                  finish_reason: null,
                },
              ]),
            );
          });
        }
      }
      if (provider === "moonshot")
        events.push(chunk([{ index: 0, delta: {}, finish_reason: finish, usage }]));
      else if (provider === "mistral")
        events.push(chunk([{ index: 0, delta: {}, finish_reason: finish }], { usage }));
      else {
        events.push(chunk([{ index: 0, delta: {}, finish_reason: finish }]));
        if (body.stream_options?.include_usage === true) events.push(chunk([], { usage }));
      }
      events.push("data: [DONE]\n\n");
      return streamed(events);
    },
  });
}
