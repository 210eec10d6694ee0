import type OpenAI from "openai";

/*
 * One tool loop of a Chat client with reasoning on, for the tests of what levity keeps between
 * its two requests: the request that gets a tool call, and the one that returns the tool's
 * result with the assistant's turn as a Chat client sends it back (without Anthropic's signed
 * thinking, which Chat has no field for).
 */

const TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    },
  },
];
const ASK: OpenAI.Chat.ChatCompletionMessageParam = {
  role: "user",
  content: 'Call get_weather for "Oslo".',
};

/** The first request: the model is asked to call the tool. */
export function toolCallRequest(model: string) {
  return { model, reasoning_effort: "high" as const, tools: TOOLS, messages: [ASK] };
}

/** The second request: the call the client was given, and the tool's result. */
export function toolResultRequest(model: string, call: OpenAI.Chat.ChatCompletionMessageToolCall) {
  return {
    ...toolCallRequest(model),
    messages: [
      ASK,
      { role: "assistant" as const, content: null, tool_calls: [call] },
      { role: "tool" as const, tool_call_id: call.id, content: "cold" },
    ],
  };
}
