import { describe, expect, test } from "bun:test";
import type { Upstream } from "../config/snapshot.ts";
import type { ServerToolPolicy } from "../config/schema.ts";
import type { ChatRequest, ToolChoice } from "../ir.ts";
import { targetOf } from "./producer.ts";
import { headerSafe, historyFor, planServerTools } from "./server-tools.ts";

const SEARCH = { kind: "web_search" as const, name: "web_search", type: "web_search_20250305" };
const FETCH = { kind: "web_fetch" as const, name: "web_fetch", type: "web_fetch_20250910" };
const FUNCTION = { name: "f", parameters: {}, kind: "function" as const };

function upstream(protocol: Upstream["protocol"], serverTools?: ServerToolPolicy): Upstream {
  return {
    name: "u",
    protocol,
    baseUrl: "http://127.0.0.1:1",
    strategy: "round_robin",
    maxAttempts: 1,
    timeouts: { connect: 1, firstByte: 1, idle: 1, total: 1, commitDeadline: 1, keepAlive: 1 },
    accounts: [],
    ...(protocol === "openai"
      ? {
          openai: {
            apis: ["chat"],
            apisConfigured: false,
            wireApi: "chat",
            profile: "generic",
            profileConfigured: false,
            compat: {} as never,
            missing: new Set(),
          },
        }
      : {}),
    ...(serverTools ? { serverTools } : {}),
  };
}

function request(options: {
  serverTools: (typeof SEARCH | typeof FETCH)[];
  functions?: boolean;
  choice?: ToolChoice;
}): ChatRequest {
  return {
    model: "m",
    system: [],
    turns: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
    tools: options.functions ? [FUNCTION] : [],
    serverTools: options.serverTools,
    toolChoice: options.choice,
    stream: false,
  };
}

const FORCED: ToolChoice = { type: "tool", name: "web_search" };

describe("planServerTools", () => {
  const cases: {
    name: string;
    upstream: Upstream;
    policy: ServerToolPolicy;
    request: ChatRequest;
    want: "kept" | "dropped" | "refused";
  }[] = [
    {
      name: "Gemini runs search and fetch",
      upstream: upstream("gemini"),
      policy: "error",
      request: request({ serverTools: [SEARCH, FETCH] }),
      want: "kept",
    },
    {
      name: "Anthropic runs them beside functions",
      upstream: upstream("anthropic"),
      policy: "error",
      request: request({ serverTools: [SEARCH], functions: true }),
      want: "kept",
    },
    {
      name: "Gemini beside functions, offered: auto drops",
      upstream: upstream("gemini"),
      policy: "auto",
      request: request({ serverTools: [SEARCH], functions: true }),
      want: "dropped",
    },
    {
      name: "chat, offered: auto drops",
      upstream: upstream("openai"),
      policy: "auto",
      request: request({ serverTools: [SEARCH] }),
      want: "dropped",
    },
    {
      name: "chat, forced by name: auto refuses",
      upstream: upstream("openai"),
      policy: "auto",
      request: request({ serverTools: [SEARCH], choice: FORCED }),
      want: "refused",
    },
    {
      name: "chat, required with nothing else: auto refuses",
      upstream: upstream("openai"),
      policy: "auto",
      request: request({ serverTools: [SEARCH], choice: { type: "required" } }),
      want: "refused",
    },
    {
      name: "chat, offered: error refuses",
      upstream: upstream("openai"),
      policy: "error",
      request: request({ serverTools: [SEARCH] }),
      want: "refused",
    },
    {
      name: "chat, forced: drop drops",
      upstream: upstream("openai"),
      policy: "drop",
      request: request({ serverTools: [SEARCH], choice: FORCED }),
      want: "dropped",
    },
    {
      name: "the upstream's own setting wins",
      upstream: upstream("openai", "drop"),
      policy: "error",
      request: request({ serverTools: [SEARCH] }),
      want: "dropped",
    },
    {
      name: "echo runs none",
      upstream: upstream("echo"),
      policy: "error",
      request: request({ serverTools: [SEARCH] }),
      want: "refused",
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      let plan: ReturnType<typeof planServerTools> | undefined;
      try {
        plan = planServerTools(c.request, c.upstream, c.policy);
      } catch (error) {
        expect(c.want).toBe("refused");
        expect(String(error)).toContain('upstream "u"');
        return;
      }
      expect(c.want).not.toBe("refused");
      if (c.want === "kept") {
        expect(plan.request.serverTools).toEqual(c.request.serverTools);
        expect(plan.warning).toBeUndefined();
      } else {
        expect(plan.request.serverTools).toBeUndefined();
        expect(plan.warning).toContain("dropped server tool web_search_20250305");
        // A choice of the dropped tool goes with it.
        expect(plan.request.toolChoice).toBeUndefined();
      }
    });

  test("historyFor: only the issuing upstream that takes its blocks, with encrypted content of this issuer, keeps them; the rest is text", () => {
    const turns: ChatRequest["turns"] = [
      {
        role: "assistant",
        parts: [
          {
            type: "server_tool_call",
            id: "s1",
            name: "web_search",
            kind: "web_search",
            input: '{"query":"q"}',
            issuer: "u",
          },
          {
            type: "server_tool_result",
            callId: "s1",
            kind: "web_search",
            results: [{ url: "https://p.example/", title: "P" }],
            issuer: "u",
          },
          {
            type: "server_tool_call",
            id: "s2",
            name: "web_fetch",
            kind: "web_fetch",
            input: '{"url":"https://f.example/"}',
            issuer: "other",
          },
        ],
      },
    ];
    const history = (u: Upstream, issuer = "u|a|claude-sonnet-4-5") =>
      historyFor(turns, u, targetOf(u, issuer))[0]!.parts;
    expect(history(upstream("anthropic")).map((p) => p.type)).toEqual([
      "server_tool_call",
      "server_tool_result",
      "text",
    ]);
    expect(history(upstream("gemini"))).toEqual([
      { type: "text", text: "[web_search: q]" },
      { type: "text", text: "[web_search results]\n- P (https://p.example/)" },
      { type: "text", text: "[web_fetch: https://f.example/]" },
    ]);
    // A page's encrypted content from another model family (or account group) of the same
    // upstream: Anthropic could not read it, so the call and its result both go as text.
    const result = turns[0]!.parts[1]!;
    if (result.type !== "server_tool_result") throw new Error("the second part is the result");
    result.results[0]!.encrypted = { issuer: "u|a|claude-sonnet-4-5", value: "enc" };
    expect(history(upstream("anthropic")).map((p) => p.type)).toEqual([
      "server_tool_call",
      "server_tool_result",
      "text",
    ]);
    expect(history(upstream("anthropic"), "u|a|claude-opus-4-1").map((p) => p.type)).toEqual([
      "text",
      "text",
      "text",
    ]);
  });
});

test("a warning made of the client's tool names is a valid header value, whatever they hold", () => {
  const cases = ["web_search\r\nx-injected: 1", "b\u00fcro\u2028tool", "\u0000", "x".repeat(5000)];
  for (const name of cases) {
    const value = headerSafe(`dropped hosted tool ${name}`);
    expect(() => new Headers({ "x-levity-warning": value })).not.toThrow();
    expect(value).not.toMatch(/[\r\n]/);
    expect(value.length).toBeLessThanOrEqual(1000);
  }
});
