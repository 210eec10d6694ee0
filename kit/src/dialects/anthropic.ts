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

/* Anthropic Messages: POST /v1/messages, named SSE events, thinking blocks signed. */

function imagesIn(blocks: unknown, into: ImageView[]): void {
  for (const block of list(blocks)) {
    if (!isObject(block)) continue;
    if (block.type === "image" && block.source?.type === "base64")
      into.push({ mediaType: block.source.media_type, data: String(block.source.data) });
    if (block.type === "tool_result") imagesIn(block.content, into);
  }
}

function readRequest(_path: string, body: Json): RequestView {
  const messages = list(body.messages);
  const signatures: string[] = [];
  const toolResults: string[] = [];
  const images: ImageView[] = [];
  for (const message of messages) {
    imagesIn(message?.content, images);
    for (const block of list(message?.content)) {
      if (block?.type === "thinking" && typeof block.signature === "string")
        signatures.push(block.signature);
      if (block?.type === "redacted_thinking" && typeof block.data === "string")
        signatures.push(block.data);
      if (block?.type === "tool_result") toolResults.push(String(block.tool_use_id));
    }
  }
  const last = messages.at(-1);
  const thinking = body.thinking?.type;
  return {
    model: typeof body.model === "string" ? body.model : undefined,
    stream: body.stream === true,
    // Server tools (web search, code execution) carry a versioned type; the client's own have none.
    tools: list(body.tools)
      .filter((tool) => isObject(tool) && (tool.type === undefined || tool.type === "custom"))
      .map((tool) => schemaView(String(tool.name), tool.input_schema)),
    system: textsOf(body.system),
    signatures,
    toolResults,
    endsWithToolResult:
      last?.role === "user" && list(last.content).some((b) => b?.type === "tool_result"),
    thinking: thinking === "enabled" || thinking === "adaptive",
    cacheControl: JSON.stringify([body.system, body.messages, body.tools]).includes(
      '"cache_control"',
    ),
    images,
  };
}

function contentOf(plan: Plan): Json[] {
  const content: Json[] = [];
  if (plan.thinking)
    content.push({
      type: "thinking",
      thinking: plan.thinking.text,
      signature: plan.thinking.signature ?? "",
    });
  if (plan.text !== undefined) content.push({ type: "text", text: plan.text });
  if (plan.call)
    content.push({
      type: "tool_use",
      id: plan.call.id,
      name: plan.call.name,
      input: plan.call.args,
    });
  return content;
}

function writeAnswer(model: string, plan: Plan, request: RequestView) {
  const id = `msg_kit_${plan.usage.input}`;
  const stop = plan.call ? "tool_use" : "end_turn";
  const usage = {
    input_tokens: plan.usage.input,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: plan.usage.output,
  };
  const content = contentOf(plan);
  if (!request.stream) {
    const message = {
      id,
      type: "message",
      role: "assistant",
      model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage,
    };
    return { status: 200, contentType: "application/json", body: JSON.stringify(message) };
  }
  const events: string[] = [];
  const event = (data: Json) => events.push(sse(data, data.type));
  event({
    type: "message_start",
    message: {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  content.forEach((block, index) => {
    if (block.type === "thinking") {
      event({
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      });
      event({
        type: "content_block_delta",
        index,
        delta: { type: "thinking_delta", thinking: block.thinking },
      });
      event({
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature: block.signature },
      });
    } else if (block.type === "text") {
      event({ type: "content_block_start", index, content_block: { type: "text", text: "" } });
      event({
        type: "content_block_delta",
        index,
        delta: { type: "text_delta", text: block.text },
      });
    } else {
      event({ type: "content_block_start", index, content_block: { ...block, input: {} } });
      event({
        type: "content_block_delta",
        index,
        delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
      });
    }
    event({ type: "content_block_stop", index });
  });
  event({
    type: "message_delta",
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: plan.usage.output },
  });
  event({ type: "message_stop" });
  return { status: 200, contentType: "text/event-stream", body: events.join("") };
}

function fromContent(content: Json[], view: AnswerView): void {
  for (const block of content) {
    if (block.type === "text") view.text += block.text ?? "";
    if (block.type === "thinking" && block.signature) view.signatures.push(block.signature);
    if (block.type === "tool_use") view.toolCalls.push({ id: block.id, name: block.name });
  }
  view.turn = [{ role: "assistant", content }];
}

function readStream(text: string, view: AnswerView): void {
  const problem = (p: string) => view.problems.push(p);
  const content: Json[] = [];
  let open: number | undefined;
  let started = false;
  let ended = false;
  let stopped = false;
  let input: unknown;
  let output: unknown;
  for (const { event, data } of parseSse(text)) {
    const json = parseJson(data);
    if (!isObject(json)) {
      problem(`stream event is not JSON: ${data.slice(0, 80)}`);
      continue;
    }
    if (event !== undefined && event !== json.type)
      problem(`event name ${event} carries a ${json.type} event`);
    if (json.type === "ping") continue;
    if (json.type === "error") {
      problem(`error event: ${JSON.stringify(json.error).slice(0, 160)}`);
      continue;
    }
    if (ended) problem(`${json.type} after message_stop`);
    if (!started && json.type !== "message_start") problem(`${json.type} before message_start`);
    switch (json.type) {
      case "message_start":
        if (started) problem("a second message_start");
        started = true;
        input = json.message?.usage?.input_tokens;
        output = json.message?.usage?.output_tokens;
        break;
      case "content_block_start":
        if (open !== undefined) problem(`block ${json.index} started before block ${open} stopped`);
        if (json.index !== content.length)
          problem(`block index ${json.index} where ${content.length} was next`);
        open = json.index;
        content.push({ ...json.content_block });
        if (json.content_block?.type === "tool_use") content.at(-1)!.partial = "";
        break;
      case "content_block_delta": {
        const block = content[json.index];
        if (open !== json.index || !block) {
          problem(`delta for block ${json.index}, which is not open`);
          break;
        }
        const delta = json.delta ?? {};
        const fits =
          (delta.type === "text_delta" && block.type === "text") ||
          ((delta.type === "thinking_delta" || delta.type === "signature_delta") &&
            block.type === "thinking") ||
          (delta.type === "input_json_delta" && block.type === "tool_use") ||
          delta.type === "citations_delta";
        if (!fits) problem(`${delta.type} inside a ${block.type} block`);
        if (delta.type === "text_delta") block.text = (block.text ?? "") + delta.text;
        if (delta.type === "thinking_delta")
          block.thinking = (block.thinking ?? "") + delta.thinking;
        if (delta.type === "signature_delta")
          block.signature = (block.signature ?? "") + delta.signature;
        if (delta.type === "input_json_delta") block.partial += delta.partial_json;
        break;
      }
      case "content_block_stop": {
        if (open !== json.index) problem(`stop for block ${json.index}, which is not open`);
        open = undefined;
        const block = content[json.index];
        if (block?.type === "tool_use") {
          const parsed = block.partial === "" ? {} : parseJson(block.partial);
          if (!isObject(parsed)) problem(`tool_use ${block.name}'s input is not a JSON object`);
          block.input = isObject(parsed) ? parsed : {};
          delete block.partial;
        }
        break;
      }
      case "message_delta":
        if (open !== undefined) problem(`message_delta while block ${open} is open`);
        stopped = true;
        view.stop = json.delta?.stop_reason ?? undefined;
        if (json.usage?.output_tokens !== undefined) output = json.usage.output_tokens;
        if (json.usage?.input_tokens !== undefined) input = json.usage.input_tokens;
        break;
      case "message_stop":
        if (!stopped) problem("message_stop without a message_delta");
        ended = true;
        break;
      default:
        problem(`unknown event ${json.type}`);
    }
  }
  if (!ended) problem("the stream ended without message_stop");
  view.usage = { input, output };
  fromContent(content, view);
}

function readAnswer(status: number, contentType: string, text: string): AnswerView {
  return readAnswerWith(status, contentType, text, { stream: readStream, whole: readWhole });
}

function readWhole(text: string, view: AnswerView): void {
  const json = parseJson(text);
  if (!isObject(json) || json.type !== "message" || json.role !== "assistant")
    view.problems.push(`not an Anthropic message: ${text.slice(0, 160)}`);
  if (!isObject(json)) return;
  if (typeof json.id !== "string") view.problems.push("the message has no id");
  if (!Array.isArray(json.content)) view.problems.push("the message has no content list");
  view.stop = json.stop_reason ?? undefined;
  view.usage = { input: json.usage?.input_tokens, output: json.usage?.output_tokens };
  fromContent(list(json.content), view);
}

function continueBody(body: Json, answer: AnswerView, result: string): Json {
  return {
    ...body,
    messages: [
      ...list(body.messages),
      ...answer.turn,
      {
        role: "user",
        content: answer.toolCalls.map((call) => ({
          type: "tool_result",
          tool_use_id: call.id,
          content: result,
        })),
      },
    ],
  };
}

export const anthropic: DialectModule = {
  dialect: "anthropic",
  readRequest,
  writeAnswer,
  readAnswer,
  continueBody,
};
