import { createHash } from "node:crypto";
import { newCallId, randomId, unixNow } from "../codecs/shared.ts";
import { isObject } from "../codecs/json.ts";
import type {
  ChatRequest,
  ChatResponse,
  Opaque,
  Part,
  StreamEvent,
  Tool,
  ToolCallPart,
  ToolResultPart,
  Usage,
} from "../ir.ts";
import { textOf } from "../ir.ts";
import { TokenCounter, type TokenEstimates } from "../tokens/estimate.ts";
import { classifyStatus, UpstreamFailed } from "../failure.ts";

/*
 * The built-in upstream: no network, no key. It answers with the last user text, in any dialect,
 * so a new user sees every client work before adding an account. It also plays a model's part in
 * a tool loop (it calls a declared tool the user names, then answers with the tool's result) and
 * in thinking, so every client's tool and thinking paths can be tried with no account.
 */

const EMPTY_REPLY = "(echo: the last user turn had no text)";
const EMPTY_RESULT_REPLY = "(echo: the tool result was empty)";

interface EchoPlan {
  thinking?: { text: string; signature: Opaque };
  text?: string;
  calls: ToolCallPart[];
}

/** Media in the last user turn, named so a user can see it arrived: `[image/png, 87 bytes]`. */
function describeMedia(parts: Part[]): string {
  return parts
    .filter((p) => p.type === "media")
    .map((p) => {
      const source = (p as Extract<Part, { type: "media" }>).source;
      return source.kind === "base64"
        ? ` [${source.mediaType}, ${Math.floor((source.data.length * 3) / 4)} bytes]`
        : ` [${source.url}]`;
    })
    .join("");
}

function lastUserTurn(request: ChatRequest) {
  return [...request.turns].reverse().find((turn) => turn.role === "user");
}

/** What a tool result says, for echo's answer after a tool loop. */
function resultText(result: ToolResultPart): string {
  return result.content.map((c) => (c.type === "text" ? c.text : "[media]")).join("");
}

function callNames(request: ChatRequest): Map<string, string> {
  const names = new Map<string, string>();
  for (const turn of request.turns)
    for (const part of turn.parts) if (part.type === "tool_call") names.set(part.id, part.name);
  return names;
}

/** The tools the text asks for: those it names (in the order named), or the first when it says "use the tool". */
function requestedTools(request: ChatRequest, text: string): Tool[] {
  const choice = request.toolChoice;
  if (request.tools.length === 0 || choice?.type === "none") return [];
  if (choice?.type === "tool")
    return request.tools.filter((t) => t.name === choice.name).slice(0, 1);
  const named = request.tools
    .map((tool) => ({
      tool,
      at: text.search(
        new RegExp(
          `(^|[^A-Za-z0-9_])${tool.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([^A-Za-z0-9_]|$)`,
        ),
      ),
    }))
    .filter((entry) => entry.at >= 0)
    .sort((a, b) => a.at - b.at)
    .map((entry) => entry.tool);
  if (named.length > 0) return request.parallelToolCalls === false ? named.slice(0, 1) : named;
  if (/\buse (the|a|your) tools?\b/i.test(text) || choice?.type === "required")
    return request.tools.slice(0, 1);
  return [];
}

/** A value that satisfies a JSON Schema, drawing strings from the first quoted phrase in the user's text. */
export function sampleValue(schema: unknown, quoted: string | undefined, depth = 0): unknown {
  if (!isObject(schema) || depth > 8) return quoted ?? "echo";
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ("const" in schema) return schema.const;
  const union = Array.isArray(schema.anyOf)
    ? schema.anyOf
    : Array.isArray(schema.oneOf)
      ? schema.oneOf
      : undefined;
  if (union?.length)
    return sampleValue(
      union.find((s) => !(isObject(s) && s.type === "null")) ?? union[0],
      quoted,
      depth + 1,
    );
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (
    typeof type === "string"
      ? type.toLowerCase()
      : isObject(schema.properties)
        ? "object"
        : "string"
  ) {
    case "integer":
    case "number":
      return typeof schema.minimum === "number"
        ? schema.minimum
        : typeof schema.exclusiveMinimum === "number"
          ? schema.exclusiveMinimum + 1
          : 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "array": {
      const count = typeof schema.minItems === "number" ? schema.minItems : 0;
      return Array.from({ length: count }, () => sampleValue(schema.items, quoted, depth + 1));
    }
    case "object": {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required)
        ? schema.required.filter((r): r is string => typeof r === "string")
        : [];
      return Object.fromEntries(
        required.map((name) => [name, sampleValue(properties[name], quoted, depth + 1)]),
      );
    }
    default:
      return quoted ?? "echo";
  }
}

/**
 * The first quoted phrase after the tool's name (or anywhere, if it is not named), with escaped
 * quotes undone: some clients send the prompt itself quoted and escaped.
 */
function quotedAfter(text: string, name: string): string | undefined {
  const from = text.indexOf(name);
  const rest = (from >= 0 ? text.slice(from + name.length) : text).replace(/\\"/g, '"');
  return /"([^"]+)"/.exec(rest)?.[1];
}

/** A JSON object written in the text that has every required argument, else one built from the schema. */
function argumentsFor(tool: Tool, text: string): string {
  const required = Array.isArray(tool.parameters.required)
    ? (tool.parameters.required as string[])
    : [];
  for (const match of text.matchAll(/\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}/g)) {
    try {
      const candidate = JSON.parse(match[0]);
      if (isObject(candidate) && required.every((name) => name in candidate))
        return JSON.stringify(candidate);
    } catch {
      // not JSON: keep looking
    }
  }
  return JSON.stringify(sampleValue(tool.parameters, quotedAfter(text, tool.name)));
}

function plan(request: ChatRequest, issuer: string): EchoPlan {
  const last = lastUserTurn(request);
  const text = last ? textOf(last.parts) : "";
  const results = last?.parts.filter((p): p is ToolResultPart => p.type === "tool_result") ?? [];
  const out: EchoPlan = { calls: [] };
  if (request.reasoning && request.reasoning.effort !== "none") {
    const thought = `The user wrote: ${(text || results.map(resultText).join(" ")).slice(0, 200)}`;
    out.thinking = {
      text: thought,
      signature: {
        issuer,
        value: `echo-signature-${createHash("sha256").update(thought).digest("base64url").slice(0, 16)}`,
      },
    };
  }
  if (results.length > 0) {
    const names = callNames(request);
    const said =
      results.length === 1
        ? resultText(results[0]!)
        : results
            .map((r) => `${r.name ?? names.get(r.callId) ?? "tool"}: ${resultText(r)}`)
            .join("\n");
    // An empty answer is what a broken upstream gives; echo always says something.
    out.text = said.trim() === "" ? EMPTY_RESULT_REPLY : said;
    return out;
  }
  const tools = requestedTools(request, text);
  if (tools.length > 0) {
    out.calls = tools.map((tool) => ({
      type: "tool_call",
      id: newCallId(),
      name: tool.name,
      arguments: argumentsFor(tool, text),
    }));
    return out;
  }
  out.text = (text + describeMedia(last?.parts ?? [])).trim() || EMPTY_REPLY;
  return out;
}

/**
 * A model `echo-error-<status>` fails with that status, so a client's handling of it can be
 * tried. It is a rehearsal, not a fault: the pool answers the client with it as it stands (see
 * pipeline/serve.ts) and never cools or disables echo for it, so the next request is served as usual.
 */
export function failIfAsked(request: Pick<ChatRequest, "model">): void {
  const status = /^echo-error-(\d{3})$/.exec(request.model)?.[1];
  if (!status) return;
  const code = Number(status);
  if (code < 400 || code > 599) {
    // Anything else is not an error to rehearse, and a status outside 200-599 cannot even be sent.
    const message = `echo simulates errors from 400 to 599; model ${request.model} names ${status}.`;
    throw new UpstreamFailed({ kind: "final", status: 400, message });
  }
  // A 429 or 503 without a Retry-After would leave the client's backoff untried.
  const message = `echo was asked to fail with HTTP ${status} (model ${request.model}).`;
  throw new UpstreamFailed({
    kind: classifyStatus(code, message),
    status: code,
    message,
    hintMs: code === 429 || code === 503 ? 1000 : undefined,
  });
}

function usageOf(request: ChatRequest, answer: EchoPlan, tokens: TokenEstimates): Usage {
  const reasoning = answer.thinking ? tokens.estimate(answer.thinking.text) : 0;
  const output =
    tokens.estimate(answer.text ?? "") +
    answer.calls.reduce((sum, c) => sum + tokens.estimate(c.arguments), 0) +
    reasoning;
  return { input: tokens.estimateRequest(request), output, reasoning };
}

// Without the runtime's counter (a test of the answer's parts), a counter that never loads: rough usage.
export function echoResponse(
  request: ChatRequest,
  issuer: string,
  tokens: TokenEstimates = new TokenCounter(),
): ChatResponse {
  failIfAsked(request);
  const answer = plan(request, issuer);
  const parts: Part[] = [];
  if (answer.thinking) parts.push({ type: "thinking", ...answer.thinking });
  if (answer.text !== undefined) parts.push({ type: "text", text: answer.text });
  parts.push(...answer.calls);
  return {
    id: randomId(""),
    model: request.model,
    created: unixNow(),
    parts,
    stop: answer.calls.length > 0 ? "tool_use" : "end",
    usage: usageOf(request, answer, tokens),
  };
}

/** Word by word: each piece keeps its trailing whitespace, so the pieces concatenate to the reply exactly. */
export function splitWords(text: string): string[] {
  return text.match(/^\s+|\S+\s*/g) ?? [];
}

export async function* echoStream(
  request: ChatRequest,
  issuer: string,
  tokens: TokenEstimates,
): AsyncGenerator<StreamEvent> {
  failIfAsked(request);
  const answer = plan(request, issuer);
  const usage = usageOf(request, answer, tokens);
  yield {
    type: "start",
    id: randomId(""),
    model: request.model,
    created: unixNow(),
    usage: { input: usage.input, output: 0 },
  };
  if (answer.thinking) {
    for (const word of splitWords(answer.thinking.text)) yield { type: "thinking", text: word };
    yield { type: "thinking_signature", signature: answer.thinking.signature };
  }
  if (answer.text !== undefined)
    for (const word of splitWords(answer.text)) yield { type: "text", text: word };
  for (const [index, call] of answer.calls.entries()) {
    yield { type: "tool_call_start", index, id: call.id, name: call.name };
    // Two fragments, so every client's argument assembly is exercised.
    const cut = Math.floor(call.arguments.length / 2);
    yield { type: "tool_call_delta", index, arguments: call.arguments.slice(0, cut) };
    yield { type: "tool_call_delta", index, arguments: call.arguments.slice(cut) };
    yield { type: "tool_call_end", index };
  }
  yield { type: "finish", stop: answer.calls.length > 0 ? "tool_use" : "end", usage };
}

/** A 1x1 transparent PNG: echo's image, whatever the prompt asked for. */
const ECHO_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/** Echo's answer to an image request: n copies of one tiny picture, so image clients can be tried with no account. */
export function echoImages(n: number): { images: { mediaType: string; data: string }[] } {
  return { images: Array.from({ length: n }, () => ({ mediaType: "image/png", data: ECHO_PNG })) };
}
