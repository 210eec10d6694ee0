import {
  type AnswerView,
  type Dialect,
  isCount,
  isObject,
  parseJson,
  type RequestView,
} from "./dialect.ts";
import { MODULES, type Operation } from "./dialects/index.ts";
import type { Received } from "./fakes/server.ts";
import type { ClientAnswer } from "./replay.ts";

/*
 * The named cases. Each looks at one thing: what reached the fake of the dialect under test (the
 * upstream side) or what the client got back (the client side), and says pass, fail with the
 * reason, or n/a with why.
 */

export type Status = "pass" | "fail" | "n/a";

export interface Case {
  name: string;
  status: Status;
  reason?: string;
}

const pass = (name: string): Case => ({ name, status: "pass" });
const fail = (name: string, reason: string): Case => ({ name, status: "fail", reason });
const na = (name: string, reason: string): Case => ({ name, status: "n/a", reason });

const short = (names: string[]): string =>
  names.length <= 3
    ? names.join(", ")
    : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;

const excerpt = (text: string): string => text.replace(/\s+/g, " ").slice(0, 160);

export function modelCase(upstream: RequestView, model: string): Case {
  return upstream.model === model
    ? pass("model")
    : fail("model", `the upstream got model ${JSON.stringify(upstream.model)}, not ${model}`);
}

export function toolsCase(client: RequestView, upstream: RequestView): Case {
  if (client.tools.length === 0) return na("tools", "the client declared no tools");
  const byName = new Map(upstream.tools.map((tool) => [tool.name, tool]));
  const dropped = client.tools.filter((tool) => !byName.has(tool.name)).map((t) => t.name);
  if (dropped.length > 0)
    return fail(
      "tools",
      `${dropped.length} of ${client.tools.length} tools dropped or renamed: ${short(dropped)}`,
    );
  for (const tool of client.tools) {
    const there = byName.get(tool.name)!;
    if (tool.properties === undefined) continue;
    const lost = tool.properties.filter((p) => !there.properties?.includes(p));
    if (lost.length > 0) return fail("tools", `tool ${tool.name} lost parameters ${short(lost)}`);
    const unrequired = (tool.required ?? []).filter((p) => !there.required?.includes(p));
    if (unrequired.length > 0)
      return fail("tools", `tool ${tool.name}'s required ${short(unrequired)} no longer required`);
  }
  return pass("tools");
}

const SYSTEM_FIELD: Record<Dialect, string> = {
  anthropic: "system",
  "openai-responses": "instructions and system/developer items",
  "openai-chat": "system/developer messages",
  gemini: "systemInstruction",
};

export function systemCase(target: Dialect, client: RequestView, upstream: RequestView): Case {
  const texts = client.system.map((t) => t.trim()).filter((t) => t.length > 0);
  if (texts.length === 0) return na("system prompt", "the client sent no system prompt");
  const there = upstream.system.join("\n");
  const lost = texts.filter((text) => !there.includes(text));
  if (lost.length === 0) return pass("system prompt");
  return fail(
    "system prompt",
    `${lost.length} of ${texts.length} system texts not in the upstream's ${SYSTEM_FIELD[target]}, e.g. ${JSON.stringify(lost[0]!.slice(0, 60))}`,
  );
}

/** Signatures in the client's history were issued by the client's own provider at recording time. */
export function historySignaturesCase(
  clientDialect: Dialect,
  target: Dialect,
  client: RequestView,
  upstream: RequestView,
): Case {
  const name = "signatures";
  if (client.signatures.length === 0) return na(name, "no signed thinking in the client's history");
  const there = new Set(upstream.signatures);
  if (clientDialect === target) {
    const lost = client.signatures.filter((s) => !there.has(s));
    return lost.length === 0
      ? pass(name)
      : fail(
          name,
          `${lost.length} of ${client.signatures.length} signatures in the history were not sent back to their issuer`,
        );
  }
  const foreign = client.signatures.filter((s) => there.has(s));
  return foreign.length === 0
    ? pass(name)
    : fail(name, `${foreign.length} ${clientDialect} signatures sent to ${target} as its own`);
}

export function cacheCase(target: Dialect, client: RequestView, upstream: RequestView): Case {
  const name = "cache fields";
  if (target === "anthropic" && client.cacheControl)
    return upstream.cacheControl ? pass(name) : fail(name, "cache_control did not reach Anthropic");
  if (target === "openai-responses" && client.promptCacheKey !== undefined)
    return upstream.promptCacheKey !== undefined
      ? pass(name)
      : fail(name, "prompt_cache_key did not reach the Responses upstream");
  return na(name, `no cache field the ${target} upstream takes was sent`);
}

export function imagesCase(client: RequestView, upstreamText: string): Case {
  if (client.images.length === 0) return na("images", "no image in the request");
  const lost = client.images.filter((image) => !upstreamText.includes(image.data.slice(0, 64)));
  return lost.length === 0
    ? pass("images")
    : fail(
        "images",
        `${lost.length} of ${client.images.length} images' data did not reach the upstream`,
      );
}

export function statusCase(answer: ClientAnswer): Case {
  if (answer.error) return fail("status", `no answer: ${answer.error}`);
  return answer.status === 200
    ? pass("status")
    : fail("status", `status ${answer.status}: ${excerpt(answer.text)}`);
}

export function shapeCase(streamed: boolean, view: AnswerView, prefix = ""): Case {
  const name = `${prefix}${streamed ? "stream event order" : "answer shape"}`;
  return view.problems.length === 0 ? pass(name) : fail(name, view.problems[0]!);
}

const STOP: Record<Dialect, { call: string; text: string }> = {
  anthropic: { call: "tool_use", text: "end_turn" },
  "openai-chat": { call: "tool_calls", text: "stop" },
  // A Responses answer's status says it finished; its items say what it did.
  "openai-responses": { call: "completed", text: "completed" },
  gemini: { call: "STOP", text: "STOP" },
};

export function stopCase(client: Dialect, view: AnswerView, called: boolean, prefix = ""): Case {
  const name = `${prefix}stop reason`;
  const want = called ? STOP[client].call : STOP[client].text;
  if (view.stop !== want)
    return fail(
      name,
      `stop reason ${JSON.stringify(view.stop)} for ${called ? "a tool call" : "text"}, not ${want}`,
    );
  if (!called && view.toolCalls.length > 0)
    return fail(name, "a tool call the upstream never made");
  return pass(name);
}

export function toolCallCase(
  client: Dialect,
  view: AnswerView,
  callName: string | undefined,
): Case {
  const name = "tool call";
  if (!callName) return na(name, "the upstream answered without calling a tool");
  const call = view.toolCalls.find((c) => c.name === callName);
  if (!call)
    return fail(
      name,
      `the upstream's call to ${callName} reached the client as ${JSON.stringify(view.toolCalls.map((c) => c.name))}`,
    );
  // Gemini pairs a call with its result by name; the others by an id the client must be given.
  if (client !== "gemini" && !call.id) return fail(name, `the call to ${callName} has no id`);
  return pass(name);
}

export function usageCase(view: AnswerView, expected: boolean, prefix = ""): Case {
  const name = `${prefix}usage`;
  if (!expected) return na(name, "the client did not ask for usage in its stream");
  return isCount(view.usage?.input) && isCount(view.usage?.output)
    ? pass(name)
    : fail(name, `usage ${JSON.stringify(view.usage ?? null)} has no input and output counts`);
}

export function pairingCase(
  target: Dialect,
  issued: Received["issued"],
  next: RequestView | undefined,
): Case {
  const name = "tool-call pairing";
  if (!next)
    return fail(name, "the next turn, answering the tool call, did not reach the upstream");
  const want = target === "gemini" ? issued?.callName : issued?.callId;
  return next.toolResults.includes(String(want))
    ? pass(name)
    : fail(
        name,
        `the tool result reached the upstream for ${JSON.stringify(next.toolResults)}, not ${want}`,
      );
}

export function ownSignatureCase(
  target: Dialect,
  signature: string | undefined,
  next: RequestView | undefined,
): Case {
  const name = "signature back to its issuer";
  if (!signature) return na(name, "the upstream signed nothing");
  if (!next) return fail(name, "the next turn did not reach the upstream");
  return next.signatures.includes(signature)
    ? pass(name)
    : fail(name, `the ${target} upstream's own signature was not sent back to it in the next turn`);
}

export function countCase(client: Dialect, answer: ClientAnswer): Case {
  const json = parseJson(answer.text);
  const ok =
    isObject(json) &&
    (client === "anthropic"
      ? isCount(json.input_tokens)
      : client === "gemini"
        ? isCount(json.totalTokens)
        : json.object === "response.input_tokens" && isCount(json.input_tokens));
  return ok
    ? pass("count shape")
    : fail("count shape", `not a ${client} token count: ${excerpt(answer.text)}`);
}

export function readClientAnswer(client: Dialect, answer: ClientAnswer): AnswerView {
  return MODULES[client].readAnswer(answer.status, answer.contentType, answer.text);
}

export type { Operation };
