import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { builtInJson } from "./built-in-values.ts";
import { MappingsSchema, RoutesSchema } from "./schema.ts";
import { validateSource } from "./validate.ts";
import { lineOf, parsedSource, parseYaml } from "./yaml-source.ts";

const ROOT = join(import.meta.dir, "..", "..");
const BUILT_IN = [
  ["routes.yaml", RoutesSchema],
  ["mappings.yaml", MappingsSchema],
] as const;

describe("the built-in files' values compiled into the binary", () => {
  for (const [name, schema] of BUILT_IN) {
    const text = readFileSync(join(ROOT, name), "utf8");

    test(`${name}: the same value and the same checked result as parsing its YAML`, () => {
      const value = JSON.parse(builtInJson(name, text));
      const yaml = parseYaml(name, text).source;
      expect(value).toEqual(yaml.doc.toJS());
      const fromValue = validateSource(parsedSource(name, text, value), schema);
      expect(fromValue.problems).toEqual([]);
      expect(fromValue.value).toEqual(validateSource(yaml, schema).value!);
    });
  }

  test("a file with a variable or that does not parse is refused at build time", () => {
    expect(() => builtInJson("x.yaml", "key: ${HOME}\n")).toThrow(/holds a "\$"/);
    expect(() => builtInJson("x.yaml", "key: [unclosed\n")).toThrow(/does not parse/);
  });
});

describe("parsedSource", () => {
  test("checks the value it was given, not its text", () => {
    const source = parsedSource("f.yaml", "exact: {}\nwildcard: {}\n", {
      exact: { "gpt-4o": "echo/x" },
      wildcard: {},
    });
    expect(validateSource(source, MappingsSchema).value?.exact).toEqual({ "gpt-4o": "echo/x" });
  });

  test("still finds a line in its text when a problem needs one", () => {
    const text = "exact: {}\nwildcard:\n  bogus: 3\n";
    const source = parsedSource("f.yaml", text, parseYaml("f.yaml", text).source.doc.toJS());
    const checked = validateSource(source, MappingsSchema);
    expect(checked.problems.map((p) => [p.file, p.line])).toEqual([["f.yaml", 3]]);
    expect(lineOf(source, ["wildcard"])).toBe(2);
  });
});
