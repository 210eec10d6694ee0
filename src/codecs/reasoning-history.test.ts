import { describe, expect, test } from "bun:test";
import { REASONING_HISTORY, type SendSignature } from "./reasoning-history.ts";

/* Each dialect's history with a foreign signature in it: what is sent instead. */

// "own" goes as it is, "wrapped" is sent as "own", anything else is left out.
const send: SendSignature = (value) =>
  value === "own" ? value : value === "wrapped" ? "own" : undefined;
const anthropic = REASONING_HISTORY["anthropic-messages"]!;
const gemini = REASONING_HISTORY.gemini!;
const responses = REASONING_HISTORY["openai-responses"]!;

const user = (content: unknown) => ({ role: "user", content });
const assistant = (content: unknown) => ({ role: "assistant", content });
const thinking = (signature: unknown) => ({ type: "thinking", thinking: "t", signature });
const toolUse = { type: "tool_use", id: "t1", name: "f", input: {} };
const toolResult = { type: "tool_result", tool_use_id: "t1", content: "ok" };

describe("Anthropic", () => {
  test("nothing to change: no new body", () => {
    const body = {
      messages: [user("hi"), assistant([thinking("own"), { type: "text", text: "a" }])],
    };
    expect(anthropic(body, send, false)).toBeUndefined();
  });

  test("a foreign block is left out, a wrapped one unwrapped, one without a signature left out", () => {
    const body = {
      model: "m",
      messages: [
        user("hi"),
        assistant([thinking("foreign"), { type: "text", text: "a" }]),
        user("more"),
        assistant([
          thinking("wrapped"),
          { type: "redacted_thinking", data: "foreign" },
          thinking(""),
        ]),
        user("again"),
      ],
    };
    expect(anthropic(body, send, false)).toEqual({
      model: "m",
      messages: [
        user("hi"),
        assistant([{ type: "text", text: "a" }]),
        user("more"),
        assistant([thinking("own")]),
        user("again"),
      ],
    });
  });

  test("an assistant message left empty goes", () => {
    const body = { messages: [user("hi"), assistant([thinking("foreign")]), user("more")] };
    expect(anthropic(body, send, false)?.messages).toEqual([user("hi"), user("more")]);
  });

  test("a tool loop whose thinking was left out turns thinking off, and the thinking context edits with it", () => {
    const body = {
      thinking: { type: "enabled", budget_tokens: 1024 },
      context_management: {
        edits: [{ type: "clear_thinking_20251015" }, { type: "clear_tool_uses_20250919" }],
      },
      messages: [user("hi"), assistant([thinking("foreign"), toolUse]), user([toolResult])],
    };
    expect(anthropic(body, send, false)).toEqual({
      context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
      messages: [user("hi"), assistant([toolUse]), user([toolResult])],
    });
  });

  test("a tool loop that keeps its own thinking keeps thinking on", () => {
    const body = {
      thinking: { type: "adaptive" },
      messages: [
        user("hi"),
        assistant([thinking("foreign"), { type: "text", text: "a" }]),
        user("go"),
        assistant([thinking("own"), toolUse]),
        user([toolResult]),
      ],
    };
    expect(anthropic(body, send, false)?.thinking).toEqual({ type: "adaptive" });
  });
});

describe("Gemini", () => {
  const call = { functionCall: { name: "f", args: {} } };
  test("a foreign thought goes, a foreign call gets Google's placeholder, a text keeps its words", () => {
    const body = {
      contents: [
        { role: "user", parts: [{ text: "hi" }] },
        {
          role: "model",
          parts: [
            { text: "thought", thought: true, thoughtSignature: "foreign" },
            { text: "said", thoughtSignature: "foreign" },
            { ...call, thoughtSignature: "foreign" },
          ],
        },
        { role: "model", parts: [{ ...call, thoughtSignature: "wrapped" }] },
      ],
    };
    expect(gemini(body, send, false)?.contents).toEqual([
      { role: "user", parts: [{ text: "hi" }] },
      {
        role: "model",
        parts: [
          { text: "said" },
          { ...call, thoughtSignature: "skip_thought_signature_validator" },
        ],
      },
      { role: "model", parts: [{ ...call, thoughtSignature: "own" }] },
    ]);
  });

  test("nothing foreign: no new body; with no reasoning, unsigned first calls get the placeholder too", () => {
    const body = { contents: [{ role: "model", parts: [call, call] }] };
    expect(gemini(body, send, false)).toBeUndefined();
    expect(gemini(body, send, true)?.contents).toEqual([
      {
        role: "model",
        parts: [{ ...call, thoughtSignature: "skip_thought_signature_validator" }, call],
      },
    ]);
  });

  test("a content left empty goes", () => {
    const body = {
      contents: [
        { role: "user", parts: [{ text: "hi" }] },
        { role: "model", parts: [{ text: "t", thought: true, thought_signature: "foreign" }] },
      ],
    };
    expect(gemini(body, send, false)?.contents).toEqual([
      { role: "user", parts: [{ text: "hi" }] },
    ]);
  });
});

describe("Responses", () => {
  test("a foreign reasoning item goes whole, a wrapped one is unwrapped, the rest stays", () => {
    const body = {
      model: "m",
      input: [
        { role: "user", content: "hi" },
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: "foreign" },
        { type: "reasoning", id: "rs_2", summary: [], encrypted_content: "wrapped" },
        { type: "reasoning", id: "rs_3", summary: [], encrypted_content: "own" },
        { type: "reasoning", id: "rs_4", summary: [] },
      ],
    };
    expect(responses(body, send, false)?.input).toEqual([
      { role: "user", content: "hi" },
      { type: "reasoning", id: "rs_2", summary: [], encrypted_content: "own" },
      { type: "reasoning", id: "rs_3", summary: [], encrypted_content: "own" },
      { type: "reasoning", id: "rs_4", summary: [] },
    ]);
    expect(responses({ input: "text" }, send, false)).toBeUndefined();
  });
});
