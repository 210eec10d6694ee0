import type {
  ChatRequest,
  ChatResponse,
  Part,
  ServerTool,
  Tool,
  ToolChoice,
  Turn,
} from "../../ir.ts";
import { isResultContent, textOf } from "../../ir.ts";
import { parseEffort } from "../openai-chat/parse-chat-options.ts";
import {
  CUSTOM_TOOL_PARAMETERS,
  customArguments,
  openaiContentParts,
} from "../openai-chat/wire.ts";
import { decodeReasoning } from "../opaque.ts";
import { expandCompaction } from "./compaction.ts";
import { badRequest, optionalNumber, optionalString } from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";
import type { ClientCodec, ClientContext } from "../codec.ts";
import { itemsFromParts, ResponsesStreamRenderer, responseObject } from "./render.ts";
import type { Write } from "../stream-render.ts";

/** The Responses API's web search tool (web_search, web_search_preview and their dated types). */
function webSearchTool(tool: JsonObject): ServerTool | undefined {
  const type = String(tool.type);
  if (!type.startsWith("web_search")) return undefined;
  const filters = isObject(tool.filters) ? tool.filters : {};
  const allowed = Array.isArray(filters.allowed_domains)
    ? filters.allowed_domains.filter((d): d is string => typeof d === "string")
    : undefined;
  return {
    kind: "web_search",
    name: "web_search",
    type,
    allowedDomains: allowed,
    userLocation: isObject(tool.user_location) ? tool.user_location : undefined,
  };
}

function parseServerTools(value: unknown): ServerTool[] | undefined {
  const found = (Array.isArray(value) ? value : [])
    .map((tool) => (isObject(tool) ? webSearchTool(tool) : undefined))
    .filter((tool): tool is ServerTool => tool !== undefined);
  return found.length > 0 ? found : undefined;
}

/** The types of the hosted tools a request offers that are neither functions nor web search. */
function unsupportedTools(value: unknown): string[] | undefined {
  const carried = new Set(["function", "custom", "namespace"]);
  const types = (Array.isArray(value) ? value : [])
    .map((tool) => (isObject(tool) && typeof tool.type === "string" ? tool.type : undefined))
    .filter(
      (type): type is string =>
        type !== undefined && !carried.has(type) && !type.startsWith("web_search"),
    );
  return types.length > 0 ? [...new Set(types)] : undefined;
}

function parseTools(value: unknown, namespace?: string): Tool[] {
  const tools: Tool[] = [];
  for (const [i, tool] of (Array.isArray(value) ? value : []).entries()) {
    if (!isObject(tool)) throw badRequest(`tools[${i}] must be an object.`, `tools[${i}]`);
    const description = typeof tool.description === "string" ? tool.description : undefined;
    if (tool.type === "function" && typeof tool.name === "string") {
      tools.push({
        name: tool.name,
        description,
        parameters: isObject(tool.parameters)
          ? tool.parameters
          : { type: "object", properties: {} },
        kind: "function",
        namespace,
      });
    } else if (tool.type === "custom" && typeof tool.name === "string") {
      tools.push({
        name: tool.name,
        description,
        parameters: CUSTOM_TOOL_PARAMETERS,
        kind: "custom",
        namespace,
      });
    } else if (tool.type === "namespace" && typeof tool.name === "string") {
      // A namespace groups tools (Codex's sub-agent tools); upstreams see its tools one by one.
      tools.push(...parseTools(tool.tools, tool.name));
    }
    // web_search is a server tool (parseServerTools); the other hosted tools (file_search,
    // code_interpreter, …) run at OpenAI and are not translated (unsupportedTools names them).
  }
  return tools;
}

function parseToolChoice(value: unknown): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === "none" || value === "auto" || value === "required") return { type: value };
  if (
    isObject(value) &&
    (value.type === "function" || value.type === "custom") &&
    typeof value.name === "string"
  )
    return { type: "tool", name: value.name };
  if (isObject(value) && String(value.type).startsWith("web_search"))
    return { type: "tool", name: "web_search" };
  if (isObject(value) && value.type === "allowed_tools")
    return { type: value.mode === "required" ? "required" : "auto" };
  throw badRequest(
    'tool_choice must be "none", "auto", "required" or {type: "function", name}.',
    "tool_choice",
  );
}

function parseFormat(text: unknown): ChatRequest["responseFormat"] {
  const format = isObject(text) ? text.format : undefined;
  if (!isObject(format)) return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type === "json_schema" && isObject(format.schema)) {
    return {
      type: "json_schema",
      name: typeof format.name === "string" ? format.name : undefined,
      schema: format.schema,
      strict: format.strict === true,
    };
  }
  return undefined;
}

function outputText(output: unknown, where: string): Part[] {
  if (typeof output === "string") return [{ type: "text", text: output }];
  return openaiContentParts(output, where);
}

/** Input items as turns: function calls join the assistant turn before them, outputs form user turns. */
export function parseInput(input: unknown, system: string[]): Turn[] {
  const turns: Turn[] = [];
  const add = (role: Turn["role"], parts: Part[], join: boolean) => {
    const last = turns.at(-1);
    if (join && last && last.role === role) last.parts.push(...parts);
    else turns.push({ role, parts });
  };
  if (typeof input === "string") return [{ role: "user", parts: [{ type: "text", text: input }] }];
  if (!Array.isArray(input))
    throw badRequest("input must be a string or a list of input items.", "input");
  input.forEach((item, i) => {
    const at = `input[${i}]`;
    if (!isObject(item)) throw badRequest(`${at} must be an object.`, at);
    switch (item.type ?? "message") {
      case "message": {
        const parts = openaiContentParts(item.content, `${at}.content`);
        if (item.role === "system" || item.role === "developer") system.push(textOf(parts));
        else if (item.role === "assistant") add("assistant", parts, true);
        else if (item.role === "user") add("user", parts, false);
        else
          throw badRequest(
            `${at}.role must be user, assistant, system or developer.`,
            `${at}.role`,
          );
        break;
      }
      case "function_call":
        if (typeof item.call_id !== "string" || typeof item.name !== "string")
          throw badRequest(`${at} needs call_id and name.`, at);
        add(
          "assistant",
          [
            {
              type: "tool_call",
              id: item.call_id,
              name: item.name,
              arguments: typeof item.arguments === "string" ? item.arguments : "{}",
            },
          ],
          true,
        );
        break;
      case "custom_tool_call":
        if (typeof item.call_id !== "string" || typeof item.name !== "string")
          throw badRequest(`${at} needs call_id and name.`, at);
        add(
          "assistant",
          [
            {
              type: "tool_call",
              id: item.call_id,
              name: item.name,
              arguments: customArguments(String(item.input ?? "")),
            },
          ],
          true,
        );
        break;
      case "function_call_output":
      case "custom_tool_call_output": {
        if (typeof item.call_id !== "string")
          throw badRequest(`${at}.call_id is required.`, `${at}.call_id`);
        const content = outputText(item.output, `${at}.output`).filter(isResultContent);
        const last = turns.at(-1);
        const part: Part = { type: "tool_result", callId: item.call_id, content, isError: false };
        if (last?.role === "user" && last.parts.every((p) => p.type === "tool_result"))
          last.parts.push(part);
        else turns.push({ role: "user", parts: [part] });
        break;
      }
      case "reasoning": {
        const summary = Array.isArray(item.summary)
          ? item.summary
              .map((s) => (isObject(s) && typeof s.text === "string" ? s.text : ""))
              .join("\n\n")
          : "";
        const carried =
          typeof item.encrypted_content === "string" && item.encrypted_content !== ""
            ? decodeReasoning(item.encrypted_content, "openai")
            : undefined;
        // The text levity carried is the thinking exactly; a summary is at best the same words.
        add(
          "assistant",
          [{ type: "thinking", text: carried?.text || summary, signature: carried?.signature }],
          true,
        );
        break;
      }
      case "web_search_call":
        add("assistant", webSearchParts(item), true);
        break;
      case "compaction":
      case "compaction_summary":
        // A compaction levity made (see compaction.ts) comes back as its summary; OpenAI's own cannot be read here.
        expandCompaction(item, (parts) => add("user", parts, false));
        break;
      default:
      // item_reference and hosted-tool calls have no counterpart upstream.
    }
  });
  return turns;
}

/** A web_search_call sent back: the search and the sources it lists, as the call and its result. */
function webSearchParts(item: JsonObject): Part[] {
  const action = isObject(item.action) ? item.action : {};
  const id = typeof item.id === "string" ? item.id : "ws_unknown";
  const query =
    typeof action.query === "string"
      ? action.query
      : Array.isArray(action.queries)
        ? action.queries.filter((q) => typeof q === "string").join(" ")
        : "";
  const sources = Array.isArray(action.sources) ? action.sources : [];
  return [
    {
      type: "server_tool_call",
      id,
      name: "web_search",
      kind: "web_search",
      input: JSON.stringify(action.type === "open_page" ? { url: action.url } : { query }),
    },
    {
      type: "server_tool_result",
      callId: id,
      kind: "web_search",
      results: sources
        .filter((s): s is JsonObject => isObject(s) && typeof s.url === "string")
        .map((s) => ({ url: String(s.url) })),
    },
  ];
}

// The input items that hold a whole conversation's calls and outputs; any other kind (a compaction,
// an item_reference, a hosted tool's call) may stand for calls this check cannot see.
const CONVERSATION_ITEMS: ReadonlySet<string> = new Set([
  "message",
  "function_call",
  "custom_tool_call",
  "function_call_output",
  "custom_tool_call_output",
  "reasoning",
]);

/**
 * Every tool output must answer a call made before it, as OpenAI requires: an output for a call
 * that never happened is a client bug that no upstream answers sensibly (echo would even reply).
 * Only for an input that is plainly the whole conversation: after previous_response_id the call
 * may be in the stored history.
 */
function checkToolOutputs(input: unknown, turns: Turn[]): void {
  if (
    !Array.isArray(input) ||
    !input.every((item) => isObject(item) && CONVERSATION_ITEMS.has(String(item.type ?? "message")))
  )
    return;
  const calls = new Set<string>();
  for (const part of turns.flatMap((turn) => turn.parts)) {
    if (part.type === "tool_call") calls.add(part.id);
    else if (part.type === "tool_result" && !calls.has(part.callId))
      throw badRequest(
        `No tool call found for function call output with call_id ${part.callId}.`,
        "input",
      );
  }
}

export const openaiResponsesClient: Readonly<ClientCodec> = {
  parseRequest(body: JsonObject, model: string, stream: boolean): ChatRequest {
    const system: string[] = [];
    if (body.instructions !== undefined && body.instructions !== null) {
      if (typeof body.instructions !== "string")
        throw badRequest("instructions must be a string.", "instructions");
      system.push(body.instructions);
    }
    if (body.input === undefined && typeof body.previous_response_id !== "string")
      throw badRequest("input is required.", "input");
    const turns = body.input === undefined ? [] : parseInput(body.input, system);
    if (typeof body.previous_response_id !== "string") checkToolOutputs(body.input, turns);
    const reasoning = isObject(body.reasoning) ? body.reasoning : undefined;
    const effort = parseEffort(reasoning?.effort, "reasoning.effort");
    const summary = typeof reasoning?.summary === "string" && reasoning.summary !== "none";
    return {
      model,
      system,
      turns,
      tools: parseTools(body.tools),
      serverTools: parseServerTools(body.tools),
      unsupportedTools: unsupportedTools(body.tools),
      toolChoice: parseToolChoice(body.tool_choice),
      parallelToolCalls:
        typeof body.parallel_tool_calls === "boolean" ? body.parallel_tool_calls : undefined,
      stream,
      maxTokens: optionalNumber(body, "max_output_tokens"),
      temperature: optionalNumber(body, "temperature"),
      topP: optionalNumber(body, "top_p"),
      responseFormat: parseFormat(body.text),
      reasoning: effort || summary ? { effort: effort ?? "medium", include: summary } : undefined,
      user: [body.user, body.safety_identifier, body.prompt_cache_key].find(
        (v): v is string => typeof v === "string",
      ),
      cacheKey: optionalString(body, "prompt_cache_key"),
    };
  },

  renderCount: (tokens: number) => ({ object: "response.input_tokens", input_tokens: tokens }),
  renderResponse(response: ChatResponse, ctx: ClientContext) {
    return responseObject(
      ctx,
      { model: response.model, created: response.created },
      { stop: response.stop, output: itemsFromParts(response.parts, ctx), usage: response.usage },
    );
  },

  streamRenderer(ctx: ClientContext, write: Write) {
    return new ResponsesStreamRenderer(ctx, write);
  },
};
