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
  type ToolView,
  readAnswerWith,
} from "../dialect.ts";

/* OpenAI Responses: POST /v1/responses, typed events with sequence numbers, reasoning items. */

const DATA_URL = /^data:([^;,]+)?(?:;[^,]*)?;base64,(.*)$/s;
const RESULT_TYPES = new Set(["function_call_output", "custom_tool_call_output"]);

function itemsOf(input: unknown): Json[] {
  return typeof input === "string" ? [{ role: "user", content: input }] : list(input);
}

function toolViews(tools: unknown): ToolView[] {
  const views: ToolView[] = [];
  for (const tool of list(tools)) {
    if (tool?.type === "function") views.push(schemaView(String(tool.name), tool.parameters));
    // A freeform tool (Codex's apply_patch) has a grammar, not a schema: only its name can be held.
    if (tool?.type === "custom") views.push({ name: String(tool.name) });
    if (tool?.type === "namespace") views.push(...toolViews(tool.tools));
  }
  return views;
}

function readRequest(_path: string, body: Json): RequestView {
  const items = itemsOf(body.input);
  const system = typeof body.instructions === "string" ? [body.instructions] : [];
  const signatures: string[] = [];
  const toolResults: string[] = [];
  const images: ImageView[] = [];
  for (const item of items) {
    if (item?.role === "system" || item?.role === "developer")
      system.push(...textsOf(item.content));
    if (item?.type === "reasoning" && typeof item.encrypted_content === "string")
      signatures.push(item.encrypted_content);
    if (RESULT_TYPES.has(item?.type)) toolResults.push(String(item.call_id));
    for (const part of list(item?.content)) {
      const url = part?.type === "input_image" ? (part.image_url ?? "") : "";
      const match = DATA_URL.exec(typeof url === "string" ? url : "");
      if (match) images.push({ mediaType: match[1], data: match[2]! });
    }
  }
  const effort = body.reasoning?.effort;
  return {
    model: typeof body.model === "string" ? body.model : undefined,
    stream: body.stream === true,
    tools: toolViews(body.tools),
    system,
    signatures,
    toolResults,
    endsWithToolResult: RESULT_TYPES.has(items.at(-1)?.type),
    thinking: isObject(body.reasoning) && effort !== "none",
    cacheControl: false,
    promptCacheKey: typeof body.prompt_cache_key === "string" ? body.prompt_cache_key : undefined,
    images,
  };
}

function outputOf(plan: Plan, body: Json): Json[] {
  const output: Json[] = [];
  const n = plan.usage.input;
  if (plan.compaction !== undefined) {
    output.push({ type: "compaction", id: `cmp_kit${n}`, encrypted_content: plan.compaction });
    return output;
  }
  if (plan.thinking) {
    const item: Json = {
      type: "reasoning",
      id: `rs_kit${n}`,
      summary: [{ type: "summary_text", text: plan.thinking.text }],
    };
    // As OpenAI does: the encrypted reasoning only when the request includes it.
    if (list(body.include).includes("reasoning.encrypted_content") && plan.thinking.signature)
      item.encrypted_content = plan.thinking.signature;
    output.push(item);
  }
  if (plan.text !== undefined)
    output.push({
      type: "message",
      id: `msg_kit${n}`,
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: plan.text, annotations: [] }],
    });
  if (plan.call)
    output.push({
      type: "function_call",
      id: `fc_kit${n}`,
      call_id: plan.call.id,
      name: plan.call.name,
      arguments: JSON.stringify(plan.call.args),
      status: "completed",
    });
  return output;
}

function responseObject(
  model: string,
  plan: Plan,
  body: Json,
  output: Json[],
  done: boolean,
): Json {
  return {
    id: `resp_kit${plan.usage.input}`,
    object: "response",
    created_at: 1_780_000_000,
    status: done ? "completed" : "in_progress",
    completed_at: done ? 1_780_000_001 : null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    model,
    output,
    parallel_tool_calls: true,
    tool_choice: "auto",
    tools: [],
    usage: done
      ? {
          input_tokens: plan.usage.input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: plan.usage.output,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: plan.usage.input + plan.usage.output,
        }
      : null,
  };
}

function itemEvents(item: Json, output_index: number, event: (data: Json) => void): void {
  const item_id = item.id;
  if (item.type === "reasoning") {
    event({ type: "response.output_item.added", output_index, item: { ...item, summary: [] } });
    const text = item.summary[0].text;
    const part = { type: "summary_text", text: "" };
    event({
      type: "response.reasoning_summary_part.added",
      item_id,
      output_index,
      summary_index: 0,
      part,
    });
    event({
      type: "response.reasoning_summary_text.delta",
      item_id,
      output_index,
      summary_index: 0,
      delta: text,
    });
    event({
      type: "response.reasoning_summary_text.done",
      item_id,
      output_index,
      summary_index: 0,
      text,
    });
    event({
      type: "response.reasoning_summary_part.done",
      item_id,
      output_index,
      summary_index: 0,
      part: { ...part, text },
    });
  } else if (item.type === "message") {
    event({
      type: "response.output_item.added",
      output_index,
      item: { ...item, status: "in_progress", content: [] },
    });
    const text = item.content[0].text;
    const part = { type: "output_text", text: "", annotations: [] };
    event({ type: "response.content_part.added", item_id, output_index, content_index: 0, part });
    event({
      type: "response.output_text.delta",
      item_id,
      output_index,
      content_index: 0,
      delta: text,
      logprobs: [],
    });
    event({
      type: "response.output_text.done",
      item_id,
      output_index,
      content_index: 0,
      text,
      logprobs: [],
    });
    event({
      type: "response.content_part.done",
      item_id,
      output_index,
      content_index: 0,
      part: { ...part, text },
    });
  } else if (item.type === "function_call") {
    event({
      type: "response.output_item.added",
      output_index,
      item: { ...item, arguments: "", status: "in_progress" },
    });
    event({
      type: "response.function_call_arguments.delta",
      item_id,
      output_index,
      delta: item.arguments,
    });
    event({
      type: "response.function_call_arguments.done",
      item_id,
      output_index,
      arguments: item.arguments,
    });
  } else {
    event({ type: "response.output_item.added", output_index, item });
  }
  event({ type: "response.output_item.done", output_index, item });
}

function writeAnswer(model: string, plan: Plan, request: RequestView, body: Json) {
  const output = outputOf(plan, body);
  const done = responseObject(model, plan, body, output, true);
  if (!request.stream)
    return { status: 200, contentType: "application/json", body: JSON.stringify(done) };
  const events: string[] = [];
  let sequence_number = 0;
  const event = (data: Json) =>
    events.push(sse({ ...data, sequence_number: sequence_number++ }, data.type));
  const started = responseObject(model, plan, body, [], false);
  event({ type: "response.created", response: started });
  event({ type: "response.in_progress", response: started });
  for (const [index, item] of output.entries()) itemEvents(item, index, event);
  event({ type: "response.completed", response: done });
  return { status: 200, contentType: "text/event-stream", body: events.join("") };
}

function fromOutput(output: Json[], view: AnswerView): void {
  for (const item of output) {
    if (item?.type === "message")
      for (const part of list(item.content))
        if (part?.type === "output_text") view.text += part.text;
    if (item?.type === "reasoning" && item.encrypted_content)
      view.signatures.push(item.encrypted_content);
    if (item?.type === "function_call" || item?.type === "custom_tool_call") {
      view.toolCalls.push({ id: item.call_id, name: item.name });
      if (item.type === "function_call" && !isObject(parseJson(item.arguments ?? "")))
        view.problems.push(`function_call ${item.name}'s arguments are not a JSON object`);
    }
  }
  view.turn = output;
}

function fromResponse(response: Json, view: AnswerView): void {
  if (response.object !== "response" || typeof response.id !== "string")
    view.problems.push(`not a Response: ${JSON.stringify(response).slice(0, 160)}`);
  if (response.status !== "completed")
    view.problems.push(`the response's status is ${response.status}`);
  view.stop = response.status;
  view.usage = { input: response.usage?.input_tokens, output: response.usage?.output_tokens };
  fromOutput(list(response.output), view);
}

function readStream(text: string, view: AnswerView): void {
  const problem = (p: string) => view.problems.push(p);
  const opened = new Map<number, Json>();
  const closed = new Set<number>();
  let last = -1;
  let started = false;
  let completed: Json | undefined;
  for (const { event, data } of parseSse(text)) {
    const json = parseJson(data);
    if (!isObject(json) || typeof json.type !== "string") {
      problem(`stream event is not a typed JSON event: ${data.slice(0, 80)}`);
      continue;
    }
    if (event !== undefined && event !== json.type)
      problem(`event name ${event} carries ${json.type}`);
    if (typeof json.sequence_number === "number") {
      if (json.sequence_number <= last)
        problem(`sequence_number ${json.sequence_number} after ${last}`);
      last = json.sequence_number;
    }
    if (completed) problem(`${json.type} after response.completed`);
    if (!started && json.type !== "response.created")
      problem(`${json.type} before response.created`);
    const index = json.output_index;
    switch (json.type) {
      case "response.created":
        started = true;
        break;
      case "response.in_progress":
        break;
      case "response.output_item.added":
        if (index !== opened.size)
          problem(`output item ${index} added where ${opened.size} was next`);
        opened.set(index, json.item);
        break;
      case "response.output_item.done":
        if (!opened.has(index) || closed.has(index))
          problem(`output item ${index} done without being open`);
        closed.add(index);
        break;
      case "response.completed":
        completed = json.response;
        break;
      case "response.failed":
      case "response.incomplete":
      case "error":
        problem(
          `${json.type}: ${JSON.stringify(json.response?.error ?? json.error ?? json).slice(0, 160)}`,
        );
        break;
      default:
        if (typeof index === "number" && (!opened.has(index) || closed.has(index)))
          problem(`${json.type} for output item ${index}, which is not open`);
    }
  }
  if (opened.size !== closed.size) problem("an output item was added and never done");
  if (!completed) {
    problem("the stream ended without response.completed");
    return;
  }
  if (list(completed.output).length !== closed.size)
    problem(
      `response.completed lists ${list(completed.output).length} items, the stream ${closed.size}`,
    );
  fromResponse(completed, view);
}

function readAnswer(status: number, contentType: string, text: string): AnswerView {
  return readAnswerWith(status, contentType, text, { stream: readStream, whole: readWhole });
}

function readWhole(text: string, view: AnswerView): void {
  const json = parseJson(text);
  if (!isObject(json)) {
    view.problems.push(`not JSON: ${text.slice(0, 160)}`);
    return;
  }
  if (json.object === "response.compaction") {
    const items = list(json.output).filter((item) => item?.type === "compaction");
    if (items.length !== 1) view.problems.push(`${items.length} compaction items, not one`);
    view.usage = { input: json.usage?.input_tokens, output: json.usage?.output_tokens };
    view.stop = "completed";
    view.turn = list(json.output);
    return;
  }
  fromResponse(json, view);
}

function continueBody(body: Json, answer: AnswerView, result: string): Json {
  const next: Json = {
    ...body,
    input: [
      ...itemsOf(body.input),
      ...answer.turn,
      ...answer.toolCalls.map((call) => ({
        type: "function_call_output",
        call_id: call.id,
        output: result,
      })),
    ],
  };
  delete next.previous_response_id;
  return next;
}

export const openaiResponses: DialectModule = {
  dialect: "openai-responses",
  readRequest,
  writeAnswer,
  readAnswer,
  continueBody,
};
