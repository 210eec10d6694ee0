import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hasParameters, schemaBudget, toGeminiSchema } from "../src/codecs/gemini/schema.ts";
import { GEMINI_SCHEMA_FIELDS, geminiSchemaErrors } from "./support/gemini-schema-rules.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, type TestGateway } from "./support/gateway.ts";

/*
 * The tool lists real coding CLIs send (captured by scripts/capture-cli-tools.ts into
 * test/fixtures/cli-tools/), converted for Gemini as levity converts them: every converted schema
 * must pass Gemini's documented rules (test/support/gemini-schema-rules.ts), and keep every
 * property of the original, at the same place. LEVITY_SCHEMA_REPORT=1 also prints, per tool, the
 * JSON Schema keywords outside Gemini's subset and what the conversion did with each.
 */

const DIR = join(import.meta.dir, "fixtures", "cli-tools");

interface Fixture {
  cli: string;
  version: string;
  api: "anthropic-messages" | "openai-responses" | "gemini" | "openai-chat";
  tools: any[];
}

interface ToolSchema {
  name: string;
  schema: unknown;
}

/** The JSON Schema of each tool that has one, where the fixture's API puts it; the names of those without. */
function schemasOf(fixture: Fixture): { schemas: ToolSchema[]; without: string[] } {
  const schemas: ToolSchema[] = [];
  const without: string[] = [];
  const add = (name: string, schema: unknown) =>
    schema && typeof schema === "object" ? schemas.push({ name, schema }) : without.push(name);
  for (const tool of fixture.tools) {
    if (fixture.api === "anthropic-messages") add(tool.name, tool.input_schema);
    else if (fixture.api === "openai-chat") add(tool.function?.name, tool.function?.parameters);
    else if (fixture.api === "openai-responses") add(tool.name ?? tool.type, tool.parameters);
    else
      for (const fn of tool.functionDeclarations ?? [])
        add(fn.name, fn.parametersJsonSchema ?? fn.parameters);
  }
  return { schemas, without };
}

type Node = Record<string, any>;
const isNode = (value: unknown): value is Node =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Every schema node by its place (`""` the root, `a.b`, `list[].c`), looking through $ref, allOf,
 * anyOf and oneOf, which the conversion inlines, merges or keeps as anyOf.
 */
function nodesByPlace(root: unknown): Map<string, Node[]> {
  const places = new Map<string, Node[]>();
  const defs: Node = isNode(root) ? { ...root.definitions, ...root.$defs } : {};
  const walk = (node: unknown, at: string, refs: Set<string>) => {
    if (!isNode(node)) return;
    if (!places.has(at)) places.set(at, []);
    places.get(at)!.push(node);
    if (typeof node.$ref === "string") {
      const name = node.$ref === "#" ? "#" : node.$ref.replace(/^#\/(\$defs|definitions)\//, "");
      if (refs.has(name)) return; // recursion: the conversion stops here too
      walk(name === "#" ? root : defs[name], at, new Set([...refs, name]));
    }
    for (const key of ["allOf", "anyOf", "oneOf"])
      if (Array.isArray(node[key])) for (const sub of node[key]) walk(sub, at, refs);
    if (isNode(node.properties))
      for (const [name, sub] of Object.entries(node.properties))
        walk(sub, at ? `${at}.${name}` : name, refs);
    if (node.items !== undefined)
      for (const sub of Array.isArray(node.items) ? node.items : [node.items])
        walk(sub, `${at}[]`, refs);
  };
  walk(root, "", new Set(["#"]));
  return places;
}

/** Every property's place in a schema. */
const propertyPaths = (root: unknown): Set<string> =>
  new Set([...nodesByPlace(root).keys()].filter((at) => at !== "" && !at.endsWith("[]")));

const FORMAT_KEPT = new Set(["float", "double", "int32", "int64", "enum", "date-time"]);

/** The keywords of one node (not its children's) that Gemini's subset cannot carry as they are. */
function foreignKeywords(node: Node): string[] {
  const found: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    const shown = JSON.stringify(value).slice(0, 60);
    if (!GEMINI_SCHEMA_FIELDS.has(key)) found.push(`${key} ${shown}`);
    else if (key === "type" && typeof value !== "string") found.push(`type ${shown}`);
    else if (key === "format" && !FORMAT_KEPT.has(value)) found.push(`format ${shown}`);
    else if (key === "enum" && !(value as unknown[]).every((v) => typeof v === "string"))
      found.push(`enum ${shown}`);
  }
  return found;
}

// Rewritten by the conversion into Gemini's own terms (inlined, merged, anyOf, nullable, enum).
const REWRITTEN = new Set(["$ref", "$defs", "definitions", "allOf", "oneOf", "const", "type"]);
// Say nothing about a call's arguments that a model could act on.
const NO_MEANING = new Set(["$schema", "$comment", "$id"]);

/**
 * Per place, what the conversion did with each keyword Gemini has no field for: rewritten into
 * Gemini's terms, said in words in the description (the words it added are shown), or dropped.
 */
function fates(original: unknown, converted: unknown): string[] {
  const after = nodesByPlace(converted);
  const lines: string[] = [];
  for (const [at, nodes] of nodesByPlace(original)) {
    const keys = nodes.flatMap(foreignKeywords);
    if (keys.length === 0) continue;
    const before = nodes
      .map((n) => n.description ?? "")
      .filter(Boolean)
      .join(" ");
    const now = (after.get(at) ?? [])
      .map((n) => n.description ?? "")
      .filter(Boolean)
      .join(" ");
    const added = now === before ? "" : now.startsWith(before) ? now.slice(before.length) : now;
    for (const key of keys) {
      const name = key.split(" ")[0]!;
      const fate = REWRITTEN.has(name)
        ? "rewritten"
        : NO_MEANING.has(name)
          ? "dropped (no meaning for the model)"
          : name === "additionalProperties" && key.endsWith(" false")
            ? "dropped (closed object: Gemini cannot say it; models send no extra keys anyway)"
            : added.trim()
              ? `in the description: ${JSON.stringify(added.trim())}`
              : "DROPPED";
      lines.push(`  ${at === "" ? "(root)" : at}: ${key} -> ${fate}`);
    }
  }
  return lines;
}

const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
const fixtures: Fixture[] = files.map(
  (file) => JSON.parse(readFileSync(join(DIR, file), "utf8")) as Fixture,
);

test("there are captured tool lists", () => {
  expect(files.length).toBeGreaterThan(0);
});

const report: string[] = [];

for (const file of files) {
  const fixture = JSON.parse(readFileSync(join(DIR, file), "utf8")) as Fixture;
  const { schemas, without } = schemasOf(fixture);

  describe(`${fixture.cli} ${fixture.version}`, () => {
    test("has tools with JSON Schemas", () => {
      expect(schemas.length).toBeGreaterThan(0);
    });

    // One request's schemas share one budget, as in the codec.
    const budget = schemaBudget();
    for (const [i, { name, schema }] of schemas.entries()) {
      const converted = toGeminiSchema(schema, budget, `tool "${name}"`);

      test(`${name}: Gemini accepts the converted parameters`, () => {
        // Without properties the codec leaves `parameters` out, which Gemini accepts.
        if (!hasParameters(converted)) return;
        const path = `tools[0].function_declarations[${i}].parameters`;
        expect(geminiSchemaErrors(converted, path)).toEqual([]);
      });

      test(`${name}: every property of the original is kept at its place`, () => {
        const kept = hasParameters(converted) ? propertyPaths(converted) : new Set<string>();
        expect([...propertyPaths(schema)].filter((p) => !kept.has(p))).toEqual([]);
      });

      const lines = fates(schema, converted);
      if (lines.length > 0)
        report.push(`${fixture.cli} ${fixture.version} ${name}:\n${lines.join("\n")}`);
    }

    // Codex's freeform apply_patch (a grammar, no JSON Schema) and its hosted web_search.
    if (without.length > 0)
      test(`tools without a JSON Schema: ${without.join(", ")}`, () => {
        expect(without.every((name) => typeof name === "string")).toBe(true);
      });
  });
}

if (process.env.LEVITY_SCHEMA_REPORT === "1")
  test("report: keywords outside Gemini's subset, per tool", () => {
    console.log(report.join("\n"));
  });

/*
 * The same tool lists as the CLIs send them, through a running levity to a fake Gemini that
 * refuses what Gemini refuses (test/support/fake-gemini.ts applies the same documented rules):
 * each CLI's request, in its own API, is answered, not refused for a schema.
 */
describe("through levity to the schema-validating Gemini fake", () => {
  const KEY = "gm-cli-tools-key-0001";
  let ge: FakeUpstream;
  let gw: TestGateway;
  beforeAll(() => {
    ge = fakeGemini(KEY);
    gw = startGateway({
      gateway: `proxy:\n  cooldown_wait: 0\nupstreams:\n  - name: ge\n    protocol: gemini\n    base_url: ${ge.url}\n    accounts:\n      - { name: a, key: ${KEY} }\n`,
      mappings: "exact:\n  cli-model: ge/gemini-2.5-flash-real\n",
    });
  });
  afterAll(async () => {
    await gw.stop();
    await ge.stop();
  });

  const requests: Record<Fixture["api"], (tools: unknown[]) => { path: string; body: unknown }> = {
    "anthropic-messages": (tools) => ({
      path: "/v1/messages",
      body: {
        model: "cli-model",
        max_tokens: 64,
        messages: [{ role: "user", content: "hi" }],
        tools,
      },
    }),
    "openai-chat": (tools) => ({
      path: "/v1/chat/completions",
      body: { model: "cli-model", messages: [{ role: "user", content: "hi" }], tools },
    }),
    "openai-responses": (tools) => ({
      path: "/v1/responses",
      body: { model: "cli-model", input: "hi", tools },
    }),
    gemini: (tools) => ({
      path: "/v1beta/models/cli-model:generateContent",
      body: { contents: [{ role: "user", parts: [{ text: "hi" }] }], tools },
    }),
  };

  for (const fixture of fixtures)
    test(`${fixture.cli} ${fixture.version}: its ${fixture.tools.length} tools are accepted`, async () => {
      const { path, body } = requests[fixture.api](fixture.tools);
      const response = await fetch(`${gw.origin}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      expect({ status: response.status, text: response.ok ? "" : text }).toEqual({
        status: 200,
        text: "",
      });
      // The fake saw the tools, as function declarations.
      const sent = ge.requests.at(-1)?.json as { tools?: { functionDeclarations?: unknown[] }[] };
      expect(sent.tools?.flatMap((t) => t.functionDeclarations ?? []).length).toBeGreaterThan(0);
    });
});
