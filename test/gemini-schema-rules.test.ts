import { describe, expect, test } from "bun:test";
import { geminiSchemaErrors } from "./support/gemini-schema-rules.ts";

/* The validator the schema tests trust to say what Gemini accepts: it must accept every documented field and refuse the rest. */

const GOOD = {
  type: "OBJECT",
  title: "Params",
  description: "Everything Gemini documents",
  properties: {
    name: { type: "STRING", minLength: 1, maxLength: 64, pattern: "^[a-z]+$", example: "abc" },
    mode: { type: "STRING", format: "enum", enum: ["fast", "slow"], default: "fast" },
    when: { type: "STRING", format: "date-time", nullable: true },
    count: { type: "INTEGER", format: "int64", minimum: 0, maximum: 10 },
    ratio: { type: "NUMBER", format: "double" },
    flag: { type: "BOOLEAN" },
    tags: { type: "ARRAY", items: { type: "STRING" }, minItems: 0, maxItems: "5" },
    either: { anyOf: [{ type: "STRING" }, { type: "INTEGER" }] },
    nested: {
      type: "OBJECT",
      properties: { a: { type: "STRING" } },
      required: ["a"],
      propertyOrdering: ["a"],
      minProperties: 1,
      maxProperties: 1,
    },
  },
  required: ["name"],
  propertyOrdering: ["name", "mode"],
};

test("accepts a schema using every documented field", () => {
  expect(geminiSchemaErrors(GOOD)).toEqual([]);
});

const withField = (field: Record<string, unknown>) => ({
  type: "OBJECT",
  properties: { x: { type: "STRING", ...field } },
});

describe("refuses", () => {
  const unknown: [string, unknown][] = [
    ["additionalProperties", false],
    ["$schema", "http://json-schema.org/draft-07/schema#"],
    ["$ref", "#/$defs/x"],
    ["$defs", {}],
    ["$comment", "note"],
    ["const", "x"],
    ["oneOf", [{ type: "STRING" }]],
    ["allOf", [{ type: "STRING" }]],
    ["not", { type: "STRING" }],
    ["uniqueItems", true],
    ["exclusiveMinimum", 0],
    ["exclusiveMaximum", 9],
    ["propertyNames", { pattern: "^a" }],
    ["multipleOf", 2],
    ["examples", ["a"]],
    ["strict", true],
  ];
  for (const [name, value] of unknown) {
    test(`the unknown field ${name}`, () => {
      expect(geminiSchemaErrors(withField({ [name]: value }))).toEqual([
        `Invalid JSON payload received. Unknown name "${name}" at 'parameters.properties[x].value': Cannot find field.`,
      ]);
    });
  }

  const bad: [string, unknown, string][] = [
    ["a lower-case type", { type: "OBJECT", properties: { x: { type: "string" } } }, ".type'"],
    ["a type list", { type: "OBJECT", properties: { x: { type: ["STRING"] } } }, ".type'"],
    ["the type NULL", { type: "OBJECT", properties: { x: { type: "NULL" } } }, ".type'"],
    [
      "no type and no anyOf",
      { type: "OBJECT", properties: { x: { description: "d" } } },
      "type: must be specified",
    ],
    ["an undocumented format", withField({ format: "uri" }), 'format "uri" is not supported'],
    ["a format of another type", withField({ format: "int32" }), "not supported for type STRING"],
    ["a number enum", withField({ enum: [1, 2] }), "every value must be a string"],
    [
      "an enum on INTEGER",
      { type: "OBJECT", properties: { x: { type: "INTEGER", enum: ["1"] } } },
      "only allowed for STRING",
    ],
    [
      "a required name that is no property",
      { type: "OBJECT", properties: { x: { type: "STRING" } }, required: ["y"] },
      "required[0]: property is not defined",
    ],
    [
      "an ARRAY without items",
      { type: "OBJECT", properties: { x: { type: "ARRAY" } } },
      "items: missing field",
    ],
    ["a non-boolean nullable", withField({ nullable: "yes" }), "nullable"],
    ["a fractional maxLength", withField({ maxLength: 1.5 }), "maxLength"],
    ["a string minimum", withField({ minimum: "0" }), "minimum"],
    ["an empty anyOf", { type: "OBJECT", properties: { x: { anyOf: [] } } }, "any_of"],
    [
      "a bad field inside anyOf",
      { type: "OBJECT", properties: { x: { anyOf: [{ type: "STRING", const: "a" }] } } },
      "Unknown name \"const\" at 'parameters.properties[x].value.any_of[0]'",
    ],
    [
      "a bad field inside items",
      {
        type: "OBJECT",
        properties: { x: { type: "ARRAY", items: { type: "STRING", uniqueItems: true } } },
      },
      "Unknown name \"uniqueItems\" at 'parameters.properties[x].value.items'",
    ],
    [
      "an OBJECT root with no properties",
      { type: "OBJECT" },
      "should be non-empty for OBJECT type",
    ],
    [
      "a propertyOrdering name that is no property",
      { type: "OBJECT", properties: { x: { type: "STRING" } }, propertyOrdering: ["y"] },
      "propertyOrdering[0]: property is not defined",
    ],
  ];
  for (const [what, schema, message] of bad) {
    test(what, () => {
      const errors = geminiSchemaErrors(schema);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.join("\n")).toContain(message);
    });
  }
});

test("names the path the way Gemini does when given the declaration's path", () => {
  expect(
    geminiSchemaErrors(
      { type: "OBJECT", properties: { a: { type: "STRING", additionalProperties: false } } },
      "tools[0].function_declarations[3].parameters",
    ),
  ).toEqual([
    `Invalid JSON payload received. Unknown name "additionalProperties" at 'tools[0].function_declarations[3].parameters.properties[a].value': Cannot find field.`,
  ]);
});
