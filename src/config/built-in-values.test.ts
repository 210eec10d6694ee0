import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtInJson } from "./built-in-values.ts";
import { loadConfig } from "./load.ts";
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

    test(`${name}: the value its YAML gives once checked, key for key`, () => {
      const value = JSON.parse(builtInJson(name, text, schema));
      const checked = validateSource(parseYaml(name, text).source, schema);
      expect(checked.problems).toEqual([]);
      expect(value).toStrictEqual(checked.value);
      // The check fills in defaults: the value is not the YAML's as written.
      if (name === "routes.yaml") expect(value.normalize.collapse_slashes).toBe(true);
    });
  }

  test("a file with a variable, that does not parse, or that fails its schema is refused at build time", () => {
    expect(() => builtInJson("x.yaml", "exact: {}\nkey: ${HOME}\n", MappingsSchema)).toThrow(
      /holds a "\$"/,
    );
    expect(() => builtInJson("x.yaml", "key: [unclosed\n", MappingsSchema)).toThrow(
      /does not parse/,
    );
    expect(() => builtInJson("routes.yaml", "routes: []\n", RoutesSchema)).toThrow(
      /does not pass its schema: routes must list at least one route/,
    );
  });
});

describe("loadConfig in a binary built with the values", () => {
  const text = (name: string) => readFileSync(join(ROOT, name), "utf8");
  /**
   * loadConfig on an empty directory, in a binary built with what build.ts defines, the built-in
   * mappings' value changed by `edit` first.
   */
  const loadBuiltWith = (edit: (mappings: Record<string, unknown>) => void) => {
    const mappings = JSON.parse(
      builtInJson("mappings.yaml", text("mappings.yaml"), MappingsSchema),
    );
    edit(mappings);
    const globals = globalThis as { LEVITY_BUILT_IN_JSON?: unknown };
    globals.LEVITY_BUILT_IN_JSON = {
      routes: builtInJson("routes.yaml", text("routes.yaml"), RoutesSchema),
      mappings: JSON.stringify(mappings),
    };
    try {
      return loadConfig({ dir: mkdtempSync(join(tmpdir(), "levity-built-in-")), env: {} });
    } finally {
      delete globals.LEVITY_BUILT_IN_JSON;
    }
  };

  test("takes a built-in file's value from the binary, not from its YAML", () => {
    // One rule added that the built-in mappings.yaml does not have: loaded from the value, the
    // rule is there; parsed from the YAML, it would not be.
    const snapshot = loadBuiltWith((mappings) => {
      mappings.exact = { "only-in-the-value": "echo/from-the-value" };
    });
    const rule = snapshot.mappings.exact.get("only-in-the-value");
    expect(rule?.targets.map((t) => `${t.upstream}/${t.model}`)).toEqual(["echo/from-the-value"]);
    expect(snapshot.mappings.file).toBe("built-in mappings.yaml");
    expect(snapshot.routes.routes.length).toBeGreaterThan(10);
    // Without the value (levity from source), the YAML is read, and the rule is not there.
    const fromYaml = loadConfig({ dir: mkdtempSync(join(tmpdir(), "levity-built-in-")), env: {} });
    expect(fromYaml.mappings.exact.has("only-in-the-value")).toBe(false);
  });

  test("takes a built-in file's value as checked: the build checked it", () => {
    // A key mappings.yaml's schema refuses: checked again at load, it would stop levity.
    const snapshot = loadBuiltWith((mappings) => {
      mappings.checked_when_built = true;
    });
    expect(snapshot.mappings.file).toBe("built-in mappings.yaml");
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

  test("leaves its text unparsed while nothing asks for a line", () => {
    // Parsing it is what the compiled-in value saves at start-up: a text that throws when read
    // shows that checking a sound value never reads it, and that asking for the document does.
    const unread = new Proxy(
      {},
      {
        get() {
          throw new Error("the text was parsed");
        },
      },
    ) as unknown as string;
    const source = parsedSource("f.yaml", unread, {
      exact: { "gpt-4o": "echo/x" },
      wildcard: {},
    });
    expect(validateSource(source, MappingsSchema).problems).toEqual([]);
    expect(() => source.doc).toThrow("the text was parsed");
  });

  test("still finds a line in its text when a problem needs one", () => {
    const text = "exact: {}\nwildcard:\n  bogus: 3\n";
    const source = parsedSource("f.yaml", text, parseYaml("f.yaml", text).source.doc.toJS());
    const checked = validateSource(source, MappingsSchema);
    expect(checked.problems.map((p) => [p.file, p.line])).toEqual([["f.yaml", 3]]);
    expect(lineOf(source, ["wildcard"])).toBe(2);
  });
});
