import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ECHO_ACCOUNT } from "../src/config/load.ts";
import { openSqliteStore } from "../src/state/sqlite-store.ts";
import { expectErrorShape, type Family } from "./support/error-shape.ts";
import { startServer } from "../src/server.ts";
import {
  captureLog,
  restartGateway,
  startGateway,
  tempDir,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// With no configuration at all, the built-in echo upstream answers every client in its own dialect.

let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
let genai: GoogleGenAI;

beforeAll(() => {
  gw = startGateway({});
  openai = new OpenAI({ apiKey: "unused", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "unused", baseURL: gw.origin, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "unused", httpOptions: { baseUrl: gw.origin } });
});
afterAll(() => gw.stop());

const PROMPT = "the quick brown fox";

describe("echo with the OpenAI SDK", () => {
  test("chat completion", async () => {
    const { data, response } = await openai.chat.completions
      .create({
        model: "gpt-4o",
        messages: [
          { role: "system", content: "be terse" },
          { role: "user", content: PROMPT },
        ],
      })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe(PROMPT);
    expect(data.choices[0]!.finish_reason).toBe("stop");
    expect(data.id).toStartWith("chatcmpl-");
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-mapped-model")).toBe("gpt-4o");
    expect(response.headers.get("x-upstream")).toBe("echo");
    expect(response.headers.get("x-request-id")).toStartWith("req_");
  });

  test("chat stream through chat.completions.stream(), word by word, with the usage chunk", async () => {
    const stream = openai.chat.completions.stream({
      model: "gpt-4o",
      messages: [{ role: "user", content: PROMPT }],
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    stream.on("content", (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(PROMPT);
    expect(deltas).toEqual(["the ", "quick ", "brown ", "fox"]);
    expect(final.usage?.completion_tokens).toBeGreaterThan(0);
  });

  test("legacy completion, plain and streamed", async () => {
    const plain = await openai.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: PROMPT,
    });
    expect(plain.object).toBe("text_completion");
    expect(plain.choices[0]!.text).toBe(PROMPT);
    let text = "";
    let finish: string | null = null;
    for await (const chunk of await openai.completions.create({
      model: "x",
      prompt: PROMPT,
      stream: true,
    })) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(PROMPT);
    expect(finish).toBe("stop");
  });

  test("responses, plain and through responses.stream()", async () => {
    const plain = await openai.responses.create({
      model: "gpt-5",
      instructions: "be terse",
      input: PROMPT,
    });
    expect(plain.output_text).toBe(PROMPT);
    expect(plain.status).toBe("completed");
    const types: string[] = [];
    const stream = openai.responses.stream({
      model: "gpt-5",
      input: [{ role: "user", content: PROMPT }],
    });
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(PROMPT);
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(types.filter((t) => t === "response.output_text.delta")).toHaveLength(4);
  });

  test("the model list names echo", async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toContain("echo");
  });
});

describe("echo with the Anthropic SDK", () => {
  test("message", async () => {
    const message = await anthropic.messages.create({
      model: "claude-test-model",
      max_tokens: 100,
      messages: [{ role: "user", content: PROMPT }],
    });
    expect(message.content[0]).toMatchObject({ type: "text", text: PROMPT });
    expect(message.stop_reason).toBe("end_turn");
    expect(message.id).toStartWith("msg_");
  });

  test("messages.stream() builds the final message from the events", async () => {
    const stream = anthropic.messages.stream({
      model: "claude-test-model",
      max_tokens: 100,
      messages: [{ role: "user", content: [{ type: "text", text: PROMPT }] }],
    });
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: PROMPT });
    expect(deltas.join("")).toBe(PROMPT);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  test("count_tokens is an estimate, and says so", async () => {
    const { data, response } = await anthropic.messages
      .countTokens({ model: "claude-test-model", messages: [{ role: "user", content: PROMPT }] })
      .withResponse();
    expect(data.input_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-levity-token-count")).toBe("estimate");
  });
});

describe("echo with the Gemini SDK", () => {
  test("generateContent", async () => {
    const response = await genai.models.generateContent({
      model: "gemini-2.5-flash",
      contents: PROMPT,
      config: { systemInstruction: "be terse" },
    });
    expect(response.text).toBe(PROMPT);
    expect(String(response.candidates?.[0]?.finishReason)).toBe("STOP");
  });

  test("generateContentStream", async () => {
    const pieces: string[] = [];
    for await (const chunk of await genai.models.generateContentStream({
      model: "gemini-2.5-flash",
      contents: PROMPT,
    }))
      pieces.push(chunk.text ?? "");
    expect(pieces.join("")).toBe(PROMPT);
    expect(pieces.filter((p) => p !== "")).toHaveLength(4);
  });

  test("countTokens", async () => {
    const counted = await genai.models.countTokens({ model: "gemini-2.5-flash", contents: PROMPT });
    expect(counted.totalTokens).toBeGreaterThan(0);
  });

  test("without alt=sse the stream is one JSON array", async () => {
    const response = await fetch(
      `${gw.origin}/v1beta/models/gemini-2.5-flash:streamGenerateContent`,
      {
        method: "POST",
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: PROMPT }] }] }),
      },
    );
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const chunks = (await bodyOf(response)) as {
      candidates: { content: { parts: { text: string }[] }; finishReason?: string }[];
    }[];
    expect(chunks.map((c) => c.candidates[0]!.content.parts[0]!.text).join("")).toBe(PROMPT);
    expect(chunks.at(-1)!.candidates[0]!.finishReason).toBe("STOP");
  });
});

// Echo's simulated errors (model echo-error-<status>) rehearse a client's error handling: the
// client gets that status in its own dialect's shape, and echo serves the next request at once,
// also after a restart, because nothing about echo is cooled, disabled or stored.
describe("echo's simulated errors never break echo", () => {
  const SIMULATED = [400, 401, 403, 404, 429, 500, 502, 503, 529];
  const families: {
    family: Family;
    request(origin: string, model: string, stream: boolean): Promise<Response>;
  }[] = [
    {
      family: "openai",
      request: (origin, model, stream) =>
        fetch(`${origin}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model, stream, messages: [{ role: "user", content: PROMPT }] }),
        }),
    },
    {
      family: "anthropic",
      request: (origin, model, stream) =>
        fetch(`${origin}/v1/messages`, {
          method: "POST",
          body: JSON.stringify({
            model,
            stream,
            max_tokens: 50,
            messages: [{ role: "user", content: PROMPT }],
          }),
        }),
    },
    {
      family: "gemini",
      request: (origin, model, stream) =>
        fetch(
          `${origin}/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
          {
            method: "POST",
            body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: PROMPT }] }] }),
          },
        ),
    },
  ];

  /** The status a client of this family sees for a simulated one (529 is Anthropic's own "overloaded"). */
  const seen = (family: Family, status: number) =>
    status === 529 && family !== "anthropic" ? 503 : status;

  const expectServes = async (
    origin: string,
    family: (typeof families)[number],
    stream: boolean,
  ) => {
    const response = await family.request(origin, "any-model", stream);
    const text = await response.text();
    expect({ status: response.status, text }).toMatchObject({ status: 200 });
    expect(text).toContain("quick");
  };

  let own: TestGateway;
  beforeAll(() => {
    own = startGateway({});
  });
  afterAll(() => own.stop());

  for (const family of families) {
    for (const stream of [false, true]) {
      test(`${family.family}${stream ? ", streamed" : ""}: each status in the client's shape, then a normal answer at once`, async () => {
        for (const status of SIMULATED) {
          const response = await family.request(own.origin, `echo-error-${status}`, stream);
          const body = await bodyOf(response);
          expect({ simulated: status, status: response.status }).toEqual({
            simulated: status,
            status: seen(family.family, status),
          });
          expect(expectErrorShape(family.family, body, response.status)).toContain(
            `echo-error-${status}`,
          );
          if (status === 429 || status === 503)
            expect(response.headers.get("retry-after")).toBe("1");
          await expectServes(own.origin, family, stream);
        }
      });
    }
  }

  test("the accounts view shows echo healthy, with no cooldown, after every simulated error", async () => {
    for (const status of SIMULATED)
      await (await families[0]!.request(own.origin, `echo-error-${status}`, false)).text();
    const view = (await bodyOf(await fetch(`${own.origin}/levity/accounts`))).accounts as any[];
    expect(view).toHaveLength(1);
    expect(view[0]).toMatchObject({
      upstream: "echo",
      state: "healthy",
      modelCooldowns: {},
      consecutiveFailures: 0,
    });
  });

  test("a status that is not an error to rehearse is a 400 that says what echo can do, never a crash", async () => {
    for (const model of ["echo-error-200", "echo-error-100", "echo-error-999", "echo-error-600"]) {
      const response = await families[0]!.request(own.origin, model, false);
      expect(response.status).toBe(400);
      expect(expectErrorShape("openai", await bodyOf(response), 400)).toContain("400 to 599");
    }
  });

  test("after a restart echo serves at once, and nothing about echo was stored", async () => {
    let gateway = startGateway({});
    try {
      for (const status of SIMULATED)
        for (const family of families)
          await (await family.request(gateway.origin, `echo-error-${status}`, false)).text();
      // An admin reset writes every account it touches; echo's must not be among them.
      expect(
        (await bodyOf(await fetch(`${gateway.origin}/levity/accounts/reset`, { method: "POST" })))
          .reset,
      ).toEqual(["echo/echo"]);
      gateway = await restartGateway(gateway);
      for (const family of families) await expectServes(gateway.origin, family, false);
      const store = openSqliteStore(join(gateway.dir, "data", "levity.db"));
      try {
        expect(store.accounts().filter((record) => record.upstream === "echo")).toEqual([]);
      } finally {
        store.close();
      }
    } finally {
      await gateway.stop();
    }
  });

  test("a disabled, cooling echo that an older levity stored is not restored", async () => {
    const dir = tempDir();
    const store = openSqliteStore(join(dir, "data", "levity.db"));
    // What levity stored for echo before this fix, after echo-error-401 and echo-error-500.
    store.saveAccount({
      upstream: "echo",
      account: "echo",
      keyDigest: createHash("sha256").update(ECHO_ACCOUNT.key).digest("hex"),
      cooldownUntil: Date.now() + 3_600_000,
      modelCooldowns: { "any-model": Date.now() + 3_600_000 },
      consecutiveFailures: 5,
      disabledReason:
        "the upstream refused its key (401: echo was asked to fail with HTTP 401 (model echo-error-401).)",
    });
    store.close();
    const server = startServer({ dir, env: {}, port: 0, log: captureLog() });
    try {
      for (const family of families)
        await expectServes(`http://127.0.0.1:${server.port}`, family, true);
    } finally {
      await server.stop(1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
