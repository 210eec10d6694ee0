import { withCache } from "../cache-marks.ts";
import type { ChatRequest, Effort, Tool, ToolChoice } from "../../ir.ts";
import { badRequest, nothing } from "../shared.ts";
import { isObject } from "../json.ts";
import { CUSTOM_TOOL_PARAMETERS } from "./wire.ts";

/*
 * What a Chat Completions request asks for besides its messages: tools, tool choice, response
 * format, effort. The Responses client reads effort the same way.
 */

const EFFORTS: readonly string[] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

const NONE: readonly unknown[] = Object.freeze([]);

export function parseChatTools(value: unknown, legacyFunctions?: unknown): Tool[] {
  // Indexed loops under a test, not for-of over an empty list and its entries: two lists and two
  // iterators a request without tools.
  const given: readonly unknown[] = Array.isArray(value) ? value : NONE;
  const legacy: readonly unknown[] = Array.isArray(legacyFunctions) ? legacyFunctions : NONE;
  // Most requests have none, and get the one shared empty list, not one of their own.
  if (given.length === 0 && legacy.length === 0) return nothing();
  const tools: Tool[] = [];
  for (let i = 0; i < given.length; i++) {
    const tool = given[i];
    if (!isObject(tool)) throw badRequest(`tools[${i}] must be an object.`, `tools[${i}]`);
    if (
      tool.type === "function" &&
      isObject(tool.function) &&
      typeof tool.function.name === "string"
    ) {
      const fn = tool.function;
      tools.push({
        name: String(fn.name),
        description: typeof fn.description === "string" ? fn.description : undefined,
        parameters: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
        kind: "function",
        // OpenRouter and LiteLLM take Anthropic's cache_control on a tool.
        ...withCache(tool.cache_control),
      });
    } else if (
      tool.type === "custom" &&
      isObject(tool.custom) &&
      typeof tool.custom.name === "string"
    ) {
      tools.push({
        name: tool.custom.name,
        description:
          typeof tool.custom.description === "string" ? tool.custom.description : undefined,
        parameters: CUSTOM_TOOL_PARAMETERS,
        kind: "custom",
      });
    } else {
      throw badRequest(`tools[${i}] must be a function or custom tool with a name.`, `tools[${i}]`);
    }
  }
  for (let i = 0; i < legacy.length; i++) {
    const fn = legacy[i];
    if (isObject(fn) && typeof fn.name === "string")
      tools.push({
        name: fn.name,
        description: typeof fn.description === "string" ? fn.description : undefined,
        parameters: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
        kind: "function",
      });
  }
  return tools;
}

export function parseChatToolChoice(value: unknown): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === "none" || value === "auto" || value === "required") return { type: value };
  if (isObject(value)) {
    const named = isObject(value.function)
      ? value.function.name
      : isObject(value.custom)
        ? value.custom.name
        : value.name;
    if ((value.type === "function" || value.type === "custom") && typeof named === "string")
      return { type: "tool", name: named };
    if (value.type === "allowed_tools")
      return {
        type:
          isObject(value.allowed_tools) && value.allowed_tools.mode === "required"
            ? "required"
            : "auto",
      };
  }
  throw badRequest(
    'tool_choice must be "none", "auto", "required" or {type: "function", function: {name}}.',
    "tool_choice",
  );
}

export function parseResponseFormat(value: unknown): ChatRequest["responseFormat"] {
  if (!isObject(value)) return undefined;
  if (value.type === "json_object") return { type: "json_object" };
  if (
    value.type === "json_schema" &&
    isObject(value.json_schema) &&
    isObject(value.json_schema.schema)
  ) {
    const spec = value.json_schema;
    return {
      type: "json_schema",
      name: typeof spec.name === "string" ? spec.name : undefined,
      schema: spec.schema as Record<string, unknown>,
      strict: spec.strict === true,
    };
  }
  return undefined;
}

export function parseEffort(value: unknown, param: string): Effort | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !EFFORTS.includes(value))
    throw badRequest(`${param} must be one of ${EFFORTS.join(", ")}.`, param);
  return value as Effort;
}
