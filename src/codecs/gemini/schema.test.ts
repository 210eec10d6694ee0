import { describe, expect, test } from "bun:test";
import { fromGeminiSchema, hasParameters, schemaBudget, toGeminiSchema } from "./schema.ts";
import { GatewayError } from "../../failure.ts";

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
        // A format Gemini does not know is said in words, not dropped.
        name: { type: "STRING", minLength: 1, nullable: true, description: "(format: email)" },
        kind: { type: "STRING", enum: ["shape"] },
        mode: { type: "STRING", nullable: true, enum: ["a", "b"] },
        count: { type: "INTEGER", minimum: 0, format: "int64" },
        where: {
          type: "OBJECT",
          description: "the point",
          properties: { x: { type: "NUMBER", description: "(greater than 0)" } },
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

describe("constraints Gemini's subset cannot say are kept in the description", () => {
  const cases: {
    name: string;
    schema: Record<string, unknown>;
    expected: Record<string, unknown>;
  }[] = [
    {
      name: "exclusiveMinimum and exclusiveMaximum as numbers (draft 6 on)",
      schema: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
      expected: { type: "NUMBER", description: "(greater than 0; less than 1)" },
    },
    {
      name: "exclusiveMinimum as a flag beside minimum (draft 4), which stays",
      schema: { type: "integer", minimum: 5, exclusiveMinimum: true },
      expected: { type: "INTEGER", minimum: 5, description: "(greater than 5)" },
    },
    {
      name: "multipleOf",
      schema: { type: "integer", multipleOf: 15, description: "Minutes." },
      expected: { type: "INTEGER", description: "Minutes. (a multiple of 15)" },
    },
    {
      name: "uniqueItems",
      schema: { type: "array", items: { type: "string" }, uniqueItems: true },
      expected: { type: "ARRAY", items: { type: "STRING" }, description: "(items must be unique)" },
    },
    {
      name: "a number's const",
      schema: { type: "integer", const: 2 },
      expected: { type: "INTEGER", description: "(exactly 2)" },
    },
    {
      name: "a string's const stays an enum",
      schema: { const: "fixed" },
      expected: { type: "STRING", enum: ["fixed"] },
    },
    {
      name: "an enum of numbers",
      schema: { type: "integer", enum: [1, 2, 3] },
      expected: { type: "INTEGER", description: "(one of 1, 2, 3)" },
    },
    {
      name: "formats Gemini does not know; those it knows stay formats",
      schema: {
        type: "object",
        properties: {
          url: { type: "string", format: "uri" },
          id: { type: "string", format: "uuid" },
          at: { type: "string", format: "date-time" },
        },
      },
      expected: {
        type: "OBJECT",
        properties: {
          url: { type: "STRING", description: "(format: uri)" },
          id: { type: "STRING", description: "(format: uuid)" },
          at: { type: "STRING", format: "date-time" },
        },
      },
    },
    {
      name: "propertyNames and a map's value type",
      schema: {
        type: "object",
        propertyNames: { pattern: "^[a-z]+$" },
        additionalProperties: { type: "string" },
      },
      expected: {
        type: "OBJECT",
        description: "(property names match ^[a-z]+$; any keys, each holding string)",
      },
    },
    {
      name: "annotations for people and tools are dropped, and nothing is added for them",
      schema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        $comment: "generated",
        $id: "urn:x",
        type: "string",
        description: "A path.",
      },
      expected: { type: "STRING", description: "A path." },
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      expect(toGeminiSchema(c.schema)).toEqual(c.expected);
    });
});
