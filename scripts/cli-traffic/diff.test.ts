import { describe, expect, test } from "bun:test";
import {
  compareVersions,
  diffSessions,
  fieldPaths,
  formatDiff,
  latestOtherVersion,
  toolNames,
} from "./diff.ts";
import type { RecordedExchange, SessionFixture } from "./fixture.ts";

function exchange(
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  purpose: RecordedExchange["purpose"] = "main",
  path = "/v1/messages?beta=true",
): RecordedExchange {
  return {
    request: { method: "POST", path, headers, body },
    response: { status: 200, contentType: "text/event-stream", body: "" },
    purpose,
  };
}

function session(version: string, exchanges: RecordedExchange[]): SessionFixture {
  return {
    format: 1,
    cli: "claude-code",
    version,
    session: "tool-loop",
    dialect: "anthropic",
    recordedAt: "2026-11-26T09:00:00.000Z",
    scrubbed: ["x-api-key"],
    exchanges,
  };
}

const HEADERS = {
  "anthropic-beta": "claude-code-20250219,effort-2025-11-24",
  "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
  "x-claude-code-session-id": "69d99a76-6019-43ef-9409-588b9f85ee65",
  "x-stainless-retry-count": "0",
};
const WITHOUT_RETRY_COUNT = Object.fromEntries(
  Object.entries(HEADERS).filter(([name]) => name !== "x-stainless-retry-count"),
);
const BODY = {
  model: "claude-opus-4-8",
  max_tokens: 64000,
  thinking: { type: "adaptive" },
  metadata: { user_id: '{"device_id":"18f41a60b8b30b05ff0b70871cc56942"}' },
  tools: [{ name: "Bash" }, { name: "Read" }],
  messages: [{ role: "user", content: "hi" }],
};
const BEFORE = session("2.1.197", [exchange(BODY, HEADERS)]);

describe("diffSessions and formatDiff", () => {
  const cases: [string, SessionFixture | undefined, SessionFixture | undefined, string][] = [
    [
      "the same requests, with new ids, dates and version: no change",
      BEFORE,
      session("2.1.198", [
        exchange(
          {
            ...BODY,
            metadata: { user_id: '{"device_id":"0b70871cc5694218f41a60b8b30b05ff"}' },
          },
          {
            ...HEADERS,
            "user-agent": "claude-cli/2.1.198 (external, sdk-cli)",
            "x-claude-code-session-id": "0199d99a-6019-43ef-9409-588b9f85ee65",
          },
        ),
      ]),
      "claude-code 2.1.197 → 2.1.198, tool-loop: no change in its requests",
    ],
    [
      "headers, fields, tools, model and parameters",
      BEFORE,
      session("2.1.198", [
        exchange(
          {
            ...BODY,
            model: "claude-opus-4-9",
            max_tokens: 32000,
            thinking: { type: "enabled", budget_tokens: 4096 },
            context_management: { edits: [] },
            tools: [{ name: "Bash" }, { name: "Monitor" }],
          },
          {
            ...WITHOUT_RETRY_COUNT,
            "anthropic-beta": "claude-code-20250219,context-1m-2025-08-07",
            "user-agent": "claude-cli/2.1.198 (external, sdk-cli)",
            "x-app": "cli",
          },
        ),
      ]),
      [
        "claude-code 2.1.197 → 2.1.198, tool-loop:",
        "  headers: added x-app; removed x-stainless-retry-count",
        "  headers changed: anthropic-beta +context-1m-2025-08-07 -effort-2025-11-24",
        "  body fields: added context_management.edits, thinking.budget_tokens",
        "  tools: added Monitor; removed Read",
        '  values changed: max_tokens 64000 → 32000; model "claude-opus-4-8" → "claude-opus-4-9"; thinking.type "adaptive" → "enabled"',
      ].join("\n"),
    ],
    [
      "a new endpoint and more requests",
      BEFORE,
      session("2.1.198", [
        exchange(BODY, { ...HEADERS, "user-agent": "claude-cli/2.1.198 (external, sdk-cli)" }),
        exchange(
          { model: "claude-opus-4-8", messages: [] },
          {},
          "count",
          "/v1/messages/count_tokens?beta=true",
        ),
      ]),
      [
        "claude-code 2.1.197 → 2.1.198, tool-loop:",
        "  requests: 1 → 2",
        "  endpoints: added POST /v1/messages/count_tokens?beta=true",
      ].join("\n"),
    ],
    [
      "a session recorded for the first time",
      undefined,
      BEFORE,
      "claude-code 2.1.196 → 2.1.197, tool-loop: new session (1 requests)",
    ],
    [
      "a session no longer recorded",
      BEFORE,
      undefined,
      "claude-code 2.1.197 → 2.1.198, tool-loop: no longer recorded",
    ],
  ];
  for (const [name, before, after, expected] of cases)
    test(name, () => {
      const from = before?.version ?? "2.1.196";
      const to = after?.version ?? "2.1.198";
      expect(formatDiff("claude-code", from, to, "tool-loop", diffSessions(before, after))).toBe(
        expected,
      );
    });
});

describe("toolNames", () => {
  const cases: [string, unknown, string[]][] = [
    [
      "Anthropic",
      { tools: [{ name: "Bash" }, { type: "web_search_20250305", name: "web_search" }] },
      ["Bash", "web_search"],
    ],
    ["OpenAI Chat", { tools: [{ type: "function", function: { name: "bash" } }] }, ["bash"]],
    [
      "OpenAI Responses",
      { tools: [{ type: "function", name: "exec_command" }, { type: "web_search" }] },
      ["exec_command", "web_search"],
    ],
    [
      "Gemini",
      {
        tools: [
          { functionDeclarations: [{ name: "read_file" }, { name: "glob" }] },
          { googleSearch: {} },
        ],
      },
      ["read_file", "glob", "googleSearch"],
    ],
    ["no tools", { messages: [] }, []],
  ];
  for (const [name, body, names] of cases) test(name, () => expect(toolNames(body)).toEqual(names));
});

test("fieldPaths goes into objects, not into arrays", () => {
  expect(
    fieldPaths({
      model: "m",
      generationConfig: { thinkingConfig: { thinkingBudget: 1 } },
      contents: [{ a: 1 }],
    }),
  ).toEqual(["model", "generationConfig.thinkingConfig.thinkingBudget", "contents"]);
});

describe("latestOtherVersion", () => {
  const cases: [string[], string, string | undefined][] = [
    [["2.1.197"], "2.1.197", undefined],
    [["2.1.9", "2.1.197", "2.1.10"], "2.1.198", "2.1.197"],
    [["0.60.0", "0.61.0", "0.9.0"], "0.61.0", "0.60.0"],
    [["7.7.9", "7.8.1"], "7.7.9", "7.8.1"],
  ];
  for (const [versions, current, previous] of cases)
    test(`${current} after ${versions.join(", ")}`, () =>
      expect(latestOtherVersion(versions, current)).toBe(previous));
  test("compareVersions orders numerically", () => {
    expect(compareVersions("2.1.10", "2.1.9")).toBeGreaterThan(0);
    expect(compareVersions("0.61.0", "0.61.0")).toBe(0);
  });
});
