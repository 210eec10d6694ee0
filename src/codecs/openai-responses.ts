import type { JsonObject } from "../http/body.ts";
import type { ChatRequest, ChatResponse, StopReason, StreamEvent, Turn, Usage } from "../ir.ts";
import { textOf } from "../ir.ts";
import { openaiContentParts } from "./openai-chat.ts";
import { badRequest, idWithPrefix, isObject, optionalNumber, randomId, sseEvent, type Codec } from "./shared.ts";

function responsesUsage(usage: Usage) {
  return {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: usage.cached ?? 0 },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: usage.reasoning ?? 0 },
    total_tokens: usage.input + usage.output,
  };
}

function outcome(stop: StopReason): { status: string; incomplete_details: { reason: string } | null } {
  if (stop === "length") return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  if (stop === "content_filter") return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  return { status: "completed", incomplete_details: null };
}

function messageItem(id: string, text: string, status: string) {
  return {
    id,
    type: "message",
    status,
    role: "assistant",
    content: text === "" && status === "in_progress" ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}

interface ResponseShell {
  id: string;
  model: string;
  created: number;
}

function responseObject(shell: ResponseShell, fields: { status: string; output: unknown[]; usage: Usage | null; incomplete_details?: unknown; error?: unknown }) {
  return {
    id: shell.id,
    object: "response",
    created_at: shell.created,
    status: fields.status,
    ...(fields.status === "completed" ? { completed_at: Math.floor(Date.now() / 1000) } : {}),
    error: fields.error ?? null,
    incomplete_details: fields.incomplete_details ?? null,
    instructions: null,
    max_output_tokens: null,
    model: shell.model,
    output: fields.output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: fields.usage && responsesUsage(fields.usage),
    user: null,
    metadata: {},
  };
}

function parseInput(input: unknown, system: string[], turns: Turn[]): void {
  if (typeof input === "string") {
    turns.push({ role: "user", parts: [{ type: "text", text: input }] });
    return;
  }
  if (!Array.isArray(input)) throw badRequest("input must be a string or a list of input items.", "input");
  input.forEach((item, i) => {
    if (!isObject(item)) throw badRequest(`input[${i}] must be an object.`, `input[${i}]`);
    if (item.type !== undefined && item.type !== "message") return;
    const parts = openaiContentParts(item.content, `input[${i}].content`);
    if (item.role === "system" || item.role === "developer") system.push(textOf(parts));
    else if (item.role === "assistant") turns.push({ role: "assistant", parts });
    else if (item.role === "user") turns.push({ role: "user", parts });
    else throw badRequest(`input[${i}].role must be user, assistant, system or developer.`, `input[${i}].role`);
  });
}

export const openaiResponses: Codec = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const system: string[] = [];
    const turns: Turn[] = [];
    if (body.instructions !== undefined && body.instructions !== null) {
      if (typeof body.instructions !== "string") throw badRequest("instructions must be a string.", "instructions");
      system.push(body.instructions);
    }
    if (body.input === undefined) throw badRequest("input is required.", "input");
    parseInput(body.input, system, turns);
    return {
      model,
      system,
      turns,
      stream,
      maxTokens: optionalNumber(body, "max_output_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
    };
  },

  renderResponse(response: ChatResponse) {
    const text = textOf(response.parts);
    const shell = { id: idWithPrefix(response.id, "resp_"), model: response.model, created: response.created };
    return responseObject(shell, { ...outcome(response.stop), output: [messageItem(randomId("msg_"), text, "completed")], usage: response.usage });
  },

  async *renderStream(events: AsyncIterable<StreamEvent>) {
    let sequence = 0;
    const emit = (type: string, data: object) => sseEvent(type, { type, sequence_number: sequence++, ...data });
    let shell: ResponseShell = { id: "", model: "", created: 0 };
    const itemId = randomId("msg_");
    let text = "";
    let itemOpen = false;
    const openItem = function* () {
      itemOpen = true;
      yield emit("response.output_item.added", { output_index: 0, item: messageItem(itemId, "", "in_progress") });
      yield emit("response.content_part.added", {
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] },
      });
    };
    const closeItem = function* () {
      const part = { type: "output_text", text, annotations: [], logprobs: [] };
      yield emit("response.output_text.done", { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] });
      yield emit("response.content_part.done", { item_id: itemId, output_index: 0, content_index: 0, part });
      yield emit("response.output_item.done", { output_index: 0, item: messageItem(itemId, text, "completed") });
    };
    for await (const event of events) {
      switch (event.type) {
        case "start": {
          shell = { id: idWithPrefix(event.id, "resp_"), model: event.model, created: event.created };
          const snapshot = responseObject(shell, { status: "in_progress", output: [], usage: null });
          yield emit("response.created", { response: snapshot });
          yield emit("response.in_progress", { response: snapshot });
          break;
        }
        case "text":
          if (!itemOpen) yield* openItem();
          text += event.text;
          yield emit("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta: event.text, logprobs: [] });
          break;
        case "finish": {
          if (itemOpen) yield* closeItem();
          const result = outcome(event.stop);
          const output = itemOpen ? [messageItem(itemId, text, "completed")] : [];
          const terminal = result.status === "completed" ? "response.completed" : "response.incomplete";
          yield emit(terminal, { response: responseObject(shell, { ...result, output, usage: event.usage }) });
          return;
        }
        case "error": {
          const code = event.status === 429 ? "rate_limit_exceeded" : "server_error";
          yield emit("error", { code, message: event.message, param: null });
          yield emit("response.failed", {
            response: responseObject(shell, { status: "failed", output: [], usage: null, error: { code, message: event.message } }),
          });
          return;
        }
      }
    }
  },
};
