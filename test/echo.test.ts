import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type TestGateway } from "./support/gateway.ts";
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
      .create({ model: "gpt-4o", messages: [{ role: "system", content: "be terse" }, { role: "user", content: PROMPT }] })
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
    const stream = openai.chat.completions.stream({ model: "gpt-4o", messages: [{ role: "user", content: PROMPT }], stream_options: { include_usage: true } });
    const deltas: string[] = [];
    stream.on("content", (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(PROMPT);
    expect(deltas).toEqual(["the ", "quick ", "brown ", "fox"]);
    expect(final.usage?.completion_tokens).toBeGreaterThan(0);
  });

  test("legacy completion, plain and streamed", async () => {
    const plain = await openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: PROMPT });
    expect(plain.object).toBe("text_completion");
    expect(plain.choices[0]!.text).toBe(PROMPT);
    let text = "";
    let finish: string | null = null;
    for await (const chunk of await openai.completions.create({ model: "x", prompt: PROMPT, stream: true })) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(PROMPT);
    expect(finish).toBe("stop");
  });

  test("responses, plain and through responses.stream()", async () => {
    const plain = await openai.responses.create({ model: "gpt-5", instructions: "be terse", input: PROMPT });
    expect(plain.output_text).toBe(PROMPT);
    expect(plain.status).toBe("completed");
    const types: string[] = [];
    const stream = openai.responses.stream({ model: "gpt-5", input: [{ role: "user", content: PROMPT }] });
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
    const message = await anthropic.messages.create({ model: "claude-test-model", max_tokens: 100, messages: [{ role: "user", content: PROMPT }] });
    expect(message.content[0]).toMatchObject({ type: "text", text: PROMPT });
    expect(message.stop_reason).toBe("end_turn");
    expect(message.id).toStartWith("msg_");
  });

  test("messages.stream() builds the final message from the events", async () => {
    const stream = anthropic.messages.stream({ model: "claude-test-model", max_tokens: 100, messages: [{ role: "user", content: [{ type: "text", text: PROMPT }] }] });
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: PROMPT });
    expect(deltas.join("")).toBe(PROMPT);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  test("count_tokens is an estimate, and says so", async () => {
    const { data, response } = await anthropic.messages.countTokens({ model: "claude-test-model", messages: [{ role: "user", content: PROMPT }] }).withResponse();
    expect(data.input_tokens).toBeGreaterThan(0);
    expect(response.headers.get("x-levity-token-count")).toBe("estimate");
  });
});

describe("echo with the Gemini SDK", () => {
  test("generateContent", async () => {
    const response = await genai.models.generateContent({ model: "gemini-2.5-flash", contents: PROMPT, config: { systemInstruction: "be terse" } });
    expect(response.text).toBe(PROMPT);
    expect(String(response.candidates?.[0]?.finishReason)).toBe("STOP");
  });

  test("generateContentStream", async () => {
    const pieces: string[] = [];
    for await (const chunk of await genai.models.generateContentStream({ model: "gemini-2.5-flash", contents: PROMPT })) pieces.push(chunk.text ?? "");
    expect(pieces.join("")).toBe(PROMPT);
    expect(pieces.filter((p) => p !== "")).toHaveLength(4);
  });

  test("countTokens", async () => {
    const counted = await genai.models.countTokens({ model: "gemini-2.5-flash", contents: PROMPT });
    expect(counted.totalTokens).toBeGreaterThan(0);
  });

  test("without alt=sse the stream is one JSON array", async () => {
    const response = await fetch(`${gw.origin}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: PROMPT }] }] }),
    });
    expect(response.headers.get("content-type")).toStartWith("application/json");
    const chunks = (await bodyOf(response)) as { candidates: { content: { parts: { text: string }[] }; finishReason?: string }[] }[];
    expect(chunks.map((c) => c.candidates[0]!.content.parts[0]!.text).join("")).toBe(PROMPT);
    expect(chunks.at(-1)!.candidates[0]!.finishReason).toBe("STOP");
  });
});
