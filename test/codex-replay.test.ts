import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeCompatible } from "./support/fake-compatible.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

/*
 * What the Codex CLI sends, without the CLI (test/codex-matrix.test.ts runs the CLI itself): every
 * request store: false with the whole conversation, include ["reasoning.encrypted_content"], and a
 * reasoning effort but, by default, no summary. So each reasoning item comes back as
 * `{"type":"reasoning","summary":[],"content":null,"encrypted_content":…}`, holding the signature
 * at most and never the text. Thinking must still reach the upstreams that need it back:
 * Anthropic checks the text against the signature (and wants it first in a tool loop's turn);
 * DeepSeek refuses a tool turn without its reasoning_content.
 */

const KEY = "sk-codex-replay-client";
const TOOLS = [
  {
    type: "function",
    name: "exec_command",
    description: "Runs a command.",
    strict: false,
    parameters: {
      type: "object",
      properties: { cmd: { type: "string" } },
      required: ["cmd"],
      additionalProperties: false,
    },
  },
];
const CALL = 'Call the exec_command tool with "printf hi"';

let gateway: TestGateway;
let anthropic: FakeUpstream;
let deepseek: FakeUpstream;

const gatewayFiles = () => ({
  gateway:
    `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n` +
    upstreamsYaml([
      {
        name: "anthropic",
        protocol: "anthropic",
        base_url: anthropic.url,
        accounts: [{ name: "a", key: "sk-replay-anthropic" }],
      },
      {
        name: "deepseek",
        protocol: "openai",
        base_url: `${deepseek.url}/v1`,
        profile: "deepseek",
        accounts: [{ name: "d", key: "sk-replay-deepseek" }],
      },
    ]),
  mappings:
    "exact:\n  to-anthropic: anthropic/claude-sonnet-4-5-real\n  to-deepseek: deepseek/deepseek-reasoner\n",
});

beforeAll(() => {
  anthropic = fakeAnthropic("sk-replay-anthropic");
  deepseek = fakeCompatible("sk-replay-deepseek", "deepseek");
  gateway = startGateway(gatewayFiles());
});

afterAll(async () => {
  await gateway.stop();
  await anthropic.stop();
  await deepseek.stop();
});

/**
 * One Codex-like request: the whole conversation so far, nothing stored. `fresh`: through a
 * gateway of its own, with an empty data directory, as after a restart or on another instance,
 * so nothing levity remembered can fill in what the client did not send.
 */
async function respond(model: string, input: unknown[], fresh = false): Promise<any> {
  const through = fresh ? startGateway(gatewayFiles()) : gateway;
  try {
    return await respondThrough(through, model, input);
  } finally {
    if (fresh) await through.stop();
  }
}

async function respondThrough(through: TestGateway, model: string, input: unknown[]): Promise<any> {
  const response = await fetch(`${through.origin}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      input,
      tools: TOOLS,
      tool_choice: "auto",
      reasoning: { effort: "high" },
      store: false,
      include: ["reasoning.encrypted_content"],
      stream: false,
    }),
  });
  const body = await response.json();
  if (response.status !== 200)
    throw new Error(`levity answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

const user = (text: string) => ({
  type: "message",
  role: "user",
  content: [{ type: "input_text", text }],
});

/** The output items as Codex keeps them and sends them back: reasoning without a summary, as encrypted_content only. */
function asCodexReplays(output: any[]): any[] {
  return output.map((item) =>
    item.type === "reasoning"
      ? {
          type: "reasoning",
          id: item.id,
          summary: [],
          content: null,
          encrypted_content: item.encrypted_content ?? null,
        }
      : item,
  );
}

/** A plain turn, then a tool loop: what Codex sends for each, and what the upstream got last. */
async function codexSession(model: string, fresh = false): Promise<void> {
  const first = [user("Reply with exactly this text and nothing else: ok")];
  const answered = await respond(model, first, fresh);
  expect(answered.output.some((item: any) => item.type === "reasoning")).toBe(true);
  const second = [...first, ...asCodexReplays(answered.output), user(CALL)];
  const called = await respond(model, second, fresh);
  const call = called.output.find((item: any) => item.type === "function_call");
  expect(call.name).toBe("exec_command");
  const third = [
    ...second,
    ...asCodexReplays(called.output),
    { type: "function_call_output", call_id: call.call_id, output: "hi" },
  ];
  const finished = await respond(model, third, fresh);
  expect(finished.output.at(-1).content[0].text).toContain("hi");
}

describe("Codex's store: false replays keep the thinking its upstream needs back", () => {
  for (const fresh of [false, true]) {
    test(`Anthropic${fresh ? ", every request through a gateway with nothing stored" : ""}: each turn's signed thinking goes back whole, and thinking stays on`, async () => {
      await codexSession("to-anthropic", fresh);
      const loop = anthropic.last().json;
      expect(loop.thinking?.type).toBe("enabled");
      const assistants = loop.messages.filter((m: any) => m.role === "assistant");
      // The text travelled in encrypted_content with its signature (the fake checks one against the other).
      expect(assistants.at(-1).content[0]).toMatchObject({
        type: "thinking",
        thinking: expect.stringContaining("Thinking about: Call the exec_command tool"),
      });
      expect(assistants[0].content[0]).toMatchObject({
        type: "thinking",
        thinking: expect.stringContaining("Thinking about: Reply with exactly"),
      });
    });
  }

  test("DeepSeek, every request through a gateway with nothing stored: the tool turn goes back with its reasoning_content", async () => {
    await codexSession("to-deepseek", true);
    const loop = deepseek.last().json;
    const turn = loop.messages.findLast((m: any) => m.role === "assistant" && m.tool_calls);
    expect(turn.reasoning_content).toContain("Thinking about: Call the exec_command tool");
  });

  test("DeepSeek: the tool turn goes back with its reasoning_content", async () => {
    await codexSession("to-deepseek");
    const loop = deepseek.last().json;
    const turn = loop.messages.findLast((m: any) => m.role === "assistant" && m.tool_calls);
    expect(turn.reasoning_content).toContain("Thinking about: Call the exec_command tool");
  });
});
