import { describe, expect, test } from "bun:test";
import { type Dialect, DIALECTS, type Plan, sse } from "../dialect.ts";
import { planFor } from "../fakes/plan.ts";
import { MODULES, routeOf } from "./index.ts";

/*
 * Each dialect's reader against its own writer (what the fakes send must read as valid), and
 * against broken answers: a reader that accepts everything would let any gateway pass.
 */

const CALL: Plan = {
  usage: { input: 12, output: 7 },
  thinking: { text: "hmm", signature: "sig-1" },
  call: { id: "call_1", name: "Bash", args: { command: "ls" } },
};
const TEXT: Plan = { usage: { input: 12, output: 7 }, text: "hello" };

const STOP: Record<Dialect, [string, string]> = {
  anthropic: ["tool_use", "end_turn"],
  "openai-responses": ["completed", "completed"],
  "openai-chat": ["tool_calls", "stop"],
  gemini: ["STOP", "STOP"],
};

function viewOf(dialect: Dialect, stream: boolean) {
  const path =
    dialect === "gemini"
      ? `/v1beta/models/m:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`
      : "/v1/x";
  const body = {
    stream,
    stream_options: { include_usage: true },
    include: ["reasoning.encrypted_content"],
  };
  return { request: MODULES[dialect].readRequest(path, body), body };
}

describe("a fake's own answer reads as valid", () => {
  for (const dialect of DIALECTS)
    for (const stream of [false, true])
      for (const [name, plan] of [
        ["tool call", CALL],
        ["text", TEXT],
      ] as const)
        test(`${dialect}, ${stream ? "streamed" : "whole"}, ${name}`, () => {
          const { request, body } = viewOf(dialect, stream);
          const wire = MODULES[dialect].writeAnswer("m", plan, request, body);
          const view = MODULES[dialect].readAnswer(wire.status, wire.contentType, wire.body);
          expect(view.problems).toEqual([]);
          expect(view.stop).toBe(STOP[dialect][plan.call ? 0 : 1]);
          expect(view.usage).toEqual({ input: 12, output: 7 });
          expect(view.toolCalls.map((c) => c.name)).toEqual(plan.call ? ["Bash"] : []);
          if (plan.call && dialect !== "openai-chat") expect(view.signatures).toEqual(["sig-1"]);
        });
});

const anthropicEvents = (...events: object[]) =>
  events.map((e) => sse(e, (e as { type: string }).type)).join("");
const start = { type: "message_start", message: { usage: { input_tokens: 1, output_tokens: 1 } } };
const delta = {
  type: "message_delta",
  delta: { stop_reason: "end_turn" },
  usage: { output_tokens: 1 },
};
const chunk = (d: object, finish: string | null = null) =>
  sse({
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta: d, finish_reason: finish }],
  });

const BROKEN: [Dialect, string, string, string][] = [
  ["anthropic", "no message_stop", anthropicEvents(start, delta), "without message_stop"],
  [
    "anthropic",
    "a delta before its block",
    anthropicEvents(
      start,
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x" } },
      delta,
      { type: "message_stop" },
    ),
    "not open",
  ],
  [
    "anthropic",
    "a text delta in a tool_use block",
    anthropicEvents(
      start,
      {
        type: "content_block_start",
        index: 0,
        content_block: { type: "tool_use", id: "t", name: "n", input: {} },
      },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x" } },
      { type: "content_block_stop", index: 0 },
      delta,
      { type: "message_stop" },
    ),
    "text_delta inside a tool_use block",
  ],
  ["openai-chat", "no [DONE]", chunk({ content: "x" }, "stop"), "without data: [DONE]"],
  [
    "openai-chat",
    "no finish_reason",
    `${chunk({ content: "x" })}data: [DONE]\n\n`,
    "no chunk had a finish_reason",
  ],
  [
    "openai-chat",
    "a tool call without an id",
    `${chunk({ tool_calls: [{ index: 0, function: { name: "f", arguments: "{}" } }] }, "tool_calls")}data: [DONE]\n\n`,
    "without an id",
  ],
  [
    "openai-responses",
    "no response.completed",
    sse({ type: "response.created", sequence_number: 0, response: {} }),
    "without response.completed",
  ],
  [
    "openai-responses",
    "an item done that was never added",
    [
      sse({ type: "response.created", sequence_number: 0, response: {} }),
      sse({ type: "response.output_item.done", sequence_number: 1, output_index: 0, item: {} }),
    ].join(""),
    "done without being open",
  ],
  [
    "openai-responses",
    "sequence numbers going back",
    [
      sse({ type: "response.created", sequence_number: 3, response: {} }),
      sse({ type: "response.in_progress", sequence_number: 2, response: {} }),
    ].join(""),
    "sequence_number 2 after 3",
  ],
  [
    "gemini",
    "no finishReason",
    sse({ candidates: [{ content: { role: "model", parts: [{ text: "x" }] } }] }),
    "no chunk had a finishReason",
  ],
];

describe("a broken stream is caught", () => {
  for (const [dialect, name, body, problem] of BROKEN)
    test(`${dialect}: ${name}`, () => {
      const view = MODULES[dialect].readAnswer(200, "text/event-stream", body);
      expect(view.problems.join("; ")).toContain(problem);
    });

  test("a status other than 200 is a problem, with the body", () => {
    const view = MODULES.anthropic.readAnswer(500, "application/json", '{"error":"boom"}');
    expect(view.problems).toEqual(['status 500: {"error":"boom"}']);
  });
});

test.each([
  ["POST", "/v1/messages?beta=true", "anthropic", "generate"],
  ["POST", "/v1/messages/count_tokens?beta=true", "anthropic", "count"],
  ["POST", "/v1/responses", "openai-responses", "generate"],
  ["POST", "/v1/responses/compact", "openai-responses", "compact"],
  ["POST", "/v1/responses/input_tokens", "openai-responses", "count"],
  ["POST", "/v1/chat/completions", "openai-chat", "generate"],
  ["POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini", "generate"],
  ["POST", "/v1beta/models/gemini-2.5-flash:countTokens", "gemini", "count"],
])("%s %s is %s %s", (method, path, dialect, operation) => {
  expect(routeOf(method, path)).toEqual({
    dialect: dialect as Dialect,
    operation: operation as "generate",
  });
});

test.each([
  ["HEAD", "/"],
  ["GET", "/v1/models"],
  ["POST", "/api/event_logging/batch"],
])("%s %s is not a model request", (method, path) => {
  expect(routeOf(method, path)).toBeUndefined();
});

test("Codex's compaction_trigger gets a Response whose only output is one compaction item", () => {
  const body = {
    stream: true,
    input: [{ role: "user", content: "long talk" }, { type: "compaction_trigger" }],
  };
  const request = MODULES["openai-responses"].readRequest("/v1/responses", body);
  const plan = planFor("openai-responses", request, body, 1);
  const wire = MODULES["openai-responses"].writeAnswer("m", plan, request, body);
  const view = MODULES["openai-responses"].readAnswer(wire.status, wire.contentType, wire.body);
  expect(view.problems).toEqual([]);
  expect(view.turn).toEqual([
    { type: "compaction", id: expect.any(String), encrypted_content: "kit-compaction-1" },
  ]);
});
