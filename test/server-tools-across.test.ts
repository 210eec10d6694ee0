import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { expectErrorShape } from "./support/error-shape.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

// Server tools where they meet the rest of a long session: a fallback target that can run a forced
// search, the warning of a dropped tool on a stream committed at its deadline and over the
// Responses WebSocket, and a stored search continued under another model family.

const KEYS = { openai: "sk-sta-oa-1", anthropic: "sk-sta-an-1", gemini: "sta-ge-1" };
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({
    gateway:
      "proxy:\n  cooldown_wait: 0\n  timeouts: { commit_deadline: 0.3, keepalive_interval: 0.1 }\n" +
      upstreamsYaml([
        {
          name: "chatonly",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ["chat"],
          accounts: [{ name: "a", key: KEYS.openai }],
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "a", key: KEYS.anthropic }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "a", key: KEYS.gemini }],
        },
      ]),
    mappings: [
      "exact:",
      "  search-fallback: [chatonly/gpt-4o, anthropic/claude-sonnet-4-5]",
      "  chat-only: chatonly/gpt-4o",
      "  to-gemini: gemini/gemini-2.5-flash",
      "  sonnet: anthropic/claude-sonnet-4-5",
      "  opus: anthropic/claude-opus-4-1",
      "",
    ].join("\n"),
  });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
});

const post = (path: string, body: unknown) =>
  fetch(`${gw.origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

// What Claude Code's WebSearch sends: the search is the only thing it asks for.
const FORCED_SEARCH = {
  max_tokens: 256,
  tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 8 }],
  tool_choice: { type: "tool", name: "web_search" },
  messages: [{ role: "user", content: "Perform a web search for the query: levity gateway" }],
};

describe("a forced search and the mapping's targets", () => {
  test("a first target that cannot search is passed by, before any of its accounts is used: the fallback searches", async () => {
    const before = { oa: oa.requests.length, an: an.requests.length };
    const response = await post("/v1/messages", { model: "search-fallback", ...FORCED_SEARCH });
    const answer: any = await response.json();
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("anthropic");
    expect(response.headers.get("x-attempts")).toBe("1");
    expect(answer.content.map((b: any) => b.type)).toContain("web_search_tool_result");
    expect(oa.requests.length - before.oa).toBe(0);
    expect(an.requests.length - before.an).toBe(1);
  });

  test("no target can search: the refusal names the tool, in the client's shape, and no upstream is asked", async () => {
    const before = oa.requests.length;
    const response = await post("/v1/messages", { model: "chat-only", ...FORCED_SEARCH });
    const message = expectErrorShape("anthropic", await response.json(), response.status);
    expect(response.status).toBe(400);
    expect(message).toContain('web_search_20250305 ("web_search")');
    expect(message).toContain('upstream "chatonly" has no such tool');
    expect(oa.requests.length).toBe(before);
  });
});

// Codex offers web_search with every turn; Gemini runs its search only without function tools.
const OFFERED_SEARCH = {
  model: "to-gemini",
  input: "Reply with exactly this text and nothing else: ok",
  tools: [
    { type: "web_search" },
    { type: "function", name: "f", parameters: { type: "object", properties: {} } },
  ],
};

describe("the warning for a dropped server tool", () => {
  test("a stream committed at its deadline, before the upstream said anything, still carries it", async () => {
    ge.quietOnce({ ms: 900 });
    const response = await post("/v1/responses", { ...OFFERED_SEARCH, stream: true });
    const text = await response.text();
    expect(text.startsWith(": keep-alive")).toBe(true);
    expect(text).toContain("response.completed");
    expect(response.headers.get("x-levity-warning")).toContain(
      'dropped server tool web_search ("web_search")',
    );
  });

  test("over the Responses WebSocket, which carries no headers, the log says it once per connection", async () => {
    const said = () =>
      gw.log.lines.filter((l) => l.includes("Responses WebSocket") && l.includes("web_search"))
        .length;
    const before = said();
    const ws = new WebSocket(`${gw.origin.replace(/^http/, "ws")}/v1/responses`);
    await new Promise((resolve) => ws.addEventListener("open", resolve));
    const completed: string[] = [];
    let turnDone = () => {};
    ws.addEventListener("message", (event) => {
      const data = String(event.data);
      if (data.includes('"response.completed"') || data.includes('"type":"error"')) {
        completed.push(data);
        turnDone();
      }
    });
    for (let turn = 0; turn < 2; turn++) {
      const done = new Promise<void>((resolve) => {
        turnDone = resolve;
      });
      ws.send(JSON.stringify({ type: "response.create", ...OFFERED_SEARCH }));
      await done;
    }
    ws.close();
    expect(completed.every((data) => data.includes('"response.completed"'))).toBe(true);
    expect(said() - before).toBe(1);
  });
});

describe("a stored search continued on the same upstream", () => {
  const blocksSent = () =>
    (an.requests.at(-1)!.json.messages as any[]).flatMap((m) =>
      Array.isArray(m.content) ? m.content : [],
    );

  test("under another model family: the search goes as text, since its encrypted content is the other family's", async () => {
    const first = await post("/v1/responses", {
      model: "sonnet",
      input: "Search the web for levity gateway",
      tools: [{ type: "web_search" }],
    });
    const stored: any = await first.json();
    expect(stored.output.map((o: any) => o.type)).toContain("web_search_call");
    const next = await post("/v1/responses", {
      model: "opus",
      previous_response_id: stored.id,
      input: "Reply with exactly this text and nothing else: ok",
    });
    expect(next.status).toBe(200);
    const sent = blocksSent();
    expect(sent.some((b) => b.type === "web_search_tool_result")).toBe(false);
    expect(sent.some((b) => b.type === "server_tool_use")).toBe(false);
    expect(sent.some((b) => b.type === "text" && b.text.startsWith("[web_search"))).toBe(true);
  });

  test("under the same model: its own blocks go back, encrypted content and all", async () => {
    const first = await post("/v1/responses", {
      model: "sonnet",
      input: "Search the web for levity gateway",
      tools: [{ type: "web_search" }],
    });
    const stored: any = await first.json();
    const next = await post("/v1/responses", {
      model: "sonnet",
      previous_response_id: stored.id,
      input: "Reply with exactly this text and nothing else: ok",
    });
    expect(next.status).toBe(200);
    const results = blocksSent().filter((b) => b.type === "web_search_tool_result");
    expect(results.length).toBe(1);
    expect(results[0].content.every((r: any) => r.encrypted_content !== "")).toBe(true);
  });
});

describe("hosted tools no other API has", () => {
  test("Codex's tool_search and a file_search go to no translated upstream, and the warning names them", async () => {
    const before = oa.requests.length;
    const response = await post("/v1/responses", {
      model: "chat-only",
      input: "Reply with exactly this text and nothing else: ok",
      tools: [
        { type: "tool_search" },
        { type: "file_search", vector_store_ids: ["vs_1"] },
        { type: "function", name: "f", parameters: { type: "object", properties: {} } },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-levity-warning")).toBe(
      "dropped hosted tool tool_search, file_search: levity carries only function tools and web search to another API",
    );
    expect(oa.requests.length).toBe(before + 1);
    const sent = oa.requests.at(-1)!.json;
    expect(sent.tools.map((t: any) => t.function?.name ?? t.type)).toEqual(["f"]);
  });
});
