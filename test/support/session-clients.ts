import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI, type Content, type Part } from "@google/genai";
import OpenAI from "openai";
import { TOOL_NUDGE } from "./session-upstreams.ts";

/*
 * The four client dialects of the long-session test, each through its official SDK's stream
 * helper, each keeping the whole history as the coding CLIs do: Claude Code (Anthropic, with
 * cache_control on the tools, the system prompt and the last turn), Kilo-like chat clients,
 * Codex (Responses with store: false and encrypted reasoning sent back) and Gemini CLI.
 */

export type ClientDialect = "anthropic" | "chat" | "responses" | "gemini";
export const CLIENT_DIALECTS: ClientDialect[] = ["anthropic", "chat", "responses", "gemini"];

/** What one turn gave the client, read the way its SDK presents it. */
export interface Observed {
  text: string;
  thinking: string;
  toolCalls: { name: string; args: unknown }[];
  /** The usage object as the SDK returned it. */
  usage: Record<string, any>;
}

export interface ClientSession {
  /** Sends the next request (the whole history) and keeps the answer in the history. */
  turn(): Promise<Observed>;
}

export interface SessionTarget {
  origin: string;
  apiKey: string;
  model: string;
  /** The turns whose user text asks for a tool call. */
  nudge?: (turn: number) => boolean;
}

const TOOL_DESCRIPTIONS = [
  ["read_file", "Reads a file of the workspace and returns its lines."],
  ["write_file", "Writes a whole file of the workspace, replacing what it held."],
  ["run_shell", "Runs a shell command in the workspace and returns its output."],
  ["search", "Searches the workspace for a regular expression."],
] as const;
const SCHEMA = {
  type: "object",
  properties: {
    path: { type: "string", description: "A path relative to the workspace root." },
    lines: { type: "integer", description: "How many lines to read or write." },
  },
  required: ["path"],
};

/** A large stable prefix, as the coding CLIs send: a long system prompt (about 3,000 tokens). */
export const SYSTEM = Array.from(
  { length: 120 },
  (_, i) => `Rule ${i + 1}: keep every change small, tested and explained in its commit message.`,
).join("\n");

const toolResult = (name: string, args: unknown) =>
  `${name} ${JSON.stringify(args)} -> 12 lines: export function parse() { return tokens; }`;
const userText = (target: SessionTarget, turn: number) =>
  `Turn ${turn}: go on with the next step of the refactor.${target.nudge?.(turn) ? ` ${TOOL_NUDGE}` : ""}`;

export function startClientSession(dialect: ClientDialect, target: SessionTarget): ClientSession {
  if (dialect === "anthropic") return anthropicSession(target);
  if (dialect === "chat") return chatSession(target);
  if (dialect === "responses") return responsesSession(target);
  return geminiSession(target);
}

function anthropicSession(target: SessionTarget): ClientSession {
  const client = new Anthropic({ apiKey: target.apiKey, baseURL: target.origin, maxRetries: 0 });
  const tools: Anthropic.Tool[] = TOOL_DESCRIPTIONS.map(([name, description], i) => ({
    name,
    description,
    input_schema: SCHEMA as Anthropic.Tool.InputSchema,
    ...(i === TOOL_DESCRIPTIONS.length - 1
      ? { cache_control: { type: "ephemeral" as const } }
      : {}),
  }));
  const history: Anthropic.MessageParam[] = [];
  let pending: Anthropic.ContentBlockParam[] = [{ type: "text", text: userText(target, 1) }];
  let turn = 1;
  return {
    async turn() {
      // Claude Code moves its last breakpoint to the newest user turn.
      for (const message of history)
        if (Array.isArray(message.content))
          for (const block of message.content) delete (block as any).cache_control;
      const last = pending.at(-1)!;
      (last as any).cache_control = { type: "ephemeral" };
      history.push({ role: "user", content: pending });
      const message = await client.messages
        .stream({
          model: target.model,
          max_tokens: 8192,
          system: [{ type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } }],
          tools,
          thinking: { type: "enabled", budget_tokens: 2048 },
          messages: history,
        })
        .finalMessage();
      history.push({
        role: "assistant",
        content: message.content as Anthropic.ContentBlockParam[],
      });
      const calls = message.content.filter((b) => b.type === "tool_use");
      turn++;
      pending =
        calls.length > 0
          ? calls.map((call) => ({
              type: "tool_result" as const,
              tool_use_id: call.id,
              content: toolResult(call.name, call.input),
            }))
          : [{ type: "text", text: userText(target, turn) }];
      return {
        text: message.content.map((b) => (b.type === "text" ? b.text : "")).join(""),
        thinking: message.content.map((b) => (b.type === "thinking" ? b.thinking : "")).join(""),
        toolCalls: calls.map((call) => ({ name: call.name, args: call.input })),
        usage: message.usage,
      };
    },
  };
}

function chatSession(target: SessionTarget): ClientSession {
  const client = new OpenAI({
    apiKey: target.apiKey,
    baseURL: `${target.origin}/v1`,
    maxRetries: 0,
  });
  const tools: OpenAI.ChatCompletionTool[] = TOOL_DESCRIPTIONS.map(([name, description]) => ({
    type: "function",
    function: { name, description, parameters: SCHEMA },
  }));
  const history: OpenAI.ChatCompletionMessageParam[] = [
    { role: "system", content: SYSTEM },
    { role: "user", content: userText(target, 1) },
  ];
  let turn = 1;
  return {
    async turn() {
      const stream = client.chat.completions.stream({
        model: target.model,
        messages: history,
        tools,
        reasoning_effort: "medium",
        stream_options: { include_usage: true },
      });
      // The helper keeps the last piece of a delta field it does not know, so the reasoning is
      // gathered from the chunks, as chat clients that show it do.
      let thinking = "";
      stream.on("chunk", (chunk) => {
        thinking += String((chunk.choices[0]?.delta as any)?.reasoning_content ?? "");
      });
      const completion = await stream.finalChatCompletion();
      const message = completion.choices[0]!.message;
      const calls = (message.tool_calls ?? []).filter((c) => c.type === "function");
      history.push({
        role: "assistant",
        content: message.content ?? null,
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      });
      turn++;
      if (calls.length > 0)
        for (const call of calls)
          history.push({
            role: "tool",
            tool_call_id: call.id,
            content: toolResult(call.function.name, JSON.parse(call.function.arguments)),
          });
      else history.push({ role: "user", content: userText(target, turn) });
      return {
        text: message.content ?? "",
        thinking,
        toolCalls: calls.map((c) => ({
          name: c.function.name,
          args: JSON.parse(c.function.arguments),
        })),
        usage: completion.usage ?? {},
      };
    },
  };
}

function responsesSession(target: SessionTarget): ClientSession {
  const client = new OpenAI({
    apiKey: target.apiKey,
    baseURL: `${target.origin}/v1`,
    maxRetries: 0,
  });
  const tools: OpenAI.Responses.FunctionTool[] = TOOL_DESCRIPTIONS.map(([name, description]) => ({
    type: "function",
    name,
    description,
    parameters: SCHEMA,
    strict: false,
  }));
  const history: OpenAI.Responses.ResponseInputItem[] = [
    { role: "user", content: userText(target, 1), type: "message" },
  ];
  let turn = 1;
  return {
    async turn() {
      const response = await client.responses
        .stream({
          model: target.model,
          instructions: SYSTEM,
          input: history,
          tools,
          reasoning: { effort: "medium", summary: "auto" },
          include: ["reasoning.encrypted_content"],
          store: false,
        })
        .finalResponse();
      // Codex sends every output item back as it came, the encrypted reasoning included.
      history.push(...(response.output as OpenAI.Responses.ResponseInputItem[]));
      const calls = response.output.filter((item) => item.type === "function_call");
      turn++;
      if (calls.length > 0)
        for (const call of calls)
          history.push({
            type: "function_call_output",
            call_id: call.call_id,
            output: toolResult(call.name, JSON.parse(call.arguments)),
          });
      else history.push({ role: "user", content: userText(target, turn), type: "message" });
      return {
        text: response.output_text,
        thinking: response.output
          .map((item) =>
            item.type === "reasoning" ? item.summary.map((s) => s.text).join("") : "",
          )
          .join(""),
        toolCalls: calls.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) })),
        usage: response.usage ?? {},
      };
    },
  };
}

function geminiSession(target: SessionTarget): ClientSession {
  const ai = new GoogleGenAI({ apiKey: target.apiKey, httpOptions: { baseUrl: target.origin } });
  const history: Content[] = [{ role: "user", parts: [{ text: userText(target, 1) }] }];
  let turn = 1;
  return {
    async turn() {
      const stream = await ai.models.generateContentStream({
        model: target.model,
        contents: history,
        config: {
          systemInstruction: SYSTEM,
          tools: [
            {
              functionDeclarations: TOOL_DESCRIPTIONS.map(([name, description]) => ({
                name,
                description,
                parametersJsonSchema: SCHEMA,
              })),
            },
          ],
          thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 },
        },
      });
      const parts: Part[] = [];
      let usage: Record<string, any> = {};
      for await (const chunk of stream) {
        parts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
        if (chunk.usageMetadata) usage = chunk.usageMetadata;
      }
      history.push({ role: "model", parts });
      const calls = parts.filter((p) => p.functionCall).map((p) => p.functionCall!);
      turn++;
      history.push({
        role: "user",
        parts:
          calls.length > 0
            ? calls.map((call) => ({
                functionResponse: {
                  ...(call.id ? { id: call.id } : {}),
                  name: call.name,
                  response: { output: toolResult(call.name!, call.args) },
                },
              }))
            : [{ text: userText(target, turn) }],
      });
      return {
        text: parts.map((p) => (p.text && !p.thought ? p.text : "")).join(""),
        thinking: parts.map((p) => (p.text && p.thought ? p.text : "")).join(""),
        toolCalls: calls.map((call) => ({ name: call.name!, args: call.args })),
        usage,
      };
    },
  };
}
