import { openaiImageEdit, openaiImages } from "./fake-images.ts";
import {
  jsonReply,
  startFake,
  type FakeOptions,
  type ReportedUsage,
  type FakeUpstream,
  type RecordedRequest,
} from "./fake-server.ts";
import { responseObject } from "./openai-response-object.ts";
import { webSearchEvents, webSearchFor } from "./openai-web-search.ts";
import { answer, MISSING_MODEL, words, type Answer, type Prompt } from "./scripted-model.ts";
import { digest, fakeModelFamily, type SigningOptions } from "./fake-signing.ts";
import { OPENAI_EMBEDDING_MODELS, openaiEmbeddings } from "./fake-embeddings.ts";
import { transcriptOf } from "./fake-transcript.ts";

/*
 * OpenAI's wire format (PROTOCOLS.md §1-4): Bearer auth, data-only SSE ending in [DONE] for chat
 * and completions, typed events with sequence numbers and no [DONE] for responses. Like an
 * OpenAI-compatible reasoning server (DeepSeek, vLLM) it returns thinking as reasoning_content.
 * It refuses what OpenAI refuses: tool messages that answer no call, and a previous_response_id
 * that another account stored. Timestamps are fixed and ids predictable, so a test can compare
 * streamed bytes exactly.
 */

export const OPENAI_MODELS = ["gpt-4o-real", "o3-real"];
const CREATED = 1_700_000_000;

const invalid = (message: string, param: string | null = null, status = 400) =>
  jsonReply({ error: { message, type: "invalid_request_error", param, code: null } }, status);

function textOf(content: any): string {
  if (typeof content === "string") return content;
  return Array.isArray(content)
    ? content.map((p: any) => (typeof p?.text === "string" ? p.text : "")).join("")
    : "";
}

function imagesOf(content: any): string[] {
  if (!Array.isArray(content)) return [];
  return content
    .map((p: any) =>
      p?.type === "image_url"
        ? p.image_url?.url
        : p?.type === "input_image"
          ? p.image_url
          : undefined,
    )
    .filter((url: unknown): url is string => typeof url === "string")
    .map((url) => url.replace(/^data:[^,]*,/, ""));
}

function chatPrompt(body: any): Prompt | Response {
  const messages: any[] = body.messages ?? [];
  const answered = new Set<string>();
  for (const [i, message] of messages.entries()) {
    if (message.role === "assistant")
      for (const call of message.tool_calls ?? []) answered.add(call.id);
    if (message.role === "tool" && !answered.has(message.tool_call_id)) {
      return invalid(
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
        `messages.[${i}].role`,
      );
    }
  }
  if (Array.isArray(body.stop) && body.stop.length > 4)
    return invalid("'stop' must have at most 4 items", "stop");
  if (typeof body.temperature === "number" && body.temperature > 2)
    return invalid("temperature must be at most 2", "temperature");
  const trailingTools: any[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === "tool"; i--)
    trailingTools.unshift(messages[i]);
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  return {
    model: body.model,
    system: messages
      .filter((m) => m.role === "system" || m.role === "developer")
      .map((m) => textOf(m.content))
      .join("\n"),
    text: trailingTools.length > 0 ? "" : textOf(lastUser?.content),
    images: trailingTools.length > 0 ? [] : imagesOf(lastUser?.content),
    toolResults: trailingTools.map((m) => textOf(m.content)),
    tools: (body.tools ?? []).map((t: any) => ({
      name: t.function?.name,
      parameters: t.function?.parameters,
    })),
    thinking: typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none",
  };
}

function responsesPrompt(body: any): Prompt | Response {
  const input =
    typeof body.input === "string" ? [{ role: "user", content: body.input }] : (body.input ?? []);
  const calls = new Set<string>();
  const isOutput = (item: any) =>
    item.type === "function_call_output" || item.type === "custom_tool_call_output";
  for (const item of input) {
    if (item.type === "function_call" || item.type === "custom_tool_call") calls.add(item.call_id);
    if (isOutput(item) && !calls.has(item.call_id))
      return invalid(
        `No tool call found for function call output with call_id ${item.call_id}.`,
        "input",
      );
  }
  const trailing: any[] = [];
  for (let i = input.length - 1; i >= 0 && isOutput(input[i]); i--) trailing.unshift(input[i]);
  const lastUser = [...input]
    .reverse()
    .find((m: any) => (m.type ?? "message") === "message" && m.role === "user");
  return {
    model: body.model,
    system: [
      body.instructions ?? "",
      ...input
        .filter((m: any) => m.role === "system" || m.role === "developer")
        .map((m: any) => textOf(m.content)),
    ].join("\n"),
    text: trailing.length > 0 ? "" : textOf(lastUser?.content),
    images: trailing.length > 0 ? [] : imagesOf(lastUser?.content),
    toolResults: trailing.map((item) => String(item.output)),
    tools: (body.tools ?? [])
      .filter((t: any) => t.type === "function" || t.type === "custom")
      // A custom (freeform) tool's input is one text, the model's to write (Codex's apply_patch).
      .map((t: any) => ({
        name: t.name,
        parameters:
          t.type === "custom"
            ? { type: "object", properties: { input: { type: "string" } }, required: ["input"] }
            : t.parameters,
      })),
    thinking: body.reasoning?.effort !== undefined,
  };
}

// The parameters POST /v1/responses/input_tokens documents; OpenAI refuses any other by name.
const INPUT_TOKENS_PARAMS = new Set([
  "model",
  "input",
  "instructions",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "reasoning",
  "text",
  "conversation",
  "previous_response_id",
  "truncation",
]);

/** OpenAI's Responses input-token count: `{object: "response.input_tokens", input_tokens}`. */
function inputTokens(body: any): Response {
  for (const key of Object.keys(body))
    if (!INPUT_TOKENS_PARAMS.has(key)) return invalid(`Unknown parameter: '${key}'.`, key);
  const prompt = responsesPrompt(body);
  if (prompt instanceof Response) return prompt;
  return jsonReply({ object: "response.input_tokens", input_tokens: 33 });
}

/** Like OpenAI, responses are stored in the account that made them, and only that account can continue one. */
class StoredResponses {
  private count = 0;
  private readonly owners = new Map<string, string>();
  nextId(): string {
    return `resp_fake${++this.count}`;
  }
  save(id: string, key: string): void {
    this.owners.set(id, key);
  }
  heldBy(id: string, key: string): boolean {
    return this.owners.get(id) === key;
  }
}

/**
 * With a signer, encrypted reasoning is readable only by the organisation that made it (each key
 * its own unless `organisations` puts keys together), for the same model family.
 */
export interface OpenAISigningOptions extends SigningOptions {
  /** Key to organisation. */
  organisations?: Record<string, string>;
}

export function fakeOpenAI(
  key: string | string[],
  options: FakeOptions & OpenAISigningOptions = {},
): FakeUpstream {
  const keys = new Set(Array.isArray(key) ? key : [key]);
  const keyOf = (request: RecordedRequest) =>
    request.headers.get("authorization")?.replace(/^Bearer /, "");
  const stored = new StoredResponses();
  return startFake({
    dialect: "openai",
    network: options.network,
    keyOf,
    checkKey(request) {
      if (keys.has(keyOf(request) ?? "")) return undefined;
      return jsonReply(
        {
          error: {
            message:
              "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys.",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        },
        401,
      );
    },
    handle(request, streamed) {
      if (request.method === "GET" && request.path === "/v1/models") {
        return jsonReply({
          object: "list",
          data: [...OPENAI_MODELS, ...OPENAI_EMBEDDING_MODELS].map((id) => ({
            id,
            object: "model",
            created: CREATED,
            owned_by: "system",
          })),
        });
      }
      if (request.path === "/v1/audio/transcriptions") return transcription(request);
      const body = request.json ?? {};
      if (body.model === MISSING_MODEL) {
        return jsonReply(
          {
            error: {
              message: `The model \`${MISSING_MODEL}\` does not exist or you do not have access to it.`,
              type: "invalid_request_error",
              param: null,
              code: "model_not_found",
            },
          },
          404,
        );
      }
      if (request.path === "/v1/embeddings") return openaiEmbeddings(body);
      if (request.path === "/v1/chat/completions") return chat(request, streamed, options.usage);
      if (request.path === "/v1/completions") return completions(request, streamed);
      if (request.path === "/v1/responses")
        return responses(request, streamed, stored, keyOf(request) ?? "", options);
      if (request.path === "/v1/responses/input_tokens") return inputTokens(body);
      if (request.path === "/v1/responses/compact")
        return compact(body, stored, keyOf(request) ?? "", options);
      if (request.path === "/v1/images/generations") return openaiImages(body, false);
      if (request.path === "/v1/images/edits") return openaiImageEdit(request);
      return invalid(`Invalid URL (${request.method} ${request.path})`, null, 404);
    },
  });
}

type Streamed = (events: string[]) => Response;

function usageFor(reply: Answer) {
  const output =
    words(reply.text ?? "").length + reply.calls.length * 5 + words(reply.thinking ?? "").length;
  return { prompt_tokens: 9, completion_tokens: output, total_tokens: 9 + output };
}

/** Chat's usage: prompt_tokens includes cached_tokens, completion_tokens includes reasoning_tokens. */
function reportedChatUsage(r: ReportedUsage) {
  return {
    prompt_tokens: r.input,
    completion_tokens: r.output,
    total_tokens: r.input + r.output,
    prompt_tokens_details: { cached_tokens: r.cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: r.reasoning,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function chat(request: RecordedRequest, streamed: Streamed, reported?: ReportedUsage): Response {
  const body = request.json;
  const prompt = chatPrompt(body);
  if (prompt instanceof Response) return prompt;
  const reply = answer(prompt);
  const usage = reported ? reportedChatUsage(reported) : usageFor(reply);
  const calls = reply.calls.map((call, i) => ({
    id: `call_fake_${i}`,
    type: "function",
    function: { name: call.name, arguments: JSON.stringify(call.args) },
  }));
  const finish = calls.length > 0 ? "tool_calls" : "stop";
  if (!body.stream) {
    const message: Record<string, unknown> = {
      role: "assistant",
      content: reply.text ?? null,
      refusal: null,
      annotations: [],
    };
    if (reply.thinking) message.reasoning_content = reply.thinking;
    if (calls.length > 0) message.tool_calls = calls;
    return jsonReply(
      {
        id: "chatcmpl-fake1",
        object: "chat.completion",
        created: CREATED,
        model: body.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
        usage: reported
          ? usage
          : {
              ...usage,
              prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
              completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
            },
        system_fingerprint: "fp_fake",
      },
      200,
      { "x-request-id": "req_upstream_openai" },
    );
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const head = {
    id: "chatcmpl-fake1",
    object: "chat.completion.chunk",
    created: CREATED,
    model: body.model,
    system_fingerprint: "fp_fake",
  };
  const extra = includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finishReason: string | null) =>
    `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra })}\n\n`;
  const events = [chunk({ role: "assistant", content: "", refusal: null }, null)];
  for (const w of words(reply.thinking ?? "")) events.push(chunk({ reasoning_content: w }, null));
  for (const w of words(reply.text ?? "")) events.push(chunk({ content: w }, null));
  calls.forEach((call, index) => {
    const args = call.function.arguments;
    events.push(
      chunk(
        {
          tool_calls: [
            {
              index,
              id: call.id,
              type: "function",
              function: { name: call.function.name, arguments: "" },
            },
          ],
        },
        null,
      ),
    );
    events.push(
      chunk({ tool_calls: [{ index, function: { arguments: args.slice(0, 5) } }] }, null),
    );
    events.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(5) } }] }, null));
  });
  events.push(chunk({}, finish));
  if (includeUsage) events.push(`data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`);
  events.push("data: [DONE]\n\n");
  return streamed(events);
}

function completions(request: RecordedRequest, streamed: Streamed): Response {
  const body = request.json;
  const reply = answer({
    model: body.model,
    system: "",
    text: String(body.prompt ?? ""),
    images: [],
    toolResults: [],
    tools: [],
    thinking: false,
  });
  const text = reply.text ?? "";
  const usage = usageFor(reply);
  const head = { id: "cmpl-fake1", object: "text_completion", created: CREATED, model: body.model };
  if (!body.stream)
    return jsonReply({
      ...head,
      choices: [{ text, index: 0, logprobs: null, finish_reason: "stop" }],
      usage,
    });
  const events = words(text).map(
    (w) =>
      `data: ${JSON.stringify({ ...head, choices: [{ text: w, index: 0, logprobs: null, finish_reason: null }] })}\n\n`,
  );
  events.push(
    `data: ${JSON.stringify({ ...head, choices: [{ text: "", index: 0, logprobs: null, finish_reason: "stop" }] })}\n\n`,
  );
  if (body.stream_options?.include_usage)
    events.push(`data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`);
  events.push("data: [DONE]\n\n");
  return streamed(events);
}

/** With a signer, what this account's encrypted content for this model family starts with. */
function signatureMark(body: any, key: string, signing: OpenAISigningOptions): string | undefined {
  return signing.signer === undefined
    ? undefined
    : `gAAAA${digest(`${signing.signer}|${signing.organisations?.[key] ?? key}|${fakeModelFamily(body.model)}`)}`;
}

/** Reasoning and compaction items carry encrypted content only their own organisation can read. */
function unverifiable(body: any, mark: string | undefined): Response | undefined {
  if (mark === undefined || !Array.isArray(body.input)) return undefined;
  for (const item of body.input) {
    const value = item?.encrypted_content;
    const sealed = item?.type === "reasoning" || item?.type === "compaction";
    if (sealed && typeof value === "string" && !value.startsWith(mark))
      return jsonReply(
        {
          error: {
            message: `The encrypted content ${value.slice(0, 4)}...${value.slice(-4)} could not be verified.`,
            type: "invalid_request_error",
            param: null,
            code: "invalid_encrypted_content",
          },
        },
        400,
      );
  }
  return undefined;
}

function unknownPrevious(body: any, stored: StoredResponses, key: string): Response | undefined {
  const previous = body.previous_response_id;
  if (typeof previous !== "string" || stored.heldBy(previous, key)) return undefined;
  return jsonReply(
    {
      error: {
        message: `Previous response with id '${previous}' not found.`,
        type: "invalid_request_error",
        param: "previous_response_id",
        code: "previous_response_not_found",
      },
    },
    404,
  );
}

/**
 * POST /v1/responses/compact as OpenAI documents it: `{id, object: "response.compaction",
 * created_at, output, usage}`, where output is every user message of the conversation, then one
 * `compaction` item whose encrypted_content stands for the rest (sealed like reasoning when the
 * fake signs).
 */
function compact(
  body: any,
  stored: StoredResponses,
  key: string,
  signing: OpenAISigningOptions,
): Response {
  if (typeof body.model !== "string" || body.model === "")
    return jsonReply(
      {
        error: {
          message: "Missing required parameter: 'model'.",
          type: "invalid_request_error",
          param: "model",
          code: "missing_required_parameter",
        },
      },
      400,
    );
  const mark = signatureMark(body, key, signing);
  const refused = unverifiable(body, mark) ?? unknownPrevious(body, stored, key);
  if (refused) return refused;
  const input: any[] =
    typeof body.input === "string" ? [{ role: "user", content: body.input }] : (body.input ?? []);
  const users = input
    .filter((item) => (item?.type ?? "message") === "message" && item.role === "user")
    .map((item, i) => ({
      id: `msg_fake_kept${i + 1}`,
      type: "message",
      status: "completed",
      content:
        typeof item.content === "string"
          ? [{ type: "input_text", text: item.content }]
          : item.content,
      role: "user",
    }));
  const sealed = digest(JSON.stringify(input));
  const output = [
    ...users,
    {
      id: "cmp_fake1",
      type: "compaction",
      encrypted_content: mark ? `${mark}.${sealed}` : `openai-encrypted-compaction-${sealed}`,
    },
  ];
  const used = words(input.map((item) => textOf(item?.content)).join(" ")).length;
  return jsonReply({
    id: stored.nextId(),
    object: "response.compaction",
    created_at: CREATED,
    output,
    usage: {
      input_tokens: 9 + used,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 12,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 21 + used,
    },
  });
}

/** OpenAI refuses a smaller max_output_tokens. */
const MIN_OUTPUT_TOKENS = 16;

/**
 * What the model had written when it reached max_output_tokens, if it did: the reasoning, then as
 * many words of the text as fit, and no tool call (OpenAI then answers "incomplete").
 */
function cutToLimit(reply: Answer, limit: unknown): Answer | undefined {
  if (typeof limit !== "number" || usageFor(reply).completion_tokens <= limit) return undefined;
  const room = Math.max(0, limit - words(reply.thinking ?? "").length);
  const text = reply.text === undefined ? undefined : words(reply.text).slice(0, room).join("");
  return { thinking: reply.thinking, text, calls: [] };
}

function responses(
  request: RecordedRequest,
  streamed: Streamed,
  stored: StoredResponses,
  key: string,
  signing: OpenAISigningOptions & FakeOptions = {},
): Response {
  const body = request.json;
  const limit = body.max_output_tokens;
  if (typeof limit === "number" && limit < MIN_OUTPUT_TOKENS)
    return jsonReply(
      {
        error: {
          message: `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= ${MIN_OUTPUT_TOKENS}, but got ${limit} instead.`,
          type: "invalid_request_error",
          param: "max_output_tokens",
          code: "integer_below_min_value",
        },
      },
      400,
    );
  const mark = signatureMark(body, key, signing);
  const refused = unverifiable(body, mark) ?? unknownPrevious(body, stored, key);
  if (refused) return refused;
  const previous = body.previous_response_id;
  const prompt = responsesPrompt(body);
  if (prompt instanceof Response) return prompt;
  const id = stored.nextId();
  if (body.store !== false) stored.save(id, key);
  const whole = answer(prompt);
  const cut = cutToLimit(whole, limit);
  const reply = cut ?? whole;
  const status = cut ? "incomplete" : "completed";
  const text = reply.text;
  const search = webSearchFor(body, prompt.text, text ?? "");
  const annotations = search?.annotations ?? [];
  const count = usageFor(reply);
  const reported = signing.usage;
  // Responses usage: input_tokens includes cached_tokens, output_tokens includes reasoning_tokens.
  const usage = reported
    ? {
        input_tokens: reported.input,
        input_tokens_details: { cached_tokens: reported.cached },
        output_tokens: reported.output,
        output_tokens_details: { reasoning_tokens: reported.reasoning },
        total_tokens: reported.input + reported.output,
      }
    : {
        input_tokens: 9,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: count.completion_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: count.total_tokens,
      };
  const reasoning = reply.thinking
    ? {
        id: "rs_fake1",
        type: "reasoning",
        summary: [{ type: "summary_text", text: reply.thinking }],
        encrypted_content: mark
          ? `${mark}.${digest(reply.thinking)}`
          : "openai-encrypted-reasoning",
      }
    : undefined;
  const message = (t: string, status: string) => ({
    id: "msg_fake1",
    type: "message",
    status,
    role: "assistant",
    content:
      status === "in_progress" ? [] : [{ type: "output_text", text: t, annotations, logprobs: [] }],
  });
  const custom = new Set(
    (body.tools ?? []).filter((t: any) => t.type === "custom").map((t: any) => t.name),
  );
  const calls = reply.calls.map((call, i) =>
    custom.has(call.name)
      ? {
          id: `ctc_fake${i}`,
          type: "custom_tool_call",
          status: "completed",
          call_id: `call_fake_${i}`,
          name: call.name,
          input: String(call.args.input ?? ""),
        }
      : {
          id: `fc_fake${i}`,
          type: "function_call",
          status: "completed",
          call_id: `call_fake_${i}`,
          name: call.name,
          arguments: JSON.stringify(call.args),
        },
  );
  const output = [
    ...(reasoning ? [reasoning] : []),
    ...(search ? [search.item] : []),
    ...(text !== undefined ? [message(text, status)] : []),
    ...calls,
  ];
  const response = (now: "in_progress" | typeof status, items: unknown[]) =>
    responseObject(body, {
      id,
      status: now,
      output: items,
      usage,
      previousResponseId: previous ?? null,
      incompleteDetails: now === "incomplete" ? { reason: "max_output_tokens" } : null,
    });
  if (!body.stream) return jsonReply(response(status, output));
  let sequence = 0;
  const event = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
  const events = [
    event("response.created", { response: response("in_progress", []) }),
    event("response.in_progress", { response: response("in_progress", []) }),
  ];
  let index = 0;
  if (reasoning) {
    const at = { item_id: reasoning.id, output_index: index, summary_index: 0 };
    events.push(
      event("response.output_item.added", {
        output_index: index,
        item: { id: reasoning.id, type: "reasoning", summary: [] },
      }),
    );
    events.push(
      event("response.reasoning_summary_part.added", {
        ...at,
        part: { type: "summary_text", text: "" },
      }),
    );
    for (const w of words(reply.thinking!))
      events.push(event("response.reasoning_summary_text.delta", { ...at, delta: w }));
    events.push(event("response.reasoning_summary_text.done", { ...at, text: reply.thinking }));
    events.push(
      event("response.reasoning_summary_part.done", {
        ...at,
        part: { type: "summary_text", text: reply.thinking },
      }),
    );
    events.push(event("response.output_item.done", { output_index: index++, item: reasoning }));
  }
  if (search) events.push(...webSearchEvents(search, index++, event));
  if (text !== undefined) {
    const at = { item_id: "msg_fake1", output_index: index, content_index: 0 };
    const part = (t: string, done = false) => ({
      type: "output_text",
      text: t,
      annotations: done ? annotations : [],
      logprobs: [],
    });
    events.push(
      event("response.output_item.added", {
        output_index: index,
        item: message("", "in_progress"),
      }),
    );
    events.push(event("response.content_part.added", { ...at, part: part("") }));
    for (const w of words(text))
      events.push(event("response.output_text.delta", { ...at, delta: w, logprobs: [] }));
    for (const [i, annotation] of annotations.entries())
      events.push(
        event("response.output_text.annotation.added", {
          ...at,
          annotation_index: i,
          annotation,
        }),
      );
    events.push(event("response.output_text.done", { ...at, text, logprobs: [] }));
    events.push(event("response.content_part.done", { ...at, part: part(text, true) }));
    events.push(
      event("response.output_item.done", {
        output_index: index++,
        item: message(text, status),
      }),
    );
  }
  for (const call of calls) {
    if (call.type === "custom_tool_call") {
      events.push(
        event("response.output_item.added", {
          output_index: index,
          item: { ...call, status: "in_progress", input: "" },
        }),
      );
      events.push(
        event("response.custom_tool_call_input.delta", {
          item_id: call.id,
          output_index: index,
          delta: call.input,
        }),
      );
      events.push(
        event("response.custom_tool_call_input.done", {
          item_id: call.id,
          output_index: index,
          input: call.input,
        }),
      );
    } else {
      events.push(
        event("response.output_item.added", {
          output_index: index,
          item: { ...call, status: "in_progress", arguments: "" },
        }),
      );
      events.push(
        event("response.function_call_arguments.delta", {
          item_id: call.id,
          output_index: index,
          delta: call.arguments,
        }),
      );
      events.push(
        event("response.function_call_arguments.done", {
          item_id: call.id,
          output_index: index,
          name: call.name,
          arguments: call.arguments,
        }),
      );
    }
    events.push(event("response.output_item.done", { output_index: index++, item: call }));
  }
  events.push(event(`response.${status}`, { response: response(status, output) }));
  return streamed(events);
}

/** OpenAI's file size limit for transcriptions, and the formats it names when refusing a file. */
const TRANSCRIPTION_MAX_BYTES = 25 * 1024 * 1024;
const AUDIO_ENDINGS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"];

/**
 * POST /v1/audio/transcriptions as OpenAI documents it: a multipart form (read here by Bun's own
 * parser, not levity's) with `file` and `model`, answered in each response_format: json and text
 * (every model), srt, vtt and verbose_json (whisper-1) with one segment of the whole file.
 */
async function transcription(request: RecordedRequest): Promise<Response> {
  let form: Awaited<ReturnType<Response["formData"]>>;
  try {
    form = await new Response(request.bytes, {
      headers: { "content-type": request.headers.get("content-type") ?? "" },
    }).formData();
  } catch {
    return invalid("Could not parse multipart form", null);
  }
  const model = form.get("model");
  const file = form.get("file");
  if (typeof model !== "string" || model === "")
    return invalid("you must provide a model parameter", "model");
  if (model === MISSING_MODEL)
    return jsonReply(
      {
        error: {
          message: `The model \`${MISSING_MODEL}\` does not exist or you do not have access to it.`,
          type: "invalid_request_error",
          param: null,
          code: "model_not_found",
        },
      },
      404,
    );
  if (!(file instanceof Blob)) return invalid("Missing required parameter: 'file'.", "file");
  const ending = (file as File).name?.split(".").pop()?.toLowerCase() ?? "";
  if (!AUDIO_ENDINGS.includes(ending))
    return invalid(
      `Invalid file format. Supported formats: ${JSON.stringify(AUDIO_ENDINGS).replace(/"/g, "'")}`,
      null,
    );
  if (file.size > TRANSCRIPTION_MAX_BYTES)
    return invalid(
      `Maximum content size limit (${TRANSCRIPTION_MAX_BYTES}) exceeded (${file.size} bytes read)`,
      null,
      413,
    );
  const format = String(form.get("response_format") ?? "json");
  const language = form.get("language");
  const text = transcriptOf(
    new Uint8Array(await file.arrayBuffer()),
    typeof language === "string" ? language : undefined,
  );
  const duration = 2.5;
  const plain = (body: string) =>
    new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
  // OpenAI streams gpt-4o-transcribe's answers as data-only SSE events; whisper-1 ignores stream.
  if (form.get("stream") === "true" && !model.startsWith("whisper")) {
    const usage = { type: "tokens", input_tokens: 40, output_tokens: words(text).length };
    const events = [
      ...words(text).map((delta) => ({ type: "transcript.text.delta", delta })),
      {
        type: "transcript.text.done",
        text,
        usage: { ...usage, total_tokens: 40 + usage.output_tokens },
      },
    ];
    return new Response(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""), {
      headers: { "content-type": "text/event-stream; charset=utf-8" },
    });
  }
  switch (format) {
    case "json":
      return jsonReply({
        text,
        usage: {
          type: "tokens",
          input_tokens: 40,
          output_tokens: words(text).length,
          total_tokens: 40 + words(text).length,
        },
      });
    case "text":
      return plain(`${text}\n`);
    case "srt":
      return plain(`1\n00:00:00,000 --> 00:00:02,500\n${text}\n\n`);
    case "vtt":
      return plain(`WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n${text}\n\n`);
    case "verbose_json": {
      const granularities = form.getAll("timestamp_granularities[]").map(String);
      const segment = {
        id: 0,
        seek: 0,
        start: 0,
        end: duration,
        text,
        tokens: [50364, 50489],
        temperature: 0,
        avg_logprob: -0.2,
        compression_ratio: 1.1,
        no_speech_prob: 0.01,
      };
      const spoken = text.split(" ");
      return jsonReply({
        task: "transcribe",
        language: "english",
        duration,
        text,
        ...(granularities.length === 0 || granularities.includes("segment")
          ? { segments: [segment] }
          : {}),
        ...(granularities.includes("word")
          ? {
              words: spoken.map((word, i) => ({
                word,
                start: (i * duration) / spoken.length,
                end: ((i + 1) * duration) / spoken.length,
              })),
            }
          : {}),
        usage: { type: "duration", seconds: Math.ceil(duration) },
      });
    }
    default:
      return invalid(
        `Invalid value: '${format}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.`,
        "response_format",
      );
  }
}
