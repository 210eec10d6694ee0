import { describe, expect, test } from "bun:test";
import { geminiClient } from "../src/codecs/gemini/client.ts";
import { responseFromResult, resultFromResponse } from "../src/codecs/gemini/wire.ts";
import { decodeOpaque, encodeOpaque, issuedBy } from "../src/codecs/opaque.ts";
import type { ChatRequest, Tool } from "../src/ir.ts";
import { echoResponse, sampleValue } from "../src/upstream/echo.ts";

describe("Gemini function responses", () => {
  test("a tool error is an error response, text is wrapped, a JSON object goes as it is; and back again", () => {
    const result = (text: string, isError = false) => ({
      type: "tool_result" as const,
      callId: "c",
      content: [{ type: "text" as const, text }],
      isError,
    });
    expect(responseFromResult(result("city not found", true))).toEqual({ error: "city not found" });
    expect(responseFromResult(result("21 degrees"))).toEqual({ result: "21 degrees" });
    expect(responseFromResult(result('{"temp":21}'))).toEqual({ temp: 21 });
    expect(resultFromResponse({ error: "boom" })).toEqual({
      content: [{ type: "text", text: "boom" }],
      isError: true,
    });
    expect(resultFromResponse({ temp: 21 })).toEqual({
      content: [{ type: "text", text: '{"temp":21}' }],
      isError: false,
    });
  });
});

describe("opaque values across dialects", () => {
  test("an issuer survives the round trip through a client; an unwrapped value belongs to the client's protocol", () => {
    const encoded = encodeOpaque({ issuer: "work anthropic", value: "EqQB.sig==" });
    expect(decodeOpaque(encoded, "gemini")).toEqual({
      issuer: "work anthropic",
      value: "EqQB.sig==",
    });
    expect(decodeOpaque("raw-signature", "anthropic")).toEqual({
      issuer: "protocol:anthropic",
      value: "raw-signature",
    });
    const anthropic = {
      name: "work anthropic",
      issuer: "work anthropic",
      protocol: "anthropic" as const,
      baseUrl: "",
    };
    expect(issuedBy(decodeOpaque(encoded, "gemini"), anthropic)).toBe(true);
    expect(
      issuedBy(decodeOpaque("raw-signature", "anthropic"), { ...anthropic, issuer: "other" }),
    ).toBe(true);
    expect(issuedBy(decodeOpaque(encoded, "gemini"), { ...anthropic, issuer: "other" })).toBe(
      false,
    );
  });
});

describe("echo in a tool loop", () => {
  const weather: Tool = {
    name: "get_weather",
    kind: "function",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string" },
        days: { type: "integer", minimum: 3 },
        units: { enum: ["c", "f"] },
      },
      required: ["city", "days", "units"],
    },
  };
  const other: Tool = {
    name: "get_time",
    kind: "function",
    parameters: { type: "object", properties: {} },
  };
  const request = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
    model: "m",
    system: [],
    turns: [{ role: "user", parts: [{ type: "text", text }] }],
    tools: [weather, other],
    stream: false,
    ...extra,
  });
  const calls = (r: ChatRequest) =>
    echoResponse(r, "echo")
      .parts.filter((p) => p.type === "tool_call")
      .map((p) => [(p as any).name, JSON.parse((p as any).arguments)]);

  test("a named tool is called with arguments that satisfy its schema, strings from the first quoted phrase", () => {
    expect(calls(request('check get_weather for "Oslo"'))).toEqual([
      ["get_weather", { city: "Oslo", days: 3, units: "c" }],
    ]);
  });

  test("the quoted phrase after the tool's name is used, with escaped quotes undone (Kilo quotes the whole prompt)", () => {
    expect(calls(request('"Say \\"hi\\" then call get_weather with \\"Oslo\\""'))[0]).toEqual([
      "get_weather",
      { city: "Oslo", days: 3, units: "c" },
    ]);
  });

  test("tools named together are called in parallel, unless parallel calls are off", () => {
    expect(calls(request("get_time then get_weather")).map((c) => c[0])).toEqual([
      "get_time",
      "get_weather",
    ]);
    expect(
      calls(request("get_time then get_weather", { parallelToolCalls: false })).map((c) => c[0]),
    ).toEqual(["get_time"]);
  });

  test('"use the tool" calls the first tool; a JSON object in the text is used as the arguments', () => {
    expect(
      calls(request('please use the tool with {"city": "Rome", "days": 5, "units": "f"}')),
    ).toEqual([["get_weather", { city: "Rome", days: 5, units: "f" }]]);
  });

  test("tool_choice none never calls; a forced tool is called even unnamed", () => {
    expect(calls(request("get_weather", { toolChoice: { type: "none" } }))).toEqual([]);
    expect(calls(request("hello", { toolChoice: { type: "tool", name: "get_time" } }))).toEqual([
      ["get_time", {}],
    ]);
  });

  test("after a tool result, echo answers with it", () => {
    const response = echoResponse(
      {
        model: "m",
        system: [],
        tools: [weather],
        stream: false,
        turns: [
          { role: "user", parts: [{ type: "text", text: "get_weather" }] },
          {
            role: "assistant",
            parts: [{ type: "tool_call", id: "call_1", name: "get_weather", arguments: "{}" }],
          },
          {
            role: "user",
            parts: [
              {
                type: "tool_result",
                callId: "call_1",
                content: [{ type: "text", text: "21 degrees" }],
                isError: false,
              },
            ],
          },
        ],
      },
      "echo",
    );
    expect(response.parts).toEqual([{ type: "text", text: "21 degrees" }]);
    expect(response.stop).toBe("end");
  });

  test("sample values respect minimum, minItems, enums and nested required objects", () => {
    expect(
      sampleValue(
        {
          type: "array",
          minItems: 2,
          items: {
            type: "object",
            properties: { n: { type: "number", minimum: 7 } },
            required: ["n"],
          },
        },
        undefined,
      ),
    ).toEqual([{ n: 7 }, { n: 7 }]);
    expect(sampleValue({ anyOf: [{ type: "null" }, { type: "boolean" }] }, undefined)).toBe(true);
  });
});

describe("parts that carry only a signature", () => {
  const signature = { issuer: "gemini-up", value: "c2lnbmVk" };
  const request = { reasoning: { include: true } } as unknown as ChatRequest;
  const context = { request, includeUsage: false, framing: "sse" as const };
  const response = {
    id: "r",
    model: "m",
    created: 1,
    stop: "end" as const,
    usage: { input: 1, output: 1 },
    parts: [
      { type: "thinking" as const, text: "", signature },
      { type: "text" as const, text: "answer" },
    ],
  };

  test("a whole Gemini answer keeps an empty thought part for its thoughtSignature, as the stream does", () => {
    const rendered = geminiClient.renderResponse(response, context) as {
      candidates: { content: { parts: Record<string, unknown>[] } }[];
    };
    expect(rendered.candidates[0]!.content.parts).toEqual([
      { text: "", thought: true, thoughtSignature: encodeOpaque(signature) },
      { text: "answer" },
    ]);
  });
});
