import {
  type AnswerView,
  type DialectModule,
  type ImageView,
  isObject,
  type Json,
  list,
  parseJson,
  parseSse,
  type Plan,
  type RequestView,
  schemaView,
  sse,
  textsOf,
  readAnswerWith,
} from "../dialect.ts";

/* OpenAI Chat Completions, as a chat-only compatible provider serves it: POST /v1/chat/completions. */

const DATA_URL = /^data:([^;,]+)?(?:;[^,]*)?;base64,(.*)$/s;

function readRequest(_path: string, body: Json): RequestView {
  const messages = list(body.messages);
  const system: string[] = [];
  const toolResults: string[] = [];
  const images: ImageView[] = [];
  for (const message of messages) {
    if (message?.role === "system" || message?.role === "developer")
      system.push(...textsOf(message.content));
    if (message?.role === "tool") toolResults.push(String(message.tool_call_id));
    for (const part of list(message?.content)) {
      const match = part?.type === "image_url" ? DATA_URL.exec(part.image_url?.url ?? "") : null;
      if (match) images.push({ mediaType: match[1], data: match[2]! });
    }
  }
  return {
    model: typeof body.model === "string" ? body.model : undefined,
    stream: body.stream === true,
    tools: list(body.tools)
      .filter((tool) => tool?.type === "function" && isObject(tool.function))
      .map((tool) => schemaView(String(tool.function.name), tool.function.parameters)),
    system,
    signatures: [],
    toolResults,
    endsWithToolResult: messages.at(-1)?.role === "tool",
    thinking: typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none",
    cacheControl: JSON.stringify(body.messages ?? []).includes('"cache_control"'),
    promptCacheKey: typeof body.prompt_cache_key === "string" ? body.prompt_cache_key : undefined,
    images,
  };
}

function writeAnswer(model: string, plan: Plan, request: RequestView, body: Json) {
  const id = `chatcmpl-kit${plan.usage.input}`;
  const created = 1_780_000_000;
  const finish = plan.call ? "tool_calls" : "stop";
  const usage = {
    prompt_tokens: plan.usage.input,
    completion_tokens: plan.usage.output,
    total_tokens: plan.usage.input + plan.usage.output,
  };
  const toolCall = plan.call && {
    id: plan.call.id,
    type: "function",
    function: { name: plan.call.name, arguments: JSON.stringify(plan.call.args) },
  };
  if (!request.stream) {
    const message: Json = { role: "assistant", content: plan.text ?? null };
    if (plan.thinking) message.reasoning_content = plan.thinking.text;
    if (toolCall) message.tool_calls = [toolCall];
    const answer = {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
      usage,
    };
    return { status: 200, contentType: "application/json", body: JSON.stringify(answer) };
  }
  const chunk = (delta: Json, finish_reason: string | null = null) =>
    sse({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, finish_reason, logprobs: null }],
    });
  const events = [chunk({ role: "assistant", content: "" })];
  if (plan.thinking) events.push(chunk({ reasoning_content: plan.thinking.text }));
  if (plan.text !== undefined) events.push(chunk({ content: plan.text }));
  if (toolCall) {
    events.push(
      chunk({
        tool_calls: [{ index: 0, ...toolCall, function: { name: plan.call!.name, arguments: "" } }],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: toolCall.function.arguments } }] }),
    );
  }
  events.push(chunk({}, finish));
  if (body.stream_options?.include_usage === true)
    events.push(sse({ id, object: "chat.completion.chunk", created, model, choices: [], usage }));
  events.push("data: [DONE]\n\n");
  return { status: 200, contentType: "text/event-stream", body: events.join("") };
}

function fromMessage(message: Json, view: AnswerView): void {
  view.text = textsOf(message.content).join("");
  for (const call of list(message.tool_calls)) {
    view.toolCalls.push({ id: call?.id, name: call?.function?.name });
    if (!isObject(parseJson(call?.function?.arguments ?? "")))
      view.problems.push(`tool call ${call?.function?.name}'s arguments are not a JSON object`);
  }
  const turn: Json = { role: "assistant", content: message.content ?? null };
  if (message.tool_calls?.length) turn.tool_calls = message.tool_calls;
  if (message.reasoning_content) turn.reasoning_content = message.reasoning_content;
  view.turn = [turn];
}

function readStream(text: string, view: AnswerView): void {
  const problem = (p: string) => view.problems.push(p);
  const message: Json = { content: "" };
  const calls: Json[] = [];
  let done = false;
  let finished = false;
  for (const { data } of parseSse(text)) {
    if (done) problem("data after [DONE]");
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    const json = parseJson(data);
    if (!isObject(json)) {
      problem(`stream chunk is not JSON: ${data.slice(0, 80)}`);
      continue;
    }
    if (json.error) {
      problem(`error chunk: ${JSON.stringify(json.error).slice(0, 160)}`);
      continue;
    }
    if (json.object !== "chat.completion.chunk") problem(`chunk object is ${json.object}`);
    if (json.usage)
      view.usage = { input: json.usage.prompt_tokens, output: json.usage.completion_tokens };
    for (const choice of list(json.choices)) {
      if (finished) problem("a choice after the one with finish_reason");
      const delta = choice?.delta ?? {};
      if (typeof delta.content === "string") message.content += delta.content;
      if (typeof delta.reasoning_content === "string")
        message.reasoning_content = (message.reasoning_content ?? "") + delta.reasoning_content;
      for (const part of list(delta.tool_calls)) {
        const index = typeof part.index === "number" ? part.index : calls.length;
        if (!calls[index]) {
          if (!part.id) problem(`tool call ${index} starts without an id`);
          calls[index] = {
            id: part.id,
            type: "function",
            function: { name: part.function?.name ?? "", arguments: "" },
          };
        }
        calls[index]!.function.arguments += part.function?.arguments ?? "";
      }
      if (choice?.finish_reason) {
        finished = true;
        view.stop = choice.finish_reason;
      }
    }
  }
  if (!done) problem("the stream ended without data: [DONE]");
  if (!finished) problem("no chunk had a finish_reason");
  if (calls.length > 0) message.tool_calls = calls;
  if (message.content === "") message.content = null;
  fromMessage(message, view);
}

function readAnswer(status: number, contentType: string, text: string): AnswerView {
  return readAnswerWith(status, contentType, text, { stream: readStream, whole: readWhole });
}

function readWhole(text: string, view: AnswerView): void {
  const json = parseJson(text);
  const choice = isObject(json) ? list(json.choices)[0] : undefined;
  if (!isObject(json) || json.object !== "chat.completion" || !isObject(choice?.message)) {
    view.problems.push(`not a chat.completion: ${text.slice(0, 160)}`);
    return;
  }
  view.stop = choice.finish_reason;
  view.usage = { input: json.usage?.prompt_tokens, output: json.usage?.completion_tokens };
  fromMessage(choice.message, view);
}

function continueBody(body: Json, answer: AnswerView, result: string): Json {
  return {
    ...body,
    messages: [
      ...list(body.messages),
      ...answer.turn,
      ...answer.toolCalls.map((call) => ({ role: "tool", tool_call_id: call.id, content: result })),
    ],
  };
}

export const openaiChat: DialectModule = {
  dialect: "openai-chat",
  readRequest,
  writeAnswer,
  readAnswer,
  continueBody,
};
