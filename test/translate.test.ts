import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI, type Content, type Part } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import {
  fakeAnthropic,
  SIGNATURE_PREFIX as ANTHROPIC_SIGNATURE,
} from "./support/fake-anthropic.ts";
import { fakeGemini, SIGNATURE_PREFIX as GEMINI_SIGNATURE } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  resetAccounts,
  restartGateway,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { RED_PNG } from "./support/red-png.ts";
import { readChatStream } from "./support/chat-stream.ts";

// What the conformance matrix does not reach: signatures across dialects, stored responses,
// parallel calls, fetched images, error and usage mapping, limits clamped to the target.

const KEYS = { openai: "sk-oa-1", anthropic: "sk-an-1", gemini: "ge-1" };
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

// cooldown_wait 0: a failure a test scripts never makes a later request wait on a timer.
// The image server is on loopback, which levity fetches from only when allow-listed.
const GATEWAY = () =>
  "proxy:\n  cooldown_wait: 0\n  media_fetch:\n    allow: [127.0.0.1]\n" +
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
    { name: "echo", protocol: "echo" },
  ]) +
  `  - name: openai-responses\n    protocol: openai\n    base_url: ${oa.url}/v1\n    wire_api: responses\n    accounts:\n      - { name: a, key: ${KEYS.openai} }\n`;
const MAPPINGS =
  "exact:\n  to-openai: openai/gpt-4o-real\n  to-anthropic: anthropic/claude-real\n  to-gemini: gemini/gemini-real\n  to-echo: echo/echo\n  to-openai-responses: openai-responses/gpt-5-real\n";

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop()]);
}); // Scripted failures cool the accounts they hit; each test starts with healthy ones.
afterEach(() => resetAccounts(gw.origin));

const weather = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const chatTools = [
  { type: "function" as const, function: { name: "get_weather", parameters: weather } },
  { type: "function" as const, function: { name: "get_time", parameters: weather } },
];

describe("signatures go back only to the upstream that issued them", () => {
  test("an OpenAI chat client's thinking tool loop with Anthropic: the signed thinking comes back from the store", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "user", content: 'Call get_weather for "Oslo".' },
    ];
    const first = await openai.chat.completions.create({
      model: "to-anthropic",
      reasoning_effort: "low",
      messages,
      tools: chatTools,
    });
    const message = first.choices[0]!.message;
    expect(message.tool_calls).toHaveLength(1);
    messages.push(
      { role: "assistant", content: message.content, tool_calls: message.tool_calls },
      { role: "tool", tool_call_id: message.tool_calls![0]!.id, content: "cold" },
    );
    const second = await openai.chat.completions.create({
      model: "to-anthropic",
      reasoning_effort: "low",
      messages,
      tools: chatTools,
    });
    expect(second.choices[0]!.message.content).toContain("cold");
    const sent = an.last().json.messages[1].content;
    expect(sent[0]).toMatchObject({
      type: "thinking",
      signature: expect.stringMatching(new RegExp(`^${ANTHROPIC_SIGNATURE}`)),
    });
    expect(sent[1]).toMatchObject({ type: "tool_use", name: "get_weather" });
  });

  test("a Gemini client carries Anthropic's signature in thoughtSignature and it returns raw to Anthropic", async () => {
    const config = {
      tools: [{ functionDeclarations: [{ name: "get_weather", parametersJsonSchema: weather }] }],
      thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 },
    };
    const contents: Content[] = [
      { role: "user", parts: [{ text: 'Call get_weather for "Lima".' }] },
    ];
    const first = await genai.models.generateContent({ model: "to-anthropic", contents, config });
    const parts = first.candidates![0]!.content!.parts!;
    const thought = parts.find((p) => p.thought);
    expect(thought?.thoughtSignature).toStartWith("lv1.");
    const call = parts.find((p) => p.functionCall)!.functionCall!;
    contents.push(
      { role: "model", parts },
      {
        role: "user",
        parts: [{ functionResponse: { name: call.name!, response: { result: "warm" } } }],
      },
    );
    const second = await genai.models.generateContent({ model: "to-anthropic", contents, config });
    expect(second.text).toContain("warm");
    const assistant = an.last().json.messages[1].content;
    expect(assistant[0]).toMatchObject({
      type: "thinking",
      signature: expect.stringMatching(new RegExp(`^${ANTHROPIC_SIGNATURE}`)),
    });
    expect(assistant.find((b: any) => b.type === "tool_use").id).toBe(call.id);
  });

  test("a signature another upstream issued never reaches Anthropic", async () => {
    const foreign = `lv1.${Buffer.from("gemini").toString("base64url")}.${GEMINI_SIGNATURE}abc`;
    const response = await genai.models.generateContent({
      model: "to-anthropic",
      contents: [
        { role: "user", parts: [{ text: "Hi" }] },
        {
          role: "model",
          parts: [
            { text: "earlier thought", thought: true, thoughtSignature: foreign },
            { text: "Hello." },
          ],
        },
        { role: "user", parts: [{ text: "Reply with exactly this text and nothing else: ok" }] },
      ],
    });
    expect(response.text).toBe("ok");
    expect(JSON.stringify(an.last().json)).not.toContain("earlier thought");
  });

  test("Gemini's call signatures return to Gemini through an Anthropic client, which has no field for them", async () => {
    const tools = [{ name: "get_weather", input_schema: weather as Anthropic.Tool.InputSchema }];
    const messages: Anthropic.MessageParam[] = [
      { role: "user", content: 'Call get_weather for "Rome".' },
    ];
    const first = await anthropic.messages.create({
      model: "to-gemini",
      max_tokens: 256,
      messages,
      tools,
    });
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!;
    expect(use.id).toStartWith("call_");
    messages.push(
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }] },
    );
    const second = await anthropic.messages.create({
      model: "to-gemini",
      max_tokens: 256,
      messages,
      tools,
    });
    expect(second.content[0]).toMatchObject({
      type: "text",
      text: expect.stringContaining("sunny"),
    });
    const modelTurn = ge.last().json.contents[1];
    expect(modelTurn.parts[0].thoughtSignature).toStartWith(GEMINI_SIGNATURE);
    expect(ge.last().json.contents[2].parts[0].functionResponse).toMatchObject({
      name: "get_weather",
      response: { result: "sunny" },
    });
  });
});

describe("Responses: stored conversations over any upstream", () => {
  test("previous_response_id rebuilds the history for a translated upstream", async () => {
    const first = await openai.responses.create({
      model: "to-anthropic",
      input: "Reply with exactly this text and nothing else: remembered-1",
    });
    expect(first.id).toStartWith("resp_");
    const second = await openai.responses.create({
      model: "to-anthropic",
      previous_response_id: first.id,
      input: "And now?",
    });
    expect(second.previous_response_id).toBe(first.id);
    const sent = an.last().json.messages;
    expect(sent.map((m: any) => m.role)).toEqual(["user", "assistant", "user"]);
    expect(JSON.stringify(sent[1])).toContain("remembered-1");
  });

  test("store: false stores nothing, and continuing from it is a 404 in OpenAI's shape", async () => {
    const first = await openai.responses.create({
      model: "to-gemini",
      input: "forget me",
      store: false,
    });
    const error = await openai.responses
      .create({ model: "to-gemini", previous_response_id: first.id, input: "x" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.code).toBe("previous_response_not_found");
    expect(error.param).toBe("previous_response_id");
  });

  test("a levity-stored response continued on an OpenAI upstream is rebuilt, not passed through", async () => {
    const first = await openai.responses.create({ model: "to-echo", input: "first turn" });
    await openai.responses.create({
      model: "to-openai",
      previous_response_id: first.id,
      input: "second turn",
    });
    expect(oa.last().path).toBe("/v1/chat/completions");
    expect(oa.last().json.messages.map((m: any) => m.content)).toEqual([
      "first turn",
      "first turn",
      "second turn",
    ]);
  });

  test("stored responses survive a restart", async () => {
    const first = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
    const before = new OpenAI({ apiKey: "x", baseURL: `${first.origin}/v1`, maxRetries: 0 });
    const stored = await before.responses.create({ model: "to-echo", input: "before the restart" });
    const second = await restartGateway(first);
    const after = new OpenAI({ apiKey: "x", baseURL: `${second.origin}/v1`, maxRetries: 0 });
    const continued = await after.responses.create({
      model: "to-openai",
      previous_response_id: stored.id,
      input: "after the restart",
    });
    expect(continued.previous_response_id).toBe(stored.id);
    expect(oa.last().json.messages.map((m: any) => m.content)).toEqual([
      "before the restart",
      "before the restart",
      "after the restart",
    ]);
    await second.stop();
  });
});

describe("tools", () => {
  test("parallel calls from an OpenAI upstream reach an Anthropic client as two tool_use blocks, and both results go back", async () => {
    const tools = [
      { name: "get_weather", input_schema: weather as Anthropic.Tool.InputSchema },
      { name: "get_time", input_schema: weather as Anthropic.Tool.InputSchema },
    ];
    const messages: Anthropic.MessageParam[] = [
      { role: "user", content: 'Call get_weather for "Paris" and get_time for "Tokyo".' },
    ];
    const first = await anthropic.messages
      .stream({ model: "to-openai", max_tokens: 256, messages, tools })
      .finalMessage();
    const uses = first.content.filter((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
    expect(uses.map((u) => [u.name, u.input])).toEqual([
      ["get_weather", { city: "Paris" }],
      ["get_time", { city: "Tokyo" }],
    ]);
    messages.push(
      { role: "assistant", content: first.content },
      {
        role: "user",
        content: uses.map((u) => ({
          type: "tool_result" as const,
          tool_use_id: u.id,
          content: `${u.name} done`,
        })),
      },
    );
    const second = await anthropic.messages.create({
      model: "to-openai",
      max_tokens: 256,
      messages,
      tools,
    });
    expect(second.content[0]).toMatchObject({
      text: "The tool returned: get_weather done | get_time done",
    });
    expect(
      oa
        .last()
        .json.messages.filter((m: any) => m.role === "tool")
        .map((m: any) => m.tool_call_id),
    ).toEqual(uses.map((u) => u.id));
  });

  test("Gemini function responses without ids are paired with their calls by name and order", async () => {
    const tools = [
      {
        functionDeclarations: [
          { name: "get_weather", parametersJsonSchema: weather },
          { name: "get_time", parametersJsonSchema: weather },
        ],
      },
    ];
    const contents: Content[] = [
      { role: "user", parts: [{ text: "go" }] },
      {
        role: "model",
        parts: [
          { functionCall: { name: "get_weather", args: { city: "A" } } },
          { functionCall: { name: "get_time", args: { city: "B" } } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "get_time", response: { result: "noon" } } },
          { functionResponse: { name: "get_weather", response: { result: "rain" } } },
        ],
      },
    ];
    await genai.models.generateContent({ model: "to-openai", contents, config: { tools } });
    const sent = oa.last().json.messages;
    const calls = sent[1].tool_calls.map((c: any) => [c.function.name, c.id]);
    const results = sent.slice(2).map((m: any) => [m.tool_call_id, m.content]);
    expect(results).toEqual([
      [calls[1][1], "noon"],
      [calls[0][1], "rain"],
    ]);
  });

  test("a custom (freeform) tool from a Responses client survives an Anthropic upstream both ways", async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: "custom", name: "apply_patch", description: "Apply a patch" },
    ];
    const first = await openai.responses.create({
      model: "to-anthropic",
      input: 'Call apply_patch with "*** Begin Patch"',
      tools,
      store: false,
    });
    const call = first.output.find(
      (item) => item.type === "custom_tool_call",
    ) as OpenAI.Responses.ResponseCustomToolCall;
    expect(call).toMatchObject({ name: "apply_patch", input: "*** Begin Patch" });
    expect(an.last().json.tools[0].input_schema.properties.input.type).toBe("string");
    const second = await openai.responses.create({
      model: "to-anthropic",
      store: false,
      tools,
      input: [
        { role: "user", content: 'Call apply_patch with "*** Begin Patch"' },
        call,
        { type: "custom_tool_call_output", call_id: call.call_id, output: "applied" },
      ],
    });
    expect(second.output_text).toContain("applied");
  });

  test("namespace tools (Codex's sub-agent tools) reach an upstream one by one, and their calls come back with the namespace", async () => {
    const tools = [
      {
        type: "namespace",
        name: "multi_agent_v1",
        description: "Sub-agents",
        tools: [{ type: "function", name: "spawn_agent", parameters: weather, strict: false }],
      },
    ] as unknown as OpenAI.Responses.Tool[];
    const done = await openai.responses.create({
      model: "to-anthropic",
      input: 'Call spawn_agent for "helper".',
      tools,
      store: false,
    });
    expect(an.last().json.tools.map((t: any) => t.name)).toEqual(["spawn_agent"]);
    expect(done.output.find((item) => item.type === "function_call")).toMatchObject({
      name: "spawn_agent",
      namespace: "multi_agent_v1",
      arguments: '{"city":"helper"}',
    });
  });

  test("tool choice and parallel calls map to each target's own form", async () => {
    const forced = { type: "function" as const, function: { name: "get_time" } };
    await openai.chat.completions.create({
      model: "to-anthropic",
      tool_choice: forced,
      parallel_tool_calls: false,
      messages: [{ role: "user", content: "x" }],
      tools: chatTools,
    });
    expect(an.last().json.tool_choice).toEqual({
      type: "tool",
      name: "get_time",
      disable_parallel_tool_use: true,
    });
    await openai.chat.completions.create({
      model: "to-gemini",
      tool_choice: forced,
      messages: [{ role: "user", content: "x" }],
      tools: chatTools,
    });
    expect(ge.last().json.toolConfig).toEqual({
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_time"] },
    });
    await anthropic.messages.create({
      model: "to-openai",
      max_tokens: 8,
      tool_choice: { type: "any" },
      messages: [{ role: "user", content: "x" }],
      tools: [{ name: "get_time", input_schema: weather as Anthropic.Tool.InputSchema }],
    });
    expect(oa.last().json.tool_choice).toBe("required");
    await genai.models.generateContent({
      model: "to-anthropic",
      contents: "x",
      config: {
        tools: [{ functionDeclarations: [{ name: "get_time", parametersJsonSchema: weather }] }],
        toolConfig: { functionCallingConfig: { mode: "NONE" as never } },
      },
    });
    expect(an.last().json.tool_choice).toEqual({ type: "none" });
  });

  test("a tool result that is an error reaches an OpenAI upstream as error text", async () => {
    const tools = [{ name: "get_weather", input_schema: weather as Anthropic.Tool.InputSchema }];
    const history = (result: Anthropic.ToolResultBlockParam): Anthropic.MessageParam[] => [
      { role: "user", content: "go" },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_err_1", name: "get_weather", input: { city: "X" } },
        ],
      },
      { role: "user", content: [result] },
    ];
    const failed: Anthropic.ToolResultBlockParam = {
      type: "tool_result",
      tool_use_id: "call_err_1",
      content: "city not found",
      is_error: true,
    };
    await anthropic.messages.create({
      model: "to-openai",
      max_tokens: 64,
      tools,
      messages: history(failed),
    });
    expect(oa.last().json.messages.at(-1)).toEqual({
      role: "tool",
      tool_call_id: "call_err_1",
      content: "Error: city not found",
    });
  });

  test("a Gemini upstream that streams a JSON array instead of SSE is read all the same", async () => {
    ge.replyOnce({
      status: 200,
      headers: { "content-type": "application/json; charset=UTF-8" },
      body: '[{"candidates":[{"content":{"role":"model","parts":[{"text":"from "}]},"index":0}]}\n,\r\n{"candidates":[{"content":{"role":"model","parts":[{"text":"an array"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5}}]',
    });
    const final = await openai.chat.completions
      .stream({
        model: "to-gemini",
        messages: [{ role: "user", content: "x" }],
        stream_options: { include_usage: true },
      })
      .finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe("from an array");
    expect(final.usage?.total_tokens).toBe(5);
  });

  test("tool schemas reach Gemini inside its subset ($schema, additionalProperties and type lists rewritten)", async () => {
    const parameters = {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      additionalProperties: false,
      properties: { city: { type: ["string", "null"] }, tags: { type: "array" } },
      required: ["city"],
    };
    await openai.chat.completions.create({
      model: "to-gemini",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "lookup", parameters } }],
    });
    expect(ge.last().json.tools[0].functionDeclarations[0].parameters).toEqual({
      type: "OBJECT",
      properties: {
        city: { type: "STRING", nullable: true },
        tags: { type: "ARRAY", items: { type: "STRING" } },
      },
      required: ["city"],
    });
  });
});

describe("images", () => {
  let images: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    images = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/red.png")
          return new Response(RED_PNG, { headers: { "content-type": "image/png" } });
        if (path === "/huge.png")
          return new Response(new Uint8Array(21 * 1024 * 1024), {
            headers: { "content-type": "image/png" },
          });
        return new Response("no", { status: 404 });
      },
    });
  });
  afterAll(() => images.stop(true));

  const ask = (url: string) =>
    openai.chat.completions.create({
      model: "to-gemini",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What color?" },
            { type: "image_url", image_url: { url } },
          ],
        },
      ],
    });

  test("a picture a tool returned reaches every upstream in that upstream's own place for it", async () => {
    const png = Buffer.from(RED_PNG).toString("base64");
    const ask = (model: string) =>
      anthropic.messages.create({
        model,
        max_tokens: 64,
        tools: [{ name: "read_file", input_schema: weather as Anthropic.Tool.InputSchema }],
        messages: [
          { role: "user", content: "Read red.png" },
          {
            role: "assistant",
            content: [
              { type: "tool_use", id: "call_img_1", name: "read_file", input: { city: "red.png" } },
            ],
          },
          {
            role: "user",
            content: [
              {
                type: "tool_result",
                tool_use_id: "call_img_1",
                content: [
                  { type: "text", text: "the file:" },
                  { type: "image", source: { type: "base64", media_type: "image/png", data: png } },
                ],
              },
            ],
          },
        ],
      });

    // Chat: the tool message says where the picture went; a user message right after holds it.
    await ask("to-openai");
    const messages = oa.last().json.messages;
    expect(messages.at(-2)).toEqual({
      role: "tool",
      tool_call_id: "call_img_1",
      content: "the file:\n[the tool returned an attachment: it follows in the next user message]",
    });
    expect(messages.at(-1)).toEqual({
      role: "user",
      content: [
        { type: "text", text: "Attachments the tool call call_img_1 returned:" },
        { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
      ],
    });

    // Responses: the function call's output is a list of parts, the picture among them.
    await ask("to-openai-responses");
    const output = oa.last().json.input.find((i: any) => i.type === "function_call_output");
    expect(output).toEqual({
      type: "function_call_output",
      call_id: "call_img_1",
      output: [
        { type: "input_text", text: "the file:" },
        { type: "input_image", image_url: `data:image/png;base64,${png}`, detail: "auto" },
      ],
    });

    // Gemini: the function response, then the picture as a part of the same turn.
    await ask("to-gemini");
    const last = ge.last().json.contents.at(-1);
    expect(last.parts[0].functionResponse).toMatchObject({
      name: "read_file",
      response: { result: "the file:" },
    });
    expect(last.parts[1]).toEqual({ inlineData: { mimeType: "image/png", data: png } });
  });

  test("an image URL going to Gemini is fetched and inlined", async () => {
    const done = await ask(`http://127.0.0.1:${images.port}/red.png`);
    expect(done.choices[0]!.message.content).toBe("Red");
    expect(ge.last().json.contents[0].parts[1].inlineData).toEqual({
      mimeType: "image/png",
      data: RED_PNG.toString("base64"),
    });
  });

  test("an image over Gemini's 20 MB inline cap is refused, in the words every unusable image URL gets", async () => {
    const error = await ask(`http://127.0.0.1:${images.port}/huge.png`).catch((e) => e);
    expect(error.status).toBe(400);
    expect(error.message).toContain("not an image within the limits");
  });

  test("an image URL that does not answer is a 400 naming it", async () => {
    const error = await ask(`http://127.0.0.1:${images.port}/missing.png`).catch((e) => e);
    expect(error.status).toBe(400);
    expect(error.message).toContain("/missing.png");
  });

  test("an image URL goes to Anthropic as a URL source, untouched", async () => {
    await openai.chat.completions.create({
      model: "to-anthropic",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "x" },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } },
          ],
        },
      ],
    });
    // The last block of the last user turn also carries levity's automatic cache breakpoint.
    expect(an.last().json.messages[0].content[1]).toEqual({
      type: "image",
      source: { type: "url", url: "https://example.com/a.png" },
      cache_control: { type: "ephemeral" },
    });
  });
});

describe("upstream errors in the client's shape", () => {
  test("Gemini's 429 reaches an OpenAI client as a RateLimitError with RetryInfo as Retry-After", async () => {
    ge.replyOnce({
      status: 429,
      body: JSON.stringify({
        error: {
          code: 429,
          message: "Quota exceeded for metric: generate_content_requests",
          status: "RESOURCE_EXHAUSTED",
          details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "30s" }],
        },
      }),
    });
    const error = await openai.chat.completions
      .create({ model: "to-gemini", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.message).toContain("Quota exceeded");
    expect(error.headers.get("retry-after")).toBe("30");
  });

  test("OpenAI's 429 with retry-after-ms reaches an Anthropic client as rate_limit_error with Retry-After in seconds", async () => {
    oa.replyOnce({
      status: 429,
      headers: { "retry-after-ms": "1500" },
      body: JSON.stringify({
        error: {
          message: "Rate limit reached",
          type: "requests",
          param: null,
          code: "rate_limit_exceeded",
        },
      }),
    });
    const error = await anthropic.messages
      .create({ model: "to-openai", max_tokens: 8, messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(error.type).toBe("rate_limit_error");
    expect(error.headers.get("retry-after")).toBe("2");
  });

  test("Anthropic's 529 is overloaded_error for an Anthropic client's peers: 503 UNAVAILABLE for Gemini, 503 for OpenAI", async () => {
    const overloaded = {
      status: 529,
      body: JSON.stringify({
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" },
      }),
    };
    an.replyOnce(overloaded);
    const gemini = await genai.models
      .generateContent({ model: "to-anthropic", contents: "x" })
      .catch((e) => e);
    expect(gemini).toBeInstanceOf(ApiError);
    expect(gemini.status).toBe(503);
    expect(JSON.parse(gemini.message).error.status).toBe("UNAVAILABLE");
    await resetAccounts(gw.origin);
    an.replyOnce(overloaded);
    const chat = await openai.chat.completions
      .create({ model: "to-anthropic", messages: [{ role: "user", content: "x" }] })
      .catch((e) => e);
    expect(chat.status).toBe(503);
    expect(chat.message).toContain("Overloaded");
  });

  test("a mid-stream error reaches a streaming OpenAI client as an error, not a quiet end", async () => {
    an.replyOnce({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body:
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n' +
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial "}}\n\n' +
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded mid-stream"}}\n\n',
    });
    const stream = await openai.chat.completions.create({
      model: "to-anthropic",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    const { text, error } = await readChatStream(stream);
    expect(text).toBe("partial ");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.message).toContain("Overloaded mid-stream");
  });

  test("a stream the upstream cuts before it finishes becomes an error event for an Anthropic client", async () => {
    ge.replyOnce({
      status: 200,
      headers: { "content-type": "text/event-stream" },
      body: 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"half"}]},"index":0}]}\r\n\r\n',
    });
    const error = await anthropic.messages
      .stream({ model: "to-gemini", max_tokens: 64, messages: [{ role: "user", content: "x" }] })
      .finalMessage()
      .catch((e) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error.message).toContain("finishReason");
  });
});

describe("request fields clamped or defaulted for the target", () => {
  test("temperature 1.7 reaches Anthropic as 1, max_tokens defaults, stop sequences pass", async () => {
    await openai.chat.completions.create({
      model: "to-anthropic",
      temperature: 1.7,
      stop: ["END"],
      messages: [{ role: "user", content: "x" }],
    });
    expect(an.last().json).toMatchObject({
      temperature: 1,
      max_tokens: 8192,
      stop_sequences: ["END"],
    });
  });

  test("a thinking budget above max_tokens raises max_tokens for Anthropic and drops temperature", async () => {
    await openai.chat.completions.create({
      model: "to-anthropic",
      reasoning_effort: "high",
      max_completion_tokens: 1000,
      temperature: 0.5,
      messages: [{ role: "user", content: "x" }],
    });
    const sent = an.last().json;
    expect(sent.thinking).toEqual({ type: "enabled", budget_tokens: 24576 });
    expect(sent.max_tokens).toBeGreaterThan(24576);
    expect(sent.temperature).toBeUndefined();
  });

  test("Gemini gets at most 5 stop sequences and the schema for JSON output", async () => {
    await openai.chat.completions.create({
      model: "to-gemini",
      stop: ["a", "b", "c", "d"],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "answer",
          schema: {
            type: "object",
            properties: { n: { type: "integer" } },
            additionalProperties: false,
          },
        },
      },
      messages: [{ role: "user", content: "x" }],
    });
    expect(ge.last().json.generationConfig).toMatchObject({
      stopSequences: ["a", "b", "c", "d"],
      responseMimeType: "application/json",
      responseSchema: { type: "OBJECT", properties: { n: { type: "INTEGER" } } },
    });
  });

  test("JSON output to Anthropic uses output_config.format", async () => {
    await openai.chat.completions.create({
      model: "to-anthropic",
      response_format: {
        type: "json_schema",
        json_schema: { name: "a", schema: { type: "object" } },
      },
      messages: [{ role: "user", content: "x" }],
    });
    expect(an.last().json.output_config).toEqual({
      format: { type: "json_schema", schema: { type: "object" } },
    });
  });

  test("Responses egress (wire_api: responses) sends instructions, flat tools and reasoning with encrypted content", async () => {
    const done = await anthropic.messages.create({
      model: "to-openai-responses",
      max_tokens: 2048,
      system: "be brief",
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [
        { role: "user", content: "Reply with exactly this text and nothing else: via responses" },
      ],
    });
    expect(done.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    expect(oa.last().path).toBe("/v1/responses");
    expect(oa.last().json).toMatchObject({
      instructions: "be brief",
      store: false,
      include: ["reasoning.encrypted_content"],
      reasoning: { effort: "low", summary: "auto" },
    });
  });

  test("a limit under OpenAI's minimum of 16 output tokens is raised to 16 for a Responses upstream", async () => {
    // Claude Code's quota probe asks for one token; OpenAI refuses max_output_tokens below 16.
    const done = await anthropic.messages.create({
      model: "to-openai-responses",
      max_tokens: 1,
      messages: [{ role: "user", content: "quota" }],
    });
    expect(oa.last().json.max_output_tokens).toBe(16);
    expect(done.content).toEqual([
      expect.objectContaining({ type: "text", text: "pong from gpt-5-real: quota" }),
    ]);
    const gemini = await genai.models.generateContent({
      model: "to-openai-responses",
      contents: "quota",
      config: { maxOutputTokens: 20 },
    });
    expect(oa.last().json.max_output_tokens).toBe(20);
    expect(gemini.text).toBe("pong from gpt-5-real: quota");
  });
});

describe("usage and stop reasons are mapped by the table", () => {
  test("Anthropic cache reads count in OpenAI's prompt_tokens and as cached_tokens", async () => {
    an.replyOnce({
      status: 200,
      body: JSON.stringify({
        id: "msg_u",
        type: "message",
        role: "assistant",
        model: "m",
        content: [{ type: "text", text: "hi" }],
        stop_reason: "max_tokens",
        stop_sequence: null,
        usage: {
          input_tokens: 20,
          cache_read_input_tokens: 100,
          cache_creation_input_tokens: 5,
          output_tokens: 30,
        },
      }),
    });
    const done = await openai.chat.completions.create({
      model: "to-anthropic",
      messages: [{ role: "user", content: "x" }],
    });
    expect(done.usage).toMatchObject({
      prompt_tokens: 125,
      completion_tokens: 30,
      total_tokens: 155,
      prompt_tokens_details: { cached_tokens: 100 },
    });
    expect(done.choices[0]!.finish_reason).toBe("length");
  });

  test("Gemini's thoughts count in Anthropic's output_tokens; MAX_TOKENS is max_tokens", async () => {
    ge.replyOnce({
      status: 200,
      body: JSON.stringify({
        candidates: [
          {
            content: { role: "model", parts: [{ text: "cut" }] },
            finishReason: "MAX_TOKENS",
            index: 0,
          },
        ],
        usageMetadata: {
          promptTokenCount: 7,
          candidatesTokenCount: 10,
          thoughtsTokenCount: 40,
          totalTokenCount: 57,
        },
      }),
    });
    const done = await anthropic.messages.create({
      model: "to-gemini",
      max_tokens: 64,
      messages: [{ role: "user", content: "x" }],
    });
    expect(done.usage).toMatchObject({ input_tokens: 7, output_tokens: 50 });
    expect(done.stop_reason).toBe("max_tokens");
  });

  test("a max_tokens stop is an incomplete Response for a Responses client", async () => {
    an.replyOnce({
      status: 200,
      body: JSON.stringify({
        id: "msg_l",
        type: "message",
        role: "assistant",
        model: "m",
        content: [{ type: "text", text: "cut" }],
        stop_reason: "max_tokens",
        stop_sequence: null,
        usage: { input_tokens: 3, output_tokens: 4 },
      }),
    });
    const done = await openai.responses.create({ model: "to-anthropic", input: "x", store: false });
    expect(done.status).toBe("incomplete");
    expect(done.incomplete_details).toEqual({ reason: "max_output_tokens" });
  });

  test("an OpenAI length finish with reasoning tokens reaches a Gemini client as MAX_TOKENS with thoughts counted apart", async () => {
    oa.replyOnce({
      status: 200,
      body: JSON.stringify({
        id: "c",
        object: "chat.completion",
        created: 1,
        model: "m",
        choices: [
          { index: 0, message: { role: "assistant", content: "cut" }, finish_reason: "length" },
        ],
        usage: {
          prompt_tokens: 3,
          completion_tokens: 4,
          total_tokens: 7,
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      }),
    });
    const gemini = await genai.models.generateContent({ model: "to-openai", contents: "x" });
    expect(String(gemini.candidates![0]!.finishReason)).toBe("MAX_TOKENS");
    expect(gemini.usageMetadata).toMatchObject({
      promptTokenCount: 3,
      candidatesTokenCount: 2,
      thoughtsTokenCount: 2,
      totalTokenCount: 7,
    });
  });
});

describe("count_tokens", () => {
  test("an Anthropic client's count goes to Gemini's own countTokens", async () => {
    const { data, response } = await anthropic.messages
      .countTokens({ model: "to-gemini", messages: [{ role: "user", content: "count me" }] })
      .withResponse();
    expect(data.input_tokens).toBe(7);
    expect(response.headers.get("x-levity-token-count")).toBeNull();
    expect(ge.last().path).toBe("/v1beta/models/gemini-real:countTokens");
    expect(ge.last().json.generateContentRequest.contents[0].parts[0].text).toBe("count me");
  });

  test("a Gemini client's count goes to Anthropic's count_tokens", async () => {
    const counted = await genai.models.countTokens({ model: "to-anthropic", contents: "count me" });
    expect(counted.totalTokens).toBe(42);
    expect(an.last().path).toBe("/v1/messages/count_tokens");
    expect(an.last().json.max_tokens).toBeUndefined();
  });

  test("an upstream without a count endpoint gets a tokenizer estimate, marked as one, never zero", async () => {
    const { data, response } = await anthropic.messages
      .countTokens({
        model: "to-openai",
        messages: [{ role: "user", content: "The quick brown fox jumps over the lazy dog." }],
      })
      .withResponse();
    expect(response.headers.get("x-levity-token-count")).toBe("estimate");
    expect(data.input_tokens).toBeGreaterThanOrEqual(10);
    expect(data.input_tokens).toBeLessThan(30);
  });
});

describe("framing", () => {
  test("a Gemini client without alt=sse gets a JSON array from a translated upstream", async () => {
    const response = await fetch(`${gw.origin}/v1beta/models/to-anthropic:streamGenerateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "array please" }] }] }),
    });
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const chunks = (await bodyOf(response)) as any[];
    expect(
      chunks.map((c) => c.candidates[0].content.parts.map((p: Part) => p.text).join("")).join(""),
    ).toBe("pong from claude-real: array please");
    expect(chunks.at(-1).candidates[0].finishReason).toBe("STOP");
  });

  test("an Anthropic client's stream from OpenAI has event lines; an OpenAI client's from Anthropic ends in [DONE]", async () => {
    const toAnthropic = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({
        model: "to-openai",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const anthropicText = await toAnthropic.text();
    expect(
      anthropicText
        .split("\n\n")
        .filter(Boolean)
        .every((event) => event.startsWith("event: ")),
    ).toBe(true);
    const toOpenAI = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        model: "to-anthropic",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const openaiText = await toOpenAI.text();
    expect(openaiText).not.toContain("event:");
    expect(openaiText.endsWith("data: [DONE]\n\n")).toBe(true);
  });
});
