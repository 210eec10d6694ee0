import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startupBlock } from "../src/cli/startup-block.ts";
import { reasoningText } from "../src/codecs/openai-chat/wire.ts";
import { loadConfig } from "../src/config/load.ts";
import {
  adaptChatBody,
  compatOf,
  meansNoSuchRoute,
  profileFromBaseUrl,
} from "../src/codecs/openai-compatible/index.ts";
import { fakeCompatible, type CompatibleProvider } from "./support/fake-compatible.ts";
import { runLevity } from "./support/process.ts";
import {
  resetAccounts,
  startGateway,
  tempDir,
  upstreamsYaml,
  writeConfig,
  type UpstreamYaml,
} from "./support/gateway.ts";

/*
 * OpenAI-compatible upstreams as they are: most serve Chat Completions only, and each provider
 * differs from OpenAI in documented ways (test/support/fake-compatible.ts plays them).
 */

const CLIENT_KEY = "sk-compatible-client";
// Client keys never open the admin surface; the account resets between tests need this one.
const ADMIN_KEY = "sk-admin-key-0001";
const ACCOUNT_KEY = "sk-compatible-account";
const TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("what an openai upstream serves natively", () => {
  const load = (upstream: string) => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: `upstreams:\n  - name: up\n    protocol: openai\n${upstream}    accounts: [{ name: a, key: sk-aaaaaaaaaaaa }]\n`,
    });
    return loadConfig({ dir, env: {} });
  };
  test.each([
    ["OpenAI's own API", "", ["chat", "responses", "completions"], "openai"],
    [
      "Azure OpenAI",
      "    base_url: https://team.openai.azure.com/openai/v1\n",
      ["chat", "responses", "completions"],
      "azure",
    ],
    ["DeepSeek", "    base_url: https://api.deepseek.com/v1\n", ["chat"], "deepseek"],
    ["Ollama, by its port", "    base_url: http://localhost:11434/v1\n", ["chat"], "ollama"],
    ["an unknown host", "    base_url: http://10.0.0.5:8000/v1\n", ["chat"], "generic"],
    [
      "a written wire_api",
      "    base_url: http://10.0.0.5:8000/v1\n    wire_api: responses\n",
      ["chat", "responses"],
      "generic",
    ],
    [
      "written apis",
      "    base_url: https://api.openai.com/v1\n    apis: [chat]\n",
      ["chat"],
      "openai",
    ],
    [
      "a written profile",
      "    base_url: http://10.0.0.5:8000/v1\n    profile: mistral\n",
      ["chat"],
      "mistral",
    ],
  ])("%s", (_name, yaml, apis, profile) => {
    const upstream = load(yaml).upstreams[0]!;
    expect(upstream.openai?.apis).toEqual(apis as never);
    expect(upstream.openai?.profile).toBe(profile as never);
  });

  test("a wire_api that apis does not list, and openai keys on another protocol, are refused with their lines", () => {
    expect(() =>
      load("    base_url: http://10.0.0.5:8000/v1\n    apis: [chat]\n    wire_api: responses\n"),
    ).toThrow(/wire_api.*is responses, which apis does not list/s);
    const dir = tempDir();
    writeConfig(dir, {
      gateway:
        "upstreams:\n  - name: an\n    protocol: anthropic\n    apis: [chat]\n    accounts: [{ name: a, key: sk-aaaaaaaaaaaa }]\n",
    });
    expect(() => loadConfig({ dir, env: {} })).toThrow(/apis.*applies to openai upstreams only/s);
  });

  test("levity check and the start-up block say per upstream what is forwarded and what is translated", async () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway:
        "upstreams:\n  - name: deepseek\n    protocol: openai\n    base_url: https://api.deepseek.com/v1\n    accounts: [{ name: a, key: sk-aaaaaaaaaaaa }]\n" +
        "  - name: official\n    protocol: openai\n    accounts: [{ name: a, key: sk-aaaaaaaaaaaa }]\n" +
        "  - name: local\n    protocol: openai\n    base_url: http://127.0.0.1:8000/v1\n    apis: [chat, responses]\n    profile: mistral\n    accounts: [{ name: a, key: sk-aaaaaaaaaaaa }]\n",
    });
    const check = await runLevity(["check", "--config", dir]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(
      "upstream deepseek: forwards chat (default: chat only; set apis: to forward more); translates responses, completions through chat; profile deepseek (from the base URL)",
    );
    expect(check.stdout).toContain(
      "upstream official: forwards chat, responses, completions (openai serves all three); profile openai (from the base URL)",
    );
    expect(check.stdout).toContain(
      "upstream local: forwards chat, responses (apis); translates completions through chat; profile mistral\n",
    );
    const block = startupBlock(
      loadConfig({ dir, env: {} }),
      { dir, reason: "--config" },
      { hostname: "127.0.0.1", port: 8045 },
    );
    expect(block).toContain(
      "deepseek: openai at https://api.deepseek.com/v1, 1 account\n             forwards chat (default: chat only",
    );
  });

  test("compat overrides one difference of the profile", () => {
    const upstream = load(
      "    base_url: https://api.deepseek.com/v1\n    compat: { stream_options: false, reasoning_echo: always }\n",
    ).upstreams[0]!;
    expect(upstream.openai?.compat).toEqual({
      ...compatOf("deepseek"),
      streamOptions: false,
      reasoningEcho: "always",
    });
  });
});

describe("pure rules", () => {
  test.each([
    ["https://api.openai.com/v1", "openai"],
    ["https://x.openai.azure.com/openai/v1", "azure"],
    ["https://api.deepseek.com", "deepseek"],
    ["https://api.moonshot.ai/v1", "moonshot"],
    ["https://api.x.ai/v1", "xai"],
    ["https://api.mistral.ai/v1", "mistral"],
    ["https://open.bigmodel.cn/api/paas/v4", "zhipu"],
    ["https://api.groq.com/openai/v1", "groq"],
    ["https://openrouter.ai/api/v1", "openrouter"],
    ["http://127.0.0.1:11434/v1", "ollama"],
    ["https://notdeepseek.com/v1", "generic"],
  ])("the profile of %s is %s", (url, profile) =>
    expect(profileFromBaseUrl(url)).toBe(profile as never),
  );

  test.each([
    [
      404,
      '{"error":{"message":"Unknown request URL: POST /v1/responses.","code":"unknown_url"}}',
      true,
    ],
    [404, "404 page not found", true],
    [404, '{"detail":"Not Found"}', true],
    [405, '{"error":"Method Not Allowed"}', true],
    [
      404,
      '{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","code":"model_not_found"}}',
      false,
    ],
    [
      404,
      '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}',
      false,
    ],
    [400, '{"error":{"message":"Unknown request URL"}}', false],
    // OpenAI's own answer for a path it does not have, and Azure's.
    [
      404,
      '{"error":{"message":"Invalid URL (POST /v1/responses)","type":"invalid_request_error","param":null,"code":null}}',
      true,
    ],
    [404, '{"error":{"code":"404","message":"Resource not found"}}', true],
    // Something the request names, not the route: a stored response the account does not hold,
    // an item of a conversation that was not stored.
    [
      404,
      '{"error":{"message":"Previous response with id \'resp_abc\' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}',
      false,
    ],
    [
      404,
      '{"error":{"message":"Item with id \'rs_abc\' not found. Items are not persisted when `store` is set to false.","type":"invalid_request_error","param":"input","code":null}}',
      false,
    ],
    [404, '{"error":{"message":"No such file","code":"file_not_found"}}', false],
  ])("a %i answering %s means no such route: %p", (status, body, expected) =>
    expect(meansNoSuchRoute(status, body)).toBe(expected),
  );

  test("reasoning is read from reasoning_content, reasoning, or OpenRouter's reasoning_details", () => {
    expect(reasoningText({ reasoning_content: "a" })).toBe("a");
    expect(reasoningText({ reasoning: "b" })).toBe("b");
    expect(
      reasoningText({
        reasoning_details: [
          { type: "reasoning.text", text: "c" },
          { type: "reasoning.summary", summary: "d" },
          { type: "reasoning.encrypted", data: "x" },
        ],
      }),
    ).toBe("cd");
    expect(reasoningText({ content: "no reasoning" })).toBeUndefined();
  });

  test("adaptChatBody renames what a provider lacks and leaves a suitable body alone", () => {
    const body = {
      model: "m",
      max_completion_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: "developer", content: "be brief" },
        { role: "user", content: "hi" },
      ],
    };
    expect(adaptChatBody(body, compatOf("mistral"))).toEqual({
      model: "m",
      max_tokens: 5,
      stream: true,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
    });
    expect(adaptChatBody(body, compatOf("openai"))).toBeUndefined();
    expect(
      adaptChatBody(
        { model: "m", messages: [{ role: "user", content: "hi" }] },
        compatOf("deepseek"),
      ),
    ).toBeUndefined();
  });
});

// The fakes listen on loopback, so the profile a real provider gets from its host is written here.
const PROFILE: Partial<Record<CompatibleProvider, string>> = {
  deepseek: "deepseek",
  mistral: "mistral",
  azure: "azure",
  xai: "xai",
  moonshot: "moonshot",
};

/** A gateway in front of one provider fake; every client model maps to `model` there. */
function providerGateway(
  provider: CompatibleProvider,
  model = "chat-model",
  extra: Partial<UpstreamYaml> = {},
) {
  const fake = fakeCompatible(ACCOUNT_KEY, provider);
  const upstream: UpstreamYaml = {
    name: "up",
    protocol: "openai",
    base_url: `${fake.url}/v1`,
    profile: PROFILE[provider],
    ...extra,
    accounts: [{ name: "acct", key: ACCOUNT_KEY }],
  };
  const gw = startGateway({
    gateway:
      `proxy:\n  cooldown_wait: 0\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n  admin_key: ${ADMIN_KEY}\n` +
      upstreamsYaml([upstream]),
    mappings: `default: up/${model}\n`,
  });
  return {
    fake,
    gw,
    openai: new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.origin, maxRetries: 0 }),
    genai: new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: gw.origin } }),
    paths: () => fake.requests.map((r) => r.path),
    async stop() {
      await gw.stop();
      await fake.stop();
    },
  };
}

describe("a chat-only upstream serves every client", () => {
  let setup: ReturnType<typeof providerGateway>;
  beforeAll(() => (setup = providerGateway("generic")));
  afterAll(() => setup.stop());
  afterEach(() => resetAccounts(setup.gw.origin, ADMIN_KEY));

  test("OpenAI chat is forwarded", async () => {
    const chat = await setup.openai.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hello" }],
    });
    expect(chat.choices[0]!.message.content).toBe("pong from chat-model: hello");
  });

  test("Responses, plain and with the stream helper, go through chat", async () => {
    const response = await setup.openai.responses.create({ model: "m", input: "plain" });
    expect(response.output_text).toBe("pong from chat-model: plain");
    const final = await setup.openai.responses
      .stream({ model: "m", input: "streamed" })
      .finalResponse();
    expect(final.output_text).toBe("pong from chat-model: streamed");
    expect(final.usage?.input_tokens).toBeGreaterThan(0);
    expect(setup.paths().every((p) => p === "/v1/chat/completions")).toBe(true);
  });

  test("Responses: a function call round trip and previous_response_id", async () => {
    const tools = [
      {
        type: "function" as const,
        name: "get_weather",
        description: "Weather for a city",
        parameters: TOOL.function.parameters,
        strict: false,
      },
    ];
    const first = await setup.openai.responses.create({
      model: "m",
      input: 'Call get_weather for "Paris".',
      tools,
    });
    const call = first.output.find((item) => item.type === "function_call");
    expect(call?.type === "function_call" && JSON.parse(call.arguments)).toEqual({ city: "Paris" });
    if (call?.type !== "function_call") throw new Error("no call");
    const second = await setup.openai.responses.create({
      model: "m",
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: '{"temp_c":21}' }],
      tools,
    });
    expect(second.output_text).toBe('The tool returned: {"temp_c":21}');
    // The history levity stored went upstream as chat: the call, then its result.
    const sent = setup.fake.last().json.messages;
    expect(sent.at(-2).tool_calls[0].id).toBe(call.call_id);
    expect(sent.at(-1)).toEqual({
      role: "tool",
      tool_call_id: call.call_id,
      content: '{"temp_c":21}',
    });
  });

  test("Completions go through chat", async () => {
    const completion = await setup.openai.completions.create({ model: "m", prompt: "legacy" });
    expect(completion.choices[0]!.text).toBe("pong from chat-model: legacy");
    const streamed = await setup.openai.completions.create({
      model: "m",
      prompt: "streamed legacy",
      stream: true,
    });
    let text = "";
    for await (const chunk of streamed) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe("pong from chat-model: streamed legacy");
    expect(setup.fake.last().path).toBe("/v1/chat/completions");
  });

  test("the Anthropic and Gemini SDKs", async () => {
    const message = await setup.anthropic.messages.create({
      model: "claude-x",
      max_tokens: 50,
      messages: [{ role: "user", content: "from claude" }],
    });
    expect(message.content[0]!.type === "text" && message.content[0]!.text).toBe(
      "pong from chat-model: from claude",
    );
    const gemini = await setup.genai.models.generateContent({
      model: "gemini-x",
      contents: "from gemini",
    });
    expect(gemini.text).toBe("pong from chat-model: from gemini");
  });
});

describe("an upstream listed as serving Responses that has no such route", () => {
  /** The upstream's next answer: a 404 carrying this OpenAI error. */
  const answers404Once = (setup: ReturnType<typeof providerGateway>, error: object) =>
    setup.fake.replyOnce({ status: 404, body: JSON.stringify({ error }) });

  for (const provider of ["generic", "ollama", "vllm"] as const) {
    test(`${provider}: the 404 never reaches the client, the next requests go straight to chat, and the log says what to write`, async () => {
      const setup = providerGateway(provider, "chat-model", {
        apis: ["chat", "responses", "completions"],
      });
      try {
        const first = await setup.openai.responses.create({ model: "m", input: "one" });
        expect(first.output_text).toBe("pong from chat-model: one");
        expect(setup.paths()).toEqual(["/v1/responses", "/v1/chat/completions"]);
        const second = await setup.openai.responses
          .stream({ model: "m", input: "two" })
          .finalResponse();
        expect(second.output_text).toBe("pong from chat-model: two");
        expect(setup.paths().slice(2)).toEqual(["/v1/chat/completions"]);
        const warnings = setup.gw.log.lines.filter((line) => line.includes("has no responses API"));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain("apis: [chat, completions]");
        // The account was not blamed for the missing route.
        const accounts = await (
          await fetch(`${setup.gw.origin}/levity/accounts`, {
            headers: { authorization: `Bearer ${ADMIN_KEY}` },
          })
        ).json();
        expect(JSON.stringify(accounts)).not.toMatch(/cooling|disabled/);
      } finally {
        await setup.stop();
      }
    });
  }

  test("a 404 about a stored response the account does not hold is the client's answer, and the upstream keeps its Responses API", async () => {
    const setup = providerGateway("generic", "chat-model", { apis: ["chat", "responses"] });
    try {
      answers404Once(setup, {
        message: "Previous response with id 'resp_gone' not found.",
        type: "invalid_request_error",
        param: "previous_response_id",
        code: "previous_response_not_found",
      });
      const error = await setup.openai.responses
        .create({ model: "m", input: "x", previous_response_id: "resp_gone" })
        .catch((e) => e);
      expect(error.status).toBe(404);
      expect(error.code).toBe("previous_response_not_found");
      // Not sent on through chat, which holds no stored responses either.
      expect(setup.paths()).toEqual(["/v1/responses"]);
      // The next Responses request still asks the upstream's Responses API first (this fake has
      // none, so that one then finds the route missing and goes through chat).
      await setup.openai.responses.create({ model: "m", input: "y" });
      expect(setup.paths()).toEqual(["/v1/responses", "/v1/responses", "/v1/chat/completions"]);
    } finally {
      await setup.stop();
    }
  });

  test("a 404 about the model is the client's answer, not a missing route", async () => {
    const setup = providerGateway("generic", "chat-model", { apis: ["chat", "responses"] });
    try {
      answers404Once(setup, {
        message: "The model `chat-model` does not exist",
        type: "invalid_request_error",
        code: "model_not_found",
      });
      const error = await setup.openai.responses.create({ model: "m", input: "x" }).catch((e) => e);
      expect(error.status).toBe(404);
      expect(error.message).toContain("does not exist");
      expect(setup.paths()).toEqual(["/v1/responses"]);
    } finally {
      await setup.stop();
    }
  });
});

describe("providers' documented differences", () => {
  test("DeepSeek: a developer message forwarded from a chat client goes as system", async () => {
    const setup = providerGateway("deepseek");
    try {
      const chat = await setup.openai.chat.completions.create({
        model: "m",
        messages: [
          { role: "developer", content: "Begin every reply with the word DEV." },
          { role: "user", content: "hi" },
        ],
      });
      expect(chat.choices[0]!.message.content).toBe("DEV pong from chat-model: hi");
      expect(setup.fake.last().json.messages[0].role).toBe("system");
    } finally {
      await setup.stop();
    }
  });

  test("DeepSeek thinking mode: a tool-calling turn goes back with its reasoning_content (Anthropic client, Claude Code's loop)", async () => {
    const setup = providerGateway("deepseek", "deepseek-reasoner");
    try {
      const tools = [
        {
          name: "get_weather",
          description: "Weather",
          input_schema: TOOL.function.parameters as { type: "object" },
        },
      ];
      const messages: Anthropic.MessageParam[] = [
        { role: "user", content: 'Call get_weather for "Oslo".' },
      ];
      const first = await setup.anthropic.messages
        .stream({
          model: "claude-x",
          max_tokens: 2000,
          thinking: { type: "enabled", budget_tokens: 1024 },
          tools,
          messages,
        })
        .finalMessage();
      const thinking = first.content.find((b) => b.type === "thinking");
      const use = first.content.find((b) => b.type === "tool_use");
      expect(thinking?.type === "thinking" && thinking.thinking).toContain("Thinking about");
      expect(use?.type === "tool_use" && use.input).toEqual({ city: "Oslo" });
      messages.push(
        { role: "assistant", content: first.content as Anthropic.ContentBlockParam[] },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: use!.type === "tool_use" ? use!.id : "",
              content: "12 C",
            },
          ],
        },
      );
      const second = await setup.anthropic.messages.create({
        model: "claude-x",
        max_tokens: 2000,
        thinking: { type: "enabled", budget_tokens: 1024 },
        tools,
        messages,
      });
      expect(second.content.find((b) => b.type === "text")).toMatchObject({
        text: "The tool returned: 12 C",
      });
      const assistant = setup.fake.last().json.messages.find((m: any) => m.role === "assistant");
      expect(assistant.reasoning_content).toContain("Thinking about");
    } finally {
      await setup.stop();
    }
  });

  test("Mistral: no stream_options or max_completion_tokens, and whole tool calls without index stay apart", async () => {
    const setup = providerGateway("mistral");
    try {
      // Forwarded chat with what Mistral refuses: renamed or left out.
      const stream = await setup.openai.chat.completions.create({
        model: "m",
        max_completion_tokens: 50,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "hi" }],
      });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      expect(text).toBe("pong from chat-model: hi");
      expect(setup.fake.last().json.max_tokens).toBe(50);
      // Translated: two calls in one chunk, neither with an index.
      const message = await setup.anthropic.messages
        .stream({
          model: "claude-x",
          max_tokens: 100,
          tools: [
            { name: "get_weather", input_schema: TOOL.function.parameters as { type: "object" } },
            { name: "get_time", input_schema: TOOL.function.parameters as { type: "object" } },
          ],
          messages: [
            { role: "user", content: 'Call get_weather for "Paris" and get_time for "Tokyo".' },
          ],
        })
        .finalMessage();
      const uses = message.content.filter((b) => b.type === "tool_use");
      expect(uses.map((u) => u.type === "tool_use" && [u.name, u.input])).toEqual([
        ["get_weather", { city: "Paris" }],
        ["get_time", { city: "Tokyo" }],
      ]);
      expect(setup.fake.last().json.stream_options).toBeUndefined();
      expect(message.usage.output_tokens).toBeGreaterThan(0);
    } finally {
      await setup.stop();
    }
  });

  test("Mistral's reasoning models: thinking and text from content given as a list of chunks, whole and streamed", async () => {
    const setup = providerGateway("mistral", "magistral-medium");
    try {
      const whole = await setup.anthropic.messages.create({
        model: "claude-x",
        max_tokens: 2000,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "hi" }],
      });
      expect(
        whole.content.map((b) =>
          b.type === "thinking"
            ? ["thinking", b.thinking]
            : b.type === "text"
              ? ["text", b.text]
              : [b.type],
        ),
      ).toEqual([
        ["thinking", "Thinking about: hi"],
        ["text", "pong from magistral-medium: hi"],
      ]);
      const response = await setup.openai.responses
        .stream({ model: "m", input: "third", reasoning: { effort: "low", summary: "auto" } })
        .finalResponse();
      expect(setup.fake.last().json.stream).toBe(true);
      expect(response.output_text).toBe("pong from magistral-medium: third");
      const reasoning = response.output.find((item) => item.type === "reasoning");
      expect(reasoning?.type === "reasoning" && reasoning.summary[0]?.text).toBe(
        "Thinking about: third",
      );
    } finally {
      await setup.stop();
    }
  });

  test("Kimi thinking mode: a tool-calling turn whose reasoning the client did not keep goes back with an empty reasoning_content", async () => {
    const setup = providerGateway("moonshot", "kimi-k2-thinking");
    try {
      const tools = [
        {
          name: "get_weather",
          description: "Weather",
          input_schema: TOOL.function.parameters as { type: "object" },
        },
      ];
      const message = await setup.anthropic.messages.create({
        model: "claude-x",
        max_tokens: 500,
        tools,
        messages: [
          { role: "user", content: 'Call get_weather for "Rome".' },
          {
            role: "assistant",
            content: [
              { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Rome" } },
            ],
          },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "call_1", content: "20 C" }],
          },
        ],
      });
      expect(message.content.find((b) => b.type === "text")).toMatchObject({
        text: "The tool returned: 20 C",
      });
      expect(
        setup.fake.last().json.messages.find((m: any) => m.role === "assistant").reasoning_content,
      ).toBe("");
    } finally {
      await setup.stop();
    }
  });

  test("Azure: the content-filter preamble does not become the answer's model or id", async () => {
    const setup = providerGateway("azure", "gpt-4o-deployment", { apis: ["chat"] });
    try {
      const message = await setup.anthropic.messages
        .stream({ model: "claude-x", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
        .finalMessage();
      expect(message.model).toBe("gpt-4o-deployment");
      expect(message.content[0]).toMatchObject({
        type: "text",
        text: "pong from gpt-4o-deployment: hi",
      });
      const gemini = await setup.genai.models.generateContentStream({
        model: "gemini-x",
        contents: "hi",
      });
      for await (const chunk of gemini) expect(chunk.modelVersion).toBe("gpt-4o-deployment");
    } finally {
      await setup.stop();
    }
  });

  test("xAI: output tokens include the reasoning its completion_tokens leaves out", async () => {
    const setup = providerGateway("xai", "grok-x");
    try {
      const message = await setup.anthropic.messages.create({
        model: "claude-x",
        max_tokens: 500,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: "one two three four five" }],
      });
      // The fake counts words: 7 of reasoning ("Thinking about: one … five"), 8 of text and 1; it reports completion_tokens 9.
      expect(message.usage.output_tokens).toBe(16);
      const response = await setup.openai.responses.create({
        model: "m",
        input: "one two three four five",
        reasoning: { effort: "low" },
      });
      expect(response.usage?.output_tokens).toBe(16);
      expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(7);
    } finally {
      await setup.stop();
    }
  });

  test("Moonshot: the usage it streams inside the last choice is the answer's usage", async () => {
    const setup = providerGateway("moonshot", "kimi-k2");
    try {
      const message = await setup.anthropic.messages
        .stream({ model: "claude-x", max_tokens: 50, messages: [{ role: "user", content: "hi" }] })
        .finalMessage();
      expect(message.usage.input_tokens).toBe(11);
      expect(message.usage.output_tokens).toBe(5);
    } finally {
      await setup.stop();
    }
  });
});
