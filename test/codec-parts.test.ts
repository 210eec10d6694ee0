import { describe, expect, test } from "bun:test";
import {
  fromGeminiSchema,
  hasParameters,
  schemaBudget,
  toGeminiSchema,
} from "../src/codecs/gemini/schema.ts";
import { GatewayError } from "../src/failure.ts";
import { geminiClient } from "../src/codecs/gemini/client.ts";
import { responseFromResult, resultFromResponse } from "../src/codecs/gemini/wire.ts";
import { decodeOpaque, encodeOpaque, issuedBy } from "../src/codecs/opaque.ts";
import { readJsonArray, readSse } from "../src/codecs/sse.ts";
import { finalSpotter } from "../src/pipeline/tap.ts";
import type { ChatRequest, Tool } from "../src/ir.ts";
import { echoResponse, sampleValue } from "../src/upstream/echo.ts";

/** The bytes split at every possible position, one chunk each side. */
function splitsOf(text: string): ReadableStream<Uint8Array>[] {
  const bytes = new TextEncoder().encode(text);
  return Array.from(
    { length: bytes.length + 1 },
    (_, cut) =>
      new ReadableStream({
        start(controller) {
          if (cut > 0) controller.enqueue(bytes.slice(0, cut));
          if (cut < bytes.length) controller.enqueue(bytes.slice(cut));
          controller.close();
        },
      }),
  );
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("SSE reader", () => {
  const wire =
    'event: message_start\r\ndata: {"a":1}\r\n\r\n: a comment\n\ndata: line one\ndata: line two\n\nevent: ping\rdata: {"type":"ping"}\r\rdata: last';
  const expected = [
    { event: "message_start", data: '{"a":1}' },
    { event: undefined, data: "line one\nline two" },
    { event: "ping", data: '{"type":"ping"}' },
    { event: undefined, data: "last" },
  ];

  test("events survive every chunk boundary, CRLF, CR and LF line ends, comments and multi-line data", async () => {
    for (const stream of splitsOf(wire)) expect(await collect(readSse(stream))).toEqual(expected);
  });

  test("byte-at-a-time delivery and multi-byte characters split across chunks", async () => {
    const text = 'data: {"text":"héllo 🌍"}\n\n';
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    expect(await collect(readSse(stream))).toEqual([
      { event: undefined, data: '{"text":"héllo 🌍"}' },
    ]);
  });
});

describe("JSON array stream reader", () => {
  const wire = '[{\n  "a": "x]}",\n  "n": [1, {"b": 2}]\n}\n,\r\n{"c": "\\"quoted\\""}]';

  test("elements come out whole at every chunk boundary, brackets in strings ignored", async () => {
    for (const stream of splitsOf(wire))
      expect(await collect(readJsonArray(stream))).toEqual([
        { a: "x]}", n: [1, { b: 2 }] },
        { c: '"quoted"' },
      ]);
  });
});

describe("Gemini schema subset", () => {
  test("JSON Schema a coding agent sends becomes Gemini's OpenAPI subset", () => {
    const schema = {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      additionalProperties: false,
      $defs: {
        Point: {
          type: "object",
          properties: { x: { type: "number", exclusiveMinimum: 0 } },
          required: ["x"],
        },
      },
      properties: {
        name: { type: ["string", "null"], minLength: 1, format: "email" },
        kind: { const: "shape" },
        mode: { enum: ["a", "b", null] },
        count: { type: "integer", format: "int64", minimum: 0 },
        where: { $ref: "#/$defs/Point", description: "the point" },
        either: { oneOf: [{ type: "string" }, { type: "number" }, { type: "null" }] },
        both: {
          allOf: [
            { properties: { a: { type: "string" } }, required: ["a"] },
            { properties: { b: { type: "boolean" } } },
          ],
        },
        list: { type: "array" },
      },
      required: ["name", "missing"],
    };
    expect(toGeminiSchema(schema)).toEqual({
      type: "OBJECT",
      properties: {
        name: { type: "STRING", minLength: 1, nullable: true },
        kind: { type: "STRING", enum: ["shape"] },
        mode: { type: "STRING", nullable: true, enum: ["a", "b"] },
        count: { type: "INTEGER", minimum: 0, format: "int64" },
        where: {
          type: "OBJECT",
          description: "the point",
          properties: { x: { type: "NUMBER" } },
          required: ["x"],
        },
        either: { anyOf: [{ type: "STRING" }, { type: "NUMBER" }], nullable: true },
        both: {
          type: "OBJECT",
          properties: { a: { type: "STRING" }, b: { type: "BOOLEAN" } },
          required: ["a"],
        },
        list: { type: "ARRAY", items: { type: "STRING" } },
      },
      required: ["name"],
    });
  });

  test("a recursive $ref stops instead of looping", () => {
    const schema = {
      type: "object",
      properties: { node: { $ref: "#/definitions/Node" } },
      definitions: {
        Node: { type: "object", properties: { next: { $ref: "#/definitions/Node" } } },
      },
    };
    expect(JSON.stringify(toGeminiSchema(schema)).length).toBeLessThan(5000);
  });

  test("a function with no parameters has none, and Gemini schemas come back as JSON Schema", () => {
    expect(hasParameters(toGeminiSchema({ type: "object", properties: {} }))).toBe(false);
    expect(
      fromGeminiSchema({
        type: "OBJECT",
        properties: { a: { type: "STRING", nullable: true, format: "enum", enum: ["x"] } },
        propertyOrdering: ["a"],
      }),
    ).toEqual({
      type: "object",
      properties: { a: { type: ["string", "null"], enum: ["x"] } },
    });
  });
});

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
    const anthropic = { name: "work anthropic", protocol: "anthropic" as const, baseUrl: "" };
    expect(issuedBy(decodeOpaque(encoded, "gemini"), anthropic)).toBe(true);
    expect(
      issuedBy(decodeOpaque("raw-signature", "anthropic"), { ...anthropic, name: "other" }),
    ).toBe(true);
    expect(issuedBy(decodeOpaque(encoded, "gemini"), { ...anthropic, name: "other" })).toBe(false);
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

describe("Gemini's JSON-array stream", () => {
  test("ends at its closing bracket, whatever follows on a connection left open", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('[{"a":1},\r\n{"b":2}]'));
        // Never closed: the reader must not wait for the end of the body.
      },
    });
    expect(await collect(readJsonArray(body))).toEqual([{ a: 1 }, { b: 2 }]);
  });
});

describe("where each event ends, for a forwarded stream cut at its final event", () => {
  /** Feeds the chunks to a reader and returns, per event, the absolute byte offset after it. */
  async function endsOf(
    read: (
      body: AsyncIterable<Uint8Array> & { eventEnded(o: number): void },
    ) => AsyncIterable<unknown>,
    chunks: Uint8Array[],
  ): Promise<number[]> {
    const ends: number[] = [];
    let base = 0;
    let current = 0;
    const input = {
      eventEnded: (offset: number) => ends.push(base + offset),
      async *[Symbol.asyncIterator]() {
        for (const chunk of chunks) {
          base += current;
          current = chunk.length;
          yield chunk;
        }
      },
    };
    for await (const _ of read(input));
    return ends;
  }
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cutsOf = (all: Uint8Array) =>
    Array.from({ length: all.length + 1 }, (_, cut) =>
      [all.slice(0, cut), all.slice(cut)].filter((c) => c.length > 0),
    );

  test("SSE: after each event's blank line, whatever the cut, CRLF and multi-byte text included", async () => {
    const events = [
      'data: {"t":"héllo ✓"}\r\n\r\n',
      "event: x\ndata: [DONE]\n\n",
      ": comment\r\ndata: last\r\r",
    ];
    const all = bytes(events.join(""));
    const expected = events.map((_, i) => bytes(events.slice(0, i + 1).join("")).length);
    for (const chunks of cutsOf(all)) {
      const ends = await endsOf(readSse, chunks);
      // A CR that ends a chunk may be half of a CRLF: its event ends at the CR, and the LF follows.
      expect(
        ends.map((end, i) => (end === expected[i]! - 1 && all[end] === 10 ? end + 1 : end)),
      ).toEqual(expected);
    }
  });

  test("JSON array: after each element and after the closing bracket, whatever the cut", async () => {
    const text = '[{"a":"ü]"},\r\n{"b":[1]}]';
    const all = bytes(text);
    const expected = [
      bytes('[{"a":"ü]"}').length,
      bytes('[{"a":"ü]"},\r\n{"b":[1]}').length,
      all.length,
    ];
    for (const chunks of cutsOf(all)) expect(await endsOf(readJsonArray, chunks)).toEqual(expected);
  });
});

describe("spotting where a forwarded stream's final event may be", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  test.each([
    ["in one chunk", ['data: {"a":1}\n\n', "data: [DONE]\n\n"], [false, true]],
    ["split across two chunks", ["data: {}\n\ndata: [DO", "NE]\n\n"], [false, true]],
    [
      "split one byte at a time",
      ["data: ", "[", "D", "O", "N", "E", "]", "\n\n"],
      [false, false, false, false, false, false, true, true],
    ],
    ["never", ['data: {"choices":[]}\n\n', 'data: {"choices":[{"x":"DONE"}]}\n\n'], [false, false]],
    [
      "from the marker on, every chunk (its blank line may come later)",
      ["data: [DONE]\n", "\n", ": trailing\n\n"],
      [true, true, true],
    ],
  ])("%s", (_name, chunks, expected) => {
    const spot = finalSpotter([bytes("[DONE]")]);
    expect(chunks.map((chunk) => spot(bytes(chunk)))).toEqual(expected);
  });
});

describe("Gemini schema conversion is bounded (issue 14)", () => {
  const refsBack = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { $ref: "#/$defs/a" }]));
  const stub = (name: string, description = "") => ({
    type: "OBJECT",
    description: `${description}(recursive: the same shape as ${name}, defined above)`,
  });
  // Six nested definitions whose 20 properties each refer to the next: 64 million nodes inlined.
  const wideDag: Record<string, unknown> = {};
  for (let i = 0; i < 6; i++)
    wideDag[`d${i}`] = {
      type: "object",
      properties: Object.fromEntries(
        Array.from({ length: 20 }, (_, j) => [`p${j}`, { $ref: `#/$defs/d${i + 1}` }]),
      ),
    };
  wideDag.d6 = { type: "string" };
  const deep = (levels: number): Record<string, unknown> => {
    let node: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < levels; i++) node = { type: "object", properties: { child: node } };
    return node;
  };

  const cases: {
    name: string;
    schema: unknown;
    expected?: unknown;
    maxBytes?: number;
    refused?: RegExp;
  }[] = [
    {
      name: "recursive: every property that refers back becomes a stub",
      schema: { $ref: "#/$defs/a", $defs: { a: { type: "object", properties: refsBack(6) } } },
      expected: {
        type: "OBJECT",
        properties: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, stub('"a"')])),
      },
    },
    {
      name: "recursive through an array, with a description kept",
      schema: {
        type: "object",
        properties: { tree: { $ref: "#/$defs/t" } },
        $defs: { t: { type: "array", items: { $ref: "#/$defs/t", description: "subtree" } } },
      },
      expected: {
        type: "OBJECT",
        properties: {
          tree: {
            type: "ARRAY",
            items: {
              type: "ARRAY",
              items: { type: "OBJECT" },
              description: 'subtree (recursive: the same shape as "t", defined above)',
            },
          },
        },
      },
    },
    {
      name: "mutually recursive: a -> b -> a stops at the second a",
      schema: {
        $ref: "#/$defs/a",
        $defs: {
          a: { type: "object", properties: { b: { $ref: "#/$defs/b" } } },
          b: { type: "object", properties: { a: { $ref: "#/$defs/a" }, n: { type: "integer" } } },
        },
      },
      expected: {
        type: "OBJECT",
        properties: {
          b: { type: "OBJECT", properties: { a: stub('"a"'), n: { type: "INTEGER" } } },
        },
      },
    },
    {
      name: "a reference to the root (#)",
      schema: { type: "object", properties: { self: { $ref: "#" }, x: { type: "string" } } },
      expected: {
        type: "OBJECT",
        properties: { self: stub("the whole parameters object"), x: { type: "STRING" } },
      },
    },
    {
      name: "the same definition twice, side by side, is inlined twice (not recursion)",
      schema: {
        type: "object",
        properties: { from: { $ref: "#/$defs/p" }, to: { $ref: "#/$defs/p" } },
        $defs: { p: { type: "object", properties: { x: { type: "number" } } } },
      },
      expected: {
        type: "OBJECT",
        properties: {
          from: { type: "OBJECT", properties: { x: { type: "NUMBER" } } },
          to: { type: "OBJECT", properties: { x: { type: "NUMBER" } } },
        },
      },
    },
    {
      name: "wide: 2,000 plain properties convert",
      schema: {
        type: "object",
        properties: Object.fromEntries(
          Array.from({ length: 2000 }, (_, i) => [`p${i}`, { type: "string" }]),
        ),
      },
      maxBytes: 60_000,
    },
    {
      name: "wide: 5,000 properties that refer back stay small",
      schema: { $ref: "#/$defs/a", $defs: { a: { type: "object", properties: refsBack(5000) } } },
      maxBytes: 600_000,
    },
    {
      name: "deep: nesting 10,000 levels is cut at the depth limit",
      schema: deep(10_000),
      maxBytes: 5_000,
    },
    {
      name: "a DAG of references that multiplies is refused, naming the tool",
      schema: { $ref: "#/$defs/d0", $defs: wideDag },
      refused: /tool "t".*too large/,
    },
    {
      name: "one definition with a long description inlined 1,000 times is refused by size",
      schema: {
        type: "object",
        properties: Object.fromEntries(
          Array.from({ length: 1000 }, (_, i) => [`p${i}`, { $ref: "#/$defs/d" }]),
        ),
        $defs: { d: { type: "string", description: "x".repeat(10_000) } },
      },
      refused: /tool "t".*too large/,
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const started = performance.now();
      if (c.refused) {
        expect(() => toGeminiSchema(c.schema, undefined, 'tool "t"')).toThrow(c.refused);
      } else {
        const out = toGeminiSchema(c.schema, undefined, 'tool "t"');
        if (c.expected) expect(out).toEqual(c.expected as Record<string, unknown>);
        if (c.maxBytes) expect(JSON.stringify(out).length).toBeLessThan(c.maxBytes);
      }
      // The budget bounds the work, not only the output.
      expect(performance.now() - started).toBeLessThan(1000);
    });
  }

  test("the budget is shared by a request's schemas: many tools of a moderate DAG run it out together", () => {
    const budget = schemaBudget();
    // 3,000 references to one definition: about 6,000 of the 10,000 steps each.
    const moderate = {
      type: "object",
      properties: Object.fromEntries(
        Array.from({ length: 3000 }, (_, i) => [`p${i}`, { $ref: "#/$defs/s" }]),
      ),
      $defs: { s: { type: "string" } },
    };
    toGeminiSchema(moderate, budget, 'tool "one"');
    expect(() => toGeminiSchema(moderate, budget, 'tool "two"')).toThrow(/tool "two"/);
  });

  test("a Gemini client's schema nested 50,000 deep is a 400, not a stack overflow", () => {
    let node: Record<string, unknown> = { type: "STRING" };
    for (let i = 0; i < 50_000; i++) node = { type: "OBJECT", properties: { c: node } };
    expect(() => fromGeminiSchema(node)).toThrow(/nested more than 64 levels/);
    let shallow: Record<string, unknown> = { type: "STRING" };
    for (let i = 0; i < 60; i++) shallow = { type: "OBJECT", properties: { c: shallow } };
    expect(JSON.stringify(fromGeminiSchema(shallow)).split('"object"').length - 1).toBe(60);
  });

  test("an over-budget schema is a 400 the client sees", () => {
    try {
      toGeminiSchema({ $ref: "#/$defs/d0", $defs: wideDag }, undefined, 'tool "t"');
      throw new Error("not refused");
    } catch (error) {
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).status).toBe(400);
    }
  });
});
