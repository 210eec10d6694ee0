import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI, type Content } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini, SKIP_SIGNATURE } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream, RecordedRequest } from "./support/fake-server.ts";
import {
  resetAccounts,
  restartGateway,
  startGateway,
  type TestGateway,
} from "./support/gateway.ts";

/*
 * Thinking signatures across failover: every fake here signs for its own name and model family
 * (and OpenAI for its organisation) and refuses any other signature with its provider's own
 * error, as the real ones do. What each fake received is searched for signatures it did not
 * issue; the retry on an invalid signature would hide such a leak from the client, so each
 * failover test also counts the requests each fake saw.
 */

let anA: FakeUpstream;
let anB: FakeUpstream;
let ge: FakeUpstream;
let oa: FakeUpstream;
let gw: TestGateway;
let anthropic: Anthropic;
let openai: OpenAI;
let genai: GoogleGenAI;

const ORGS = { "oa-1": "org-1", "oa-2": "org-1", "oa-3": "org-2" };

const GATEWAY = () => `proxy:
  cooldown_wait: 0
upstreams:
  - name: an-a
    protocol: anthropic
    base_url: ${anA.url}
    accounts:
      - { name: a, key: an-a }
  - name: an-b
    protocol: anthropic
    base_url: ${anB.url}
    accounts:
      - { name: b, key: an-b }
  - name: ge
    protocol: gemini
    base_url: ${ge.url}
    accounts:
      - { name: g, key: ge-a }
  - name: oa-orgs
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    strategy: fill_first
    accounts:
      - { name: first, key: oa-1, group: org-1 }
      - { name: other-org, key: oa-3, group: org-2 }
  - name: oa-orgs-r
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    wire_api: responses
    strategy: fill_first
    accounts:
      - { name: first, key: oa-1, group: org-1 }
      - { name: other-org, key: oa-3, group: org-2 }
  - name: oa-one-org
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    strategy: fill_first
    accounts:
      - { name: first, key: oa-1 }
      - { name: second, key: oa-2 }
`;

const MAPPINGS = `exact:
  claude-failover: [an-a/claude-x, an-b/claude-x]
  claude-x: an-a/claude-x
  claude-x-20250101: an-a/claude-x-20250101
  claude-y: an-a/claude-y
  gemini-then-claude: [ge/gemini-x, an-a/claude-x]
  claude-then-gemini: [an-a/claude-x, ge/gemini-x]
  gemini-x: ge/gemini-x
  gpt-orgs: oa-orgs/gpt-x
  gpt-one-org: oa-one-org/gpt-x
  gpt-orgs-r: oa-orgs-r/gpt-x
`;

beforeAll(() => {
  anA = fakeAnthropic("an-a", { signer: "an-a" });
  anB = fakeAnthropic("an-b", { signer: "an-b" });
  ge = fakeGemini("ge-a", { signer: "ge" });
  oa = fakeOpenAI(["oa-1", "oa-2", "oa-3"], { signer: "openai", organisations: ORGS });
  gw = startGateway({ gateway: GATEWAY(), mappings: MAPPINGS });
  anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([anA.stop(), anB.stop(), ge.stop(), oa.stop()]);
});
afterEach(() => resetAccounts(gw.origin));

const weather = { type: "object" as const, properties: { city: { type: "string" } } };
const tools: Anthropic.Tool[] = [{ name: "get_weather", input_schema: weather }];
const thinking = { type: "enabled" as const, budget_tokens: 1024 };
const serverError = {
  status: 500,
  body: JSON.stringify({ type: "error", error: { type: "api_error", message: "Internal" } }),
};

/** OpenAI's rate limit, which moves a request to the upstream's next account. */
const openaiRateLimit = {
  status: 429,
  body: JSON.stringify({ error: { message: "Rate limit reached", type: "requests" } }),
};

/** The requests a fake received from the moment `since` was taken. */
function received(fake: FakeUpstream, since: number): RecordedRequest[] {
  return fake.requests.slice(since);
}

/** Every signature-like value in a request body: Anthropic's, Gemini's and OpenAI's fields. */
function signaturesIn(body: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) {
        if (
          typeof inner === "string" &&
          ["signature", "thoughtSignature", "encrypted_content", "data"].includes(key)
        )
          found.push(inner);
        else walk(inner);
      }
    }
  };
  walk(body);
  return found;
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((b) => (b.type === "text" ? b.text : "")).join("");
}

/** A thinking tool loop's first step on the Anthropic SDK, streamed through its helper. */
async function anthropicToolCall(model: string, city: string) {
  const messages: Anthropic.MessageParam[] = [
    { role: "user", content: `Call get_weather for "${city}".` },
  ];
  const first = await anthropic.messages
    .stream({ model, max_tokens: 4096, thinking, tools, messages })
    .finalMessage();
  const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use")!;
  messages.push(
    { role: "assistant", content: first.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "cold" }] },
  );
  return { first, messages };
}

describe("failover between two upstreams of the same protocol (forwarded as they are)", () => {
  test("upstream A's thinking never reaches upstream B; B's tool loop goes on without thinking", async () => {
    const { first, messages } = await anthropicToolCall("claude-failover", "Oslo");
    const signed = first.content.find((b) => b.type === "thinking") as Anthropic.ThinkingBlock;
    expect(signed.signature).toStartWith("anthropic-sig-");
    const since = anB.requests.length;
    anA.replyOnce(serverError);
    const second = await anthropic.messages.create({
      model: "claude-failover",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(textOf(second)).toContain("cold");
    const sent = received(anB, since);
    expect(sent).toHaveLength(1); // accepted at once: nothing for B to refuse
    expect(signaturesIn(sent[0]!.json)).toEqual([]);
    expect(JSON.stringify(sent[0]!.json)).not.toContain(signed.thinking);
    // Anthropic requires the tool loop's thinking with thinking on: it is off for this request.
    expect(sent[0]!.json.thinking).toBeUndefined();
    expect(sent[0]!.json.messages[1].content[0].type).toBe("tool_use");
    // Only for that request: the next turn, back on A, thinks again.
    await resetAccounts(gw.origin);
    messages.push(
      { role: "assistant", content: second.content },
      { role: "user", content: "Reply with exactly this text and nothing else: again" },
    );
    const sinceA = anA.requests.length;
    const third = await anthropic.messages.create({
      model: "claude-failover",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(textOf(third)).toBe("again");
    expect(third.content[0]!.type).toBe("thinking");
    expect(received(anA, sinceA)[0]!.json.thinking).toEqual(thinking);
  });

  test("back on the upstream that signed it, the client's own bytes go through untouched", async () => {
    const { first, messages } = await anthropicToolCall("claude-failover", "Bergen");
    const signed = first.content.find((b) => b.type === "thinking") as Anthropic.ThinkingBlock;
    const since = anA.requests.length;
    const second = await anthropic.messages.create({
      model: "claude-failover",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(second.content.find((b) => b.type === "text")).toBeDefined();
    const sent = received(anA, since);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.json.messages[1].content[0]).toEqual({
      type: "thinking",
      thinking: signed.thinking,
      signature: signed.signature,
    });
    expect(sent[0]!.json.thinking).toEqual(thinking);
  });
});

describe("failover between model families", () => {
  test("a dated snapshot is its alias's family: the signature goes with it", async () => {
    const { messages } = await anthropicToolCall("claude-x", "Lima");
    const since = anA.requests.length;
    await anthropic.messages.create({
      model: "claude-x-20250101",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    const sent = received(anA, since);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.json.messages[1].content[0].type).toBe("thinking");
  });

  test("another family on the same upstream and account gets no signature of the first", async () => {
    const { messages } = await anthropicToolCall("claude-x", "Quito");
    messages.push(
      { role: "assistant", content: "It is cold." },
      { role: "user", content: "Reply with exactly this text and nothing else: switched" },
    );
    const since = anA.requests.length;
    const answer = await anthropic.messages.create({
      model: "claude-y",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(textOf(answer)).toBe("switched");
    const sent = received(anA, since);
    expect(sent).toHaveLength(1);
    expect(signaturesIn(sent[0]!.json)).toEqual([]);
    // Not a tool loop any more: thinking stays on, and claude-y signs its own.
    expect(sent[0]!.json.thinking).toEqual(thinking);
    expect(answer.content[0]!.type).toBe("thinking");
  });
});

describe("failover between accounts", () => {
  const reasoningOf = (output: OpenAI.Responses.ResponseOutputItem[]) =>
    output.find((i): i is OpenAI.Responses.ResponseReasoningItem => i.type === "reasoning")!;

  async function firstTurn(model: string) {
    const input: OpenAI.Responses.ResponseInput = [
      { role: "user", content: "Reply with exactly this text and nothing else: one" },
    ];
    const first = await openai.responses.create({
      model,
      input,
      reasoning: { effort: "low" },
      include: ["reasoning.encrypted_content"],
      store: false,
    });
    const reasoning = reasoningOf(first.output);
    expect(reasoning.encrypted_content).toStartWith("gAAAA");
    input.push(...(first.output as OpenAI.Responses.ResponseInputItem[]), {
      role: "user",
      content: "Reply with exactly this text and nothing else: two",
    });
    return { input, encrypted: reasoning.encrypted_content! };
  }

  test("of different groups: the other organisation never gets the first's encrypted reasoning", async () => {
    const { input, encrypted } = await firstTurn("gpt-orgs");
    expect(oa.keysSeen().at(-1)).toBe("oa-1");
    const since = oa.requests.length;
    oa.replyOnce(openaiRateLimit, "oa-1");
    const second = await openai.responses.create({
      model: "gpt-orgs",
      input,
      reasoning: { effort: "low" },
      include: ["reasoning.encrypted_content"],
      store: false,
    });
    expect(second.output_text).toBe("two");
    const sent = received(oa, since);
    expect(sent.map((r) => r.headers.get("authorization"))).toEqual(["Bearer oa-1", "Bearer oa-3"]);
    expect(signaturesIn(sent[1]!.json)).not.toContain(encrypted);
    expect(sent[1]!.json.input.some((i: any) => i.type === "reasoning")).toBe(false);
  });

  test("translated too: a value an upstream gave the client as it was is known by who issued it", async () => {
    // Encrypted reasoning the first organisation made, forwarded to the client as it was.
    const { encrypted } = await firstTurn("gpt-orgs-r");
    // A conversation levity stored makes the next request go through its IR, to the same upstream.
    const stored = await openai.responses.create({
      model: "claude-x",
      input: "Reply with exactly this text and nothing else: stored",
    });
    const since = oa.requests.length;
    oa.replyOnce(openaiRateLimit, "oa-1");
    const next = await openai.responses.create({
      model: "gpt-orgs-r",
      previous_response_id: stored.id,
      input: [
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: encrypted },
        { role: "user", content: "Reply with exactly this text and nothing else: three" },
      ],
      reasoning: { effort: "low" },
    });
    expect(next.output_text).toBe("three");
    const sent = received(oa, since);
    expect(sent.map((r) => r.headers.get("authorization"))).toEqual(["Bearer oa-1", "Bearer oa-3"]);
    expect(signaturesIn(sent[0]!.json)).toContain(encrypted);
    expect(signaturesIn(sent[1]!.json)).not.toContain(encrypted);
  });

  test("of one group: the other account gets the reasoning, which it can read", async () => {
    const { input, encrypted } = await firstTurn("gpt-one-org");
    const since = oa.requests.length;
    oa.replyOnce(openaiRateLimit, "oa-1");
    const second = await openai.responses.create({
      model: "gpt-one-org",
      input,
      reasoning: { effort: "low" },
      include: ["reasoning.encrypted_content"],
      store: false,
    });
    expect(second.output_text).toBe("two");
    const sent = received(oa, since);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.headers.get("authorization")).toBe("Bearer oa-2");
    expect(signaturesIn(sent[1]!.json)).toContain(encrypted);
  });
});

describe("failover across dialects", () => {
  test("an Anthropic client: Gemini's signed thinking never reaches Anthropic, and returns to Gemini", async () => {
    // Turn 1 through Gemini, translated: the client holds Gemini's signatures in levity's wrapping.
    const { first, messages } = await anthropicToolCall("gemini-then-claude", "Rome");
    // (toMatchObject is not used on what the session sends on: Bun's writes its matchers into it.)
    const thought = first.content[0] as Anthropic.ThinkingBlock;
    expect(thought.type).toBe("thinking");
    expect(thought.signature).toStartWith("lv1.");
    // Turn 2: Gemini fails, Anthropic serves it, forwarded as the client sent it but for the signature.
    const sinceA = anA.requests.length;
    ge.replyOnce({
      status: 503,
      body: JSON.stringify({ error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } }),
    });
    const second = await anthropic.messages.create({
      model: "gemini-then-claude",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(textOf(second)).toContain("cold");
    const sentA = received(anA, sinceA);
    expect(sentA).toHaveLength(1);
    expect(signaturesIn(sentA[0]!.json)).toEqual([]);
    expect(JSON.stringify(sentA[0]!.json)).not.toContain("lv1.");
    // Turn 3: Gemini again, which gets its own signatures back and nothing of Anthropic's.
    messages.push(
      { role: "assistant", content: second.content },
      { role: "user", content: 'Call get_weather for "Turin".' },
    );
    await resetAccounts(gw.origin); // Gemini's 503 cooled its account
    const sinceG = ge.requests.length;
    const third = await anthropic.messages.create({
      model: "gemini-then-claude",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(third.content.some((b) => b.type === "tool_use")).toBe(true);
    const sentG = received(ge, sinceG);
    expect(sentG).toHaveLength(1);
    const modelTurn = sentG[0]!.json.contents[1];
    const signatures = signaturesIn(sentG[0]!.json);
    expect(signatures.length).toBeGreaterThan(0);
    for (const value of signatures) expect(value).toStartWith("gemini-sig-");
    expect(modelTurn.parts.find((p: any) => p.functionCall).thoughtSignature).toStartWith(
      "gemini-sig-",
    );
  });

  test("a Gemini client: Anthropic's thinking never reaches Gemini, whose calls get Google's placeholder", async () => {
    const config = {
      tools: [{ functionDeclarations: [{ name: "get_weather", parametersJsonSchema: weather }] }],
      thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 },
    };
    const contents: Content[] = [
      { role: "user", parts: [{ text: 'Call get_weather for "Nice".' }] },
    ];
    const first = await genai.models.generateContent({
      model: "claude-then-gemini",
      contents,
      config,
    });
    const parts = first.candidates![0]!.content!.parts!;
    expect(parts.find((p) => p.thought)?.thoughtSignature).toStartWith("lv1.");
    const call = parts.find((p) => p.functionCall)!.functionCall!;
    contents.push(
      { role: "model", parts },
      {
        role: "user",
        parts: [{ functionResponse: { name: call.name!, response: { t: "mild" } } }],
      },
    );
    const since = ge.requests.length;
    anA.replyOnce(serverError);
    const second = await genai.models.generateContent({
      model: "claude-then-gemini",
      contents,
      config,
    });
    expect(second.text).toContain("mild");
    const sent = received(ge, since);
    expect(sent).toHaveLength(1);
    expect(signaturesIn(sent[0]!.json)).toEqual([SKIP_SIGNATURE]);
    const modelTurn = sent[0]!.json.contents[1];
    expect(modelTurn.parts.some((p: any) => p.thought)).toBe(false);
    expect(modelTurn.parts[0]).toMatchObject({
      functionCall: { name: "get_weather" },
      thoughtSignature: SKIP_SIGNATURE,
    });
  });
});

describe("translated to Gemini", () => {
  test("a call another provider made gets Google's placeholder, so Gemini 3 takes the tool loop", async () => {
    const since = ge.requests.length;
    const answer = await anthropic.messages.create({
      model: "gemini-x",
      max_tokens: 1024,
      tools,
      messages: [
        { role: "user", content: 'Call get_weather for "Oslo".' },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "toolu_other", name: "get_weather", input: { city: "Oslo" } },
          ],
        },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "toolu_other", content: "icy" }],
        },
      ],
    });
    expect(textOf(answer)).toContain("icy");
    const sent = received(ge, since);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.json.contents[1].parts[0].thoughtSignature).toBe(SKIP_SIGNATURE);
  });
});

describe("an upstream that still refuses a signature", () => {
  const invalidSignature = {
    status: 400,
    body: JSON.stringify({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "messages.1.content.0: Invalid `signature` in `thinking` block",
      },
      request_id: "req_fake",
    }),
  };

  test("a signature levity never saw goes through; refused, the request goes once more without reasoning", async () => {
    const since = anA.requests.length;
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "claude-x",
        max_tokens: 4096,
        thinking,
        messages: [
          { role: "user", content: "Hi" },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "hmm", signature: "anthropic-sig-from-elsewhere" },
              { type: "text", text: "Hello." },
            ],
          },
          { role: "user", content: "Reply with exactly this text and nothing else: retried" },
        ],
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-attempts")).toBe("1");
    const body = (await response.json()) as any;
    expect(body.content.find((b: any) => b.type === "text").text).toBe("retried");
    const sent = received(anA, since);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.json.messages[1].content[0].signature).toBe("anthropic-sig-from-elsewhere");
    expect(signaturesIn(sent[1]!.json)).toEqual([]);
    expect(sent[1]!.json.messages[1].content).toEqual([{ type: "text", text: "Hello." }]);
    expect(gw.log.lines.some((l) => l.includes("an-a/a refused a signature in the history"))).toBe(
      true,
    );
    // The account is not blamed for it.
    const accounts = (await (await fetch(`${gw.origin}/levity/accounts`)).json()) as any;
    const a = accounts.accounts.find((v: any) => v.upstream === "an-a");
    expect(a).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
  });

  test("translated: the refused request goes once more with no thinking, and the client sees a 200", async () => {
    const config = { thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } };
    const contents: Content[] = [
      { role: "user", parts: [{ text: "Reply with exactly this text and nothing else: a" }] },
    ];
    const first = await genai.models.generateContent({ model: "claude-x", contents, config });
    contents.push(
      { role: "model", parts: first.candidates![0]!.content!.parts! },
      { role: "user", parts: [{ text: "Reply with exactly this text and nothing else: b" }] },
    );
    const since = anA.requests.length;
    anA.replyOnce(invalidSignature);
    const second = await genai.models.generateContent({ model: "claude-x", contents, config });
    expect(second.text).toBe("b");
    const sent = received(anA, since);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.json.messages[1].content[0].type).toBe("thinking");
    expect(signaturesIn(sent[1]!.json)).toEqual([]);
  });

  test("only once: a second refusal is the client's answer", async () => {
    const since = anA.requests.length;
    anA.replyOnce(invalidSignature);
    anA.replyOnce(invalidSignature);
    const refused = await anthropic.messages
      .create({
        model: "claude-x",
        max_tokens: 256,
        messages: [{ role: "user", content: "Reply with exactly this text and nothing else: x" }],
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as Error).message).toContain("Invalid `signature` in `thinking` block");
    expect(received(anA, since)).toHaveLength(2);
  });

  test("Gemini's corrupted thought signature: once more with Google's placeholder on the call", async () => {
    const since = ge.requests.length;
    const response = await genai.models.generateContent({
      model: "gemini-x",
      contents: [
        { role: "user", parts: [{ text: 'Call get_weather for "Pisa".' }] },
        {
          role: "model",
          parts: [
            { text: "earlier", thought: true, thoughtSignature: "Zm9yZWlnbg==" },
            {
              functionCall: { name: "get_weather", args: { city: "Pisa" } },
              thoughtSignature: "Zm9yZWlnbg==",
            },
          ],
        },
        {
          role: "user",
          parts: [{ functionResponse: { name: "get_weather", response: { t: "hot" } } }],
        },
      ],
      config: {
        tools: [{ functionDeclarations: [{ name: "get_weather", parametersJsonSchema: weather }] }],
      },
    });
    expect(response.text).toContain("hot");
    const sent = received(ge, since);
    expect(sent).toHaveLength(2);
    expect(signaturesIn(sent[1]!.json)).toEqual([SKIP_SIGNATURE]);
    expect(sent[1]!.json.contents[1].parts).toEqual([
      {
        functionCall: { name: "get_weather", args: { city: "Pisa" } },
        thoughtSignature: SKIP_SIGNATURE,
      },
    ]);
  });

  test("once per request: the target's other accounts get it without reasoning from the start", async () => {
    const since = oa.requests.length;
    oa.replyOnce(
      {
        status: 400,
        body: JSON.stringify({
          error: {
            message: "The encrypted content gAAA...d== could not be verified.",
            type: "invalid_request_error",
            param: null,
            code: "invalid_encrypted_content",
          },
        }),
      },
      "oa-1",
    );
    oa.replyOnce(openaiRateLimit, "oa-1");
    const response = await openai.responses.create({
      model: "gpt-one-org",
      input: [
        { role: "user", content: "Hi" },
        { type: "reasoning", id: "rs_x", summary: [], encrypted_content: "gAAAAforged==" },
        { role: "user", content: "Reply with exactly this text and nothing else: moved" },
      ],
      reasoning: { effort: "low" },
      store: false,
    });
    expect(response.output_text).toBe("moved");
    const sent = received(oa, since);
    expect(sent.map((r) => r.headers.get("authorization"))).toEqual([
      "Bearer oa-1",
      "Bearer oa-1",
      "Bearer oa-2",
    ]);
    expect(sent[2]!.json.input.some((i: any) => i.type === "reasoning")).toBe(false);
  });

  test("OpenAI's encrypted content that cannot be verified: once more without the reasoning item", async () => {
    const since = oa.requests.length;
    const response = await openai.responses.create({
      model: "gpt-one-org",
      input: [
        { role: "user", content: "Hi" },
        { type: "reasoning", id: "rs_x", summary: [], encrypted_content: "gAAAAforged==" },
        { role: "user", content: "Reply with exactly this text and nothing else: verified" },
      ],
      reasoning: { effort: "low" },
      store: false,
    });
    expect(response.output_text).toBe("verified");
    const sent = received(oa, since);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.json.input[1].encrypted_content).toBe("gAAAAforged==");
    expect(sent[1]!.json.input.some((i: any) => i.type === "reasoning")).toBe(false);
  });
});

describe("a restart", () => {
  test("forgets who issued what: such a value goes through, and its refusal is retried without it", async () => {
    const { messages } = await anthropicToolCall("claude-x", "Oslo");
    messages.push(
      { role: "assistant", content: "It is cold." },
      { role: "user", content: "Reply with exactly this text and nothing else: after" },
    );
    gw = await restartGateway(gw);
    anthropic = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
    const since = anB.requests.length;
    anA.replyOnce(serverError);
    const answer = await anthropic.messages.create({
      model: "claude-failover",
      max_tokens: 4096,
      thinking,
      tools,
      messages,
    });
    expect(textOf(answer)).toBe("after");
    const sent = received(anB, since);
    expect(sent).toHaveLength(2);
    expect(signaturesIn(sent[0]!.json)).toHaveLength(1);
    expect(signaturesIn(sent[1]!.json)).toEqual([]);
  });
});
