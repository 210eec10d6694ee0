import { describe, expect, test } from "bun:test";
import { parseYaml } from "./yaml-source.ts";

describe("parseYaml's problems", () => {
  test.each([
    [
      "proxy:\n  port: 1\n   bad: 2\n",
      2,
      "Nested mappings are not allowed in compact mappings (column 9)",
    ],
    [
      "proxy: [\n",
      2,
      "Flow sequence in block collection must be sufficiently indented and end with a ] (column 1)",
    ],
    ["a:\n\t- x\n", 2, "Tabs are not allowed as indentation (column 1)"],
    ["a: 1\na: 2\n", 2, "Map keys must be unique (column 1)"],
    // The code frame would show the line, which in gateway.yaml may hold a key: it is left out.
    [
      "api_key: sk-secret-0123: x\n",
      1,
      "Nested mappings are not allowed in compact mappings (column 10)",
    ],
  ])("%j: line %d, %s", (text, line, message) => {
    const [first] = parseYaml("gateway.yaml", text).problems;
    expect(first).toEqual({ file: "gateway.yaml", line, message });
    expect(JSON.stringify(parseYaml("gateway.yaml", text).problems)).not.toContain("sk-secret");
  });
});
