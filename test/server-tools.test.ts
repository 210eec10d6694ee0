import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { GoogleGenAI, type GenerateContentResponse } from "@google/genai";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { GROUNDING_REDIRECT, pagesFor } from "./support/gemini-grounding.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { expectErrorShape } from "./support/error-shape.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

// Server tools (web search, web fetch) through a live levity: mapped to Gemini's Google Search and
// URL context, forwarded to Anthropic, refused by name or dropped with a warning elsewhere, and
// their history accepted in later turns.

const KEYS = { openai: "sk-st-oa-1", anthropic: "sk-st-an-1", gemini: "st-ge-1" };
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let anthropic: Anthropic;
let openai: OpenAI;
let genai: GoogleGenAI;

const GATEWAY = () =>
  "proxy:\n  cooldown_wait: 0\n" +
  upstreamsYaml([
    {
      name: "openai",
      protocol: "openai",
      base_url: `${oa.url}/v1`,
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
  ]) +
  `  - name: openai-responses\n    protocol: openai\n    base_url: ${oa.url}/v1\n    wire_api: responses\n    accounts:\n      - { name: a, key: ${KEYS.openai} }\n` +
  `  - name: openai-drop\n    protocol: openai\n    base_url: ${oa.url}/v1\n    server_tools: drop\n    accounts:\n      - { name: a, key: ${KEYS.openai} }\n`;
const MAPPINGS =
  "exact:\n  to-openai-responses: openai-responses/gpt-5-real\n  to-gemini: gemini/gemini-real\n  to-anthropic: anthropic/claude-real\n  to-openai: openai/gpt-4o-real\n  to-openai-drop: openai-drop/gpt-4o-real\n";

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
  anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
});

// What Claude Code's WebSearch tool sends (captured from Claude Code 2.1.197).
const SEARCH = {
  max_tokens: 1024,
  system: "You are an assistant for performing a web search tool use",
  messages: [
    { role: "user" as const, content: "Perform a web search for the query: levity gateway" },
  ],
  tools: [{ type: "web_search_20250305" as const, name: "web_search" as const, max_uses: 8 }],
  tool_choice: { type: "tool" as const, name: "web_search" },
};
const PAGES = pagesFor("levity gateway");

/** The answer Claude Code reads: the search, its results, and text citing them. */
function expectSearchAnswer(message: Anthropic.Message) {
  const [call, result, ...texts] = message.content;
  expect(call).toMatchObject({
    type: "server_tool_use",
    name: "web_search",
    input: { query: "levity gateway" },
  });
  expect((call as Anthropic.ServerToolUseBlock).id).toMatch(/^srvtoolu_/);
  expect(result).toMatchObject({
    type: "web_search_tool_result",
    tool_use_id: (call as Anthropic.ServerToolUseBlock).id,
    content: PAGES.map((p) => ({ type: "web_search_result", url: p.uri, title: p.title })),
  });
  const cited = texts.find((t) => t.type === "text" && t.citations) as Anthropic.TextBlock;
  expect(cited.text).toContain("Perform a web search for the query: levity gateway");
  expect(cited.citations).toEqual(
    PAGES.map((p) => ({
      type: "web_search_result_location",
      url: p.uri,
      title: p.title,
      encrypted_index: "",
      cited_text: expect.any(String),
    })) as never,
  );
  expect(message.usage.server_tool_use?.web_search_requests).toBe(1);
}

describe("web search over Gemini", () => {
  test("plain: googleSearch sent, groundingMetadata back as Anthropic's blocks and citations", async () => {
    const message = await anthropic.messages.create({ model: "to-gemini", ...SEARCH });
    expectSearchAnswer(message);
    const sent = ge.requests.at(-1)!.json;
    expect(sent.tools).toEqual([{ googleSearch: {} }]);
    // Gemini cannot be made to search: the choice of the server tool is not sent as a function choice.
    expect(sent.toolConfig).toBeUndefined();
  });

  test("streamed: the same answer through the SDK's stream helper, in Anthropic's event order", async () => {
    const events: string[] = [];
    const stream = anthropic.messages.stream({ model: "to-gemini", ...SEARCH });
    stream.on("streamEvent", (event) => {
      if (event.type === "content_block_start") events.push(`start:${event.content_block.type}`);
      if (event.type === "content_block_delta") events.push(event.delta.type);
    });
    expectSearchAnswer(await stream.finalMessage());
    expect(events.slice(0, 5)).toEqual([
      "start:server_tool_use",
      "input_json_delta",
      "start:web_search_tool_result",
      "start:text",
      "citations_delta",
    ]);
    expect(ge.requests.at(-1)!.query.get("alt")).toBe("sse");
  });

  test("the search's history in a later turn is read as text by Gemini, never refused", async () => {
    const first = await anthropic.messages.create({ model: "to-gemini", ...SEARCH });
    const next = await anthropic.messages.create({
      model: "to-gemini",
      max_tokens: 256,
      tools: SEARCH.tools,
      messages: [
        SEARCH.messages[0]!,
        { role: "assistant", content: first.content as Anthropic.ContentBlockParam[] },
        { role: "user", content: "Reply with exactly this text and nothing else: thanks" },
      ],
    });
    expect(next.content.find((b) => b.type === "text")).toMatchObject({ text: "thanks" });
    const history = JSON.stringify(ge.requests.at(-1)!.json.contents[1]);
    expect(history).toContain("[web_search: levity gateway]");
    expect(history).toContain(PAGES[0]!.uri);
  });

  test("web fetch becomes URL context, and its result a web_fetch_tool_result", async () => {
    const message = await anthropic.messages.create({
      model: "to-gemini",
      max_tokens: 256,
      messages: [{ role: "user", content: "Summarise https://levity.example/readme please" }],
      tools: [{ type: "web_fetch_20250910", name: "web_fetch" }] as never,
    });
    expect(ge.requests.at(-1)!.json.tools).toEqual([{ urlContext: {} }]);
    expect(message.content.slice(0, 2)).toMatchObject([
      {
        type: "server_tool_use",
        name: "web_fetch",
        input: { url: "https://levity.example/readme" },
      },
      {
        type: "web_fetch_tool_result",
        content: { type: "web_fetch_result", url: "https://levity.example/readme" },
      },
    ]);
  });
});

describe("web search elsewhere", () => {
  test("Anthropic to Anthropic: the tool is forwarded as it is", async () => {
    await anthropic.messages.create({ model: "to-anthropic", ...SEARCH });
    expect(an.requests.at(-1)!.json.tools).toEqual(SEARCH.tools);
  });

  test("an upstream with no search: a 400 in the client's shape naming the tool and the upstream", async () => {
    const before = oa.requests.length;
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "to-openai", ...SEARCH }),
    });
    expect(response.status).toBe(400);
    const message = expectErrorShape("anthropic", await response.json(), 400);
    expect(message).toContain("web_search_20250305");
    expect(message).toContain('upstream "openai"');
    expect(oa.requests.length).toBe(before);
  });

  test("server_tools: drop sends the request without it and says so in x-levity-warning", async () => {
    for (const stream of [false, true]) {
      const response = await fetch(`${gw.origin}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "to-openai-drop", ...SEARCH, stream }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-levity-warning")).toBe(
        'dropped server tool web_search_20250305 ("web_search"): upstream "openai-drop" has no such tool',
      );
      await response.text();
      const sent = oa.requests.at(-1)!.json;
      expect(sent.tools).toBeUndefined();
      expect(sent.tool_choice).toBeUndefined();
    }
  });

  test("a typed tool levity cannot carry is refused by name, not dropped", async () => {
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "to-gemini",
        max_tokens: 64,
        messages: [{ role: "user", content: "hi" }],
        tools: [{ type: "code_execution_20250825", name: "code_execution" }],
      }),
    });
    expect(response.status).toBe(400);
    expect(expectErrorShape("anthropic", await response.json(), 400)).toContain(
      "code_execution_20250825",
    );
  });

  test("search history sent to an upstream with no search is read as text", async () => {
    const first = await anthropic.messages.create({ model: "to-gemini", ...SEARCH });
    const next = await anthropic.messages.create({
      model: "to-openai",
      max_tokens: 256,
      messages: [
        SEARCH.messages[0]!,
        { role: "assistant", content: first.content as Anthropic.ContentBlockParam[] },
        { role: "user", content: "Reply with exactly this text and nothing else: ok" },
      ],
    });
    expect(next.content).toMatchObject([{ type: "text", text: "ok" }]);
    expect(JSON.stringify(oa.requests.at(-1)!.json.messages)).toContain(GROUNDING_REDIRECT);
  });
});

describe("the Responses API's web_search", () => {
  const PROMPT = "Perform a web search for the query: levity gateway";

  function expectSearchOutput(response: OpenAI.Responses.Response) {
    const [call, message] = response.output;
    expect(call).toMatchObject({
      type: "web_search_call",
      status: "completed",
      action: {
        type: "search",
        query: "levity gateway",
        sources: PAGES.map((p) => ({ type: "url", url: p.uri })),
      },
    });
    const text = (message as OpenAI.Responses.ResponseOutputMessage).content[0]!;
    expect(text.type).toBe("output_text");
    const output = text as OpenAI.Responses.ResponseOutputText;
    expect(output.annotations).toEqual(
      PAGES.map((p) => ({
        type: "url_citation",
        start_index: 0,
        end_index: output.text.length,
        url: p.uri,
        title: p.title,
      })),
    );
  }

  test("over Gemini, plain: a web_search_call item and url_citation annotations", async () => {
    const response = await openai.responses.create({
      model: "to-gemini",
      input: PROMPT,
      tools: [{ type: "web_search" }],
    });
    expectSearchOutput(response);
    expect(ge.requests.at(-1)!.json.tools).toEqual([{ googleSearch: {} }]);
  });

  test("over Gemini, streamed: the search's events and annotation.added, through the stream helper", async () => {
    const types: string[] = [];
    const stream = openai.responses.stream({
      model: "to-gemini",
      input: PROMPT,
      tools: [{ type: "web_search" }],
    });
    stream.on("event", (event) => types.push(event.type));
    expectSearchOutput(await stream.finalResponse());
    for (const type of [
      "response.web_search_call.in_progress",
      "response.web_search_call.searching",
      "response.web_search_call.completed",
      "response.output_text.annotation.added",
    ])
      expect(types).toContain(type);
  });

  test("a web_search_call in the input is read as text by an upstream that cannot take it", async () => {
    const first = await openai.responses.create({
      model: "to-gemini",
      input: PROMPT,
      tools: [{ type: "web_search" }],
      store: false,
    });
    const next = await openai.responses.create({
      model: "to-gemini",
      input: [
        { role: "user", content: PROMPT },
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { role: "user", content: "Reply with exactly this text and nothing else: done" },
      ],
    });
    expect(next.output_text).toBe("done");
    expect(JSON.stringify(ge.requests.at(-1)!.json.contents)).toContain(
      "[web_search: levity gateway]",
    );
  });

  test("offered beside functions to Gemini, which cannot combine them: dropped with the warning", async () => {
    const response = await openai.responses
      .create({
        model: "to-gemini",
        input: "Reply with exactly this text and nothing else: fine",
        tools: [
          { type: "web_search" },
          { type: "function", name: "get_time", parameters: { type: "object" }, strict: false },
        ],
      })
      .withResponse();
    expect(response.data.output_text).toBe("fine");
    expect(response.response.headers.get("x-levity-warning")).toBe(
      'dropped server tool web_search ("web_search"): upstream "gemini" runs it only in a request without function tools',
    );
    expect(JSON.stringify(ge.requests.at(-1)!.json.tools)).not.toContain("googleSearch");
  });

  test("offered to a chat upstream, as Codex does with every turn: answered without it, with the warning", async () => {
    const response = await openai.responses
      .create({
        model: "to-openai",
        input: "Reply with exactly this text and nothing else: fine",
        tools: [{ type: "web_search" }],
      })
      .withResponse();
    expect(response.data.output_text).toBe("fine");
    expect(response.response.headers.get("x-levity-warning")).toContain('upstream "openai"');
  });

  test("to Anthropic: the web_search_20250305 tool", async () => {
    await openai.responses.create({
      model: "to-anthropic",
      input: "Reply with exactly this text and nothing else: hi",
      tools: [{ type: "web_search", filters: { allowed_domains: ["levity.example"] } }],
    });
    // The automatic cache breakpoint goes on the last tool, a server tool's definition included.
    expect(an.requests.at(-1)!.json.tools).toEqual([
      {
        type: "web_search_20250305",
        name: "web_search",
        allowed_domains: ["levity.example"],
        cache_control: { type: "ephemeral" },
      },
    ]);
  });
});

describe("web search over an OpenAI Responses upstream", () => {
  const OPENAI_PAGES = PAGES.map((p) => ({
    url: p.uri.replace(/^.*\//, "https://pages.example/"),
    title: p.title,
  }));

  function expectOpenAISearch(message: Anthropic.Message) {
    expect(message.content.slice(0, 3)).toMatchObject([
      { type: "server_tool_use", name: "web_search", input: { query: "levity gateway" } },
      {
        type: "web_search_tool_result",
        content: OPENAI_PAGES.map((p) => ({ type: "web_search_result", url: p.url })),
      },
      {
        type: "text",
        citations: OPENAI_PAGES.map((p) => ({
          type: "web_search_result_location",
          url: p.url,
          title: p.title,
        })),
      },
    ]);
    const sent = oa.requests.at(-1)!.json;
    expect(sent.tools).toEqual([{ type: "web_search" }]);
    expect(sent.tool_choice).toBe("required");
    expect(sent.include).toContain("web_search_call.action.sources");
  }

  test("plain: web_search_call and url_citation back as Anthropic's blocks", async () => {
    expectOpenAISearch(
      await anthropic.messages.create({ model: "to-openai-responses", ...SEARCH }),
    );
  });

  test("streamed: the same, through the Anthropic SDK's stream helper", async () => {
    const stream = anthropic.messages.stream({ model: "to-openai-responses", ...SEARCH });
    expectOpenAISearch(await stream.finalMessage());
  });
});

describe("a Gemini client's Google Search", () => {
  const PROMPT = "Perform a web search for the query: levity gateway";
  const OPENAI_PAGES = PAGES.map((p) => p.uri.replace(/^.*\//, "https://pages.example/"));

  function expectGrounding(metadata: unknown, text: string) {
    expect(metadata).toEqual({
      webSearchQueries: ["levity gateway"],
      groundingChunks: OPENAI_PAGES.map((uri, i) => ({ web: { uri, title: PAGES[i]!.title } })),
      groundingSupports: [
        {
          segment: expect.objectContaining({
            startIndex: 0,
            endIndex: Buffer.byteLength(text),
            text,
          }),
          groundingChunkIndices: [0, 1],
        },
      ],
    });
  }

  test("to Gemini: forwarded as it is", async () => {
    await genai.models.generateContent({
      model: "to-gemini",
      contents: PROMPT,
      config: { tools: [{ googleSearch: {} }] },
    });
    expect(ge.requests.at(-1)!.json.tools).toEqual([{ googleSearch: {} }]);
  });

  test("to an OpenAI Responses upstream, plain: its search as groundingMetadata", async () => {
    const response = await genai.models.generateContent({
      model: "to-openai-responses",
      contents: PROMPT,
      config: { tools: [{ googleSearch: {} }] },
    });
    expect(oa.requests.at(-1)!.json.tools).toEqual([{ type: "web_search" }]);
    expectGrounding(response.candidates![0]!.groundingMetadata, response.text!);
  });

  test("streamed: the metadata on the last chunk, its offsets over the whole text", async () => {
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of await genai.models.generateContentStream({
      model: "to-openai-responses",
      contents: PROMPT,
      config: { tools: [{ googleSearch: {} }] },
    }))
      chunks.push(chunk);
    const text = chunks.map((c) => c.text ?? "").join("");
    expectGrounding(chunks.at(-1)!.candidates![0]!.groundingMetadata, text);
  });
});

describe("web search over an Anthropic upstream, for other clients", () => {
  const PROMPT = "Perform a web search for the query: levity gateway";
  const ANTHROPIC_PAGES = PAGES.map((p) => ({
    url: p.uri.replace(/^.*\//, "https://anthropic-pages.example/"),
    title: p.title,
  }));

  function expectAnthropicSearch(response: OpenAI.Responses.Response) {
    const [call, message] = response.output;
    expect(call).toMatchObject({
      type: "web_search_call",
      action: {
        type: "search",
        query: "levity gateway",
        sources: ANTHROPIC_PAGES.map((p) => ({ type: "url", url: p.url })),
      },
    });
    const text = (message as OpenAI.Responses.ResponseOutputMessage)
      .content[0] as OpenAI.Responses.ResponseOutputText;
    expect(text.annotations).toMatchObject(
      ANTHROPIC_PAGES.map((p) => ({ type: "url_citation", url: p.url, title: p.title })),
    );
  }

  test("plain and streamed: server_tool_use, web_search_tool_result and citations read back", async () => {
    const request = {
      model: "to-anthropic",
      input: PROMPT,
      tools: [{ type: "web_search" as const }],
    };
    expectAnthropicSearch(await openai.responses.create(request));
    expectAnthropicSearch(await openai.responses.stream(request).finalResponse());
  });

  test("its search goes back to it as its own blocks, encrypted content and all", async () => {
    const first = await openai.responses.create({
      model: "to-anthropic",
      input: PROMPT,
      tools: [{ type: "web_search" }],
    });
    await openai.responses.create({
      model: "to-anthropic",
      previous_response_id: first.id,
      input: "Reply with exactly this text and nothing else: again",
    });
    const assistant = an.requests.at(-1)!.json.messages[1].content;
    expect(assistant.slice(0, 2)).toMatchObject([
      { type: "server_tool_use", id: "srvtoolu_fake1", input: { query: "levity gateway" } },
      {
        type: "web_search_tool_result",
        tool_use_id: "srvtoolu_fake1",
        content: [
          { encrypted_content: "anthropic-enc-0" },
          { encrypted_content: "anthropic-enc-1" },
        ],
      },
    ]);
    expect(assistant[2].citations[0]).toMatchObject({ encrypted_index: "anthropic-idx-0" });
  });

  test("another upstream's search goes to it as text, which it cannot refuse", async () => {
    const first = await openai.responses.create({
      model: "to-gemini",
      input: PROMPT,
      tools: [{ type: "web_search" }],
    });
    const next = await openai.responses.create({
      model: "to-anthropic",
      previous_response_id: first.id,
      input: "Reply with exactly this text and nothing else: again",
    });
    expect(next.output_text).toBe("again");
    const sent = JSON.stringify(an.requests.at(-1)!.json.messages);
    expect(sent).not.toContain("web_search_tool_result");
    expect(sent).toContain("[web_search: levity gateway]");
  });
});

describe("the rest of the mapping table", () => {
  test("a Gemini client's googleSearch and urlContext to Anthropic", async () => {
    await genai.models.generateContent({
      model: "to-anthropic",
      contents: "Reply with exactly this text and nothing else: hi",
      config: { tools: [{ googleSearch: {} }, { urlContext: {} }] },
    });
    expect(an.requests.at(-1)!.json.tools).toEqual([
      { type: "web_search_20250305", name: "web_search" },
      { type: "web_fetch_20250910", name: "web_fetch", cache_control: { type: "ephemeral" } },
    ]);
  });

  test("Anthropic's domain filter and location to OpenAI's web_search", async () => {
    await anthropic.messages.create({
      model: "to-openai-responses",
      ...SEARCH,
      tools: [
        {
          type: "web_search_20250305",
          name: "web_search",
          allowed_domains: ["levity.example"],
          user_location: { type: "approximate", city: "Paris", country: "FR" },
        },
      ],
    });
    expect(oa.requests.at(-1)!.json.tools).toEqual([
      {
        type: "web_search",
        filters: { allowed_domains: ["levity.example"] },
        user_location: { type: "approximate", city: "Paris", country: "FR" },
      },
    ]);
  });

  test("web fetch to an OpenAI Responses upstream, which has none: refused by name when forced", async () => {
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "to-openai-responses",
        max_tokens: 64,
        messages: [{ role: "user", content: "Fetch https://levity.example/" }],
        tools: [{ type: "web_fetch_20250910", name: "web_fetch" }],
        tool_choice: { type: "tool", name: "web_fetch" },
      }),
    });
    expect(response.status).toBe(400);
    expect(expectErrorShape("anthropic", await response.json(), 400)).toContain(
      'web_fetch_20250910 ("web_fetch") runs at the provider, and upstream "openai-responses" has no such tool',
    );
  });
});
