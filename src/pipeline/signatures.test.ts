import { describe, expect, test } from "bun:test";
import { encodeOpaque, encodeReasoning, issuerOf } from "../codecs/opaque.ts";
import type { Turn } from "../ir.ts";
import { SignatureRegistry } from "../state/signature-registry.ts";
import { carriesReasoning, nameIssuers, signatureSender, withoutReasoning } from "./signatures.ts";

const ME = issuerOf("anthropic", "", "claude-sonnet-4-5-20250929");
const OTHER = issuerOf("anthropic", "team-b", "claude-sonnet-4-5");

describe("signatureSender", () => {
  const registry = new SignatureRegistry();
  registry.record("mine", issuerOf("anthropic", "", "claude-sonnet-4-5"));
  registry.record("theirs", OTHER);
  const send = signatureSender(ME, "anthropic", registry);

  test.each([
    ["a value this issuer made (same family, another snapshot)", "mine", "mine"],
    ["a value another account group made", "theirs", undefined],
    ["a value levity never saw", "unknown", "unknown"],
    ["levity's wrapping of this issuer's value", encodeOpaque({ issuer: ME, value: "v" }), "v"],
    ["levity's wrapping of another's", encodeOpaque({ issuer: OTHER, value: "v" }), undefined],
    [
      "a wrapped value known only by its protocol, seen issued elsewhere",
      encodeOpaque({ issuer: "protocol:anthropic", value: "theirs" }),
      undefined,
    ],
    [
      "Responses reasoning wrapping this issuer's value",
      encodeReasoning({ issuer: ME, value: "r" }, "text"),
      "r",
    ],
    ["Responses reasoning with no signature", encodeReasoning(undefined, "text"), undefined],
  ])("%s", (_name, value, sent) => {
    expect(send(value)).toBe(sent);
  });
});

describe("issuerOf", () => {
  test("upstream, group and family, so that each differs", () => {
    expect(issuerOf("a", "", "claude-x-20250101")).toBe(issuerOf("a", "", "claude-x"));
    expect(issuerOf("a", "", "claude-x")).not.toBe(issuerOf("b", "", "claude-x"));
    expect(issuerOf("a", "", "claude-x")).not.toBe(issuerOf("a", "g", "claude-x"));
    expect(issuerOf("a", "", "claude-x")).not.toBe(issuerOf("a", "", "claude-y"));
  });
});

describe("the IR's history", () => {
  const turns = (): Turn[] => [
    { role: "user", parts: [{ type: "text", text: "hi" }] },
    {
      role: "assistant",
      parts: [
        {
          type: "thinking",
          text: "t",
          signature: { issuer: "protocol:anthropic", value: "theirs" },
        },
        { type: "redacted_thinking", data: { issuer: "protocol:anthropic", value: "unknown" } },
        { type: "text", text: "a", signature: { issuer: ME, value: "s" } },
        {
          type: "tool_call",
          id: "c",
          name: "f",
          arguments: "{}",
          signature: { issuer: ME, value: "s" },
        },
      ],
    },
  ];

  test("values known only by their protocol get the issuer levity saw", () => {
    const registry = new SignatureRegistry();
    registry.record("theirs", OTHER);
    const named = turns();
    nameIssuers(named, registry);
    expect(named[1]!.parts[0]).toMatchObject({ signature: { issuer: OTHER, value: "theirs" } });
    expect(named[1]!.parts[1]).toMatchObject({ data: { issuer: "protocol:anthropic" } });
  });

  test("without reasoning: no thinking, no signature", () => {
    expect(withoutReasoning(turns())[1]!.parts).toEqual([
      { type: "text", text: "a" },
      { type: "tool_call", id: "c", name: "f", arguments: "{}" },
    ]);
  });
});

describe("carriesReasoning: whether leaving reasoning out would change a history", () => {
  const sig = { issuer: ME, value: "s" };
  test.each<[string, Turn["parts"], boolean]>([
    ["text only", [{ type: "text", text: "a" }], false],
    [
      "a tool call without a signature",
      [{ type: "tool_call", id: "c", name: "f", arguments: "{}" }],
      false,
    ],
    ["a thinking block", [{ type: "thinking", text: "t" }], true],
    ["a redacted thinking block", [{ type: "redacted_thinking", data: sig }], true],
    ["a signed text part", [{ type: "text", text: "a", signature: sig }], true],
    [
      "a signed tool call (Gemini's thought signature)",
      [{ type: "tool_call", id: "c", name: "f", arguments: "{}", signature: sig }],
      true,
    ],
  ])("%s", (_name, parts, expected) => {
    const turns: Turn[] = [
      { role: "user", parts: [{ type: "text", text: "hi" }] },
      { role: "assistant", parts },
    ];
    expect(carriesReasoning(turns)).toBe(expected);
    // Where it says no, leaving reasoning out really changes nothing.
    if (!expected) expect(withoutReasoning(turns)).toEqual(turns);
  });
});
