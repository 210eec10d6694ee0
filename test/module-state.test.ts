import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "..");

/*
 * No module-level mutable state in src/ outside the entry points: state belongs to an instance
 * that createRuntime builds, so that two gateways in one process (every test file starts several)
 * share nothing, and nothing depends on the order modules were loaded in. Read-only constant tables
 * are fine when their type says so.
 *
 * The files are Biome-formatted, so every top-level statement starts at column 0 and everything
 * inside one is indented or is its closing bracket. That is enough to find top-level declarations
 * with a line scan, without a TypeScript parser.
 */

type Rule = "let" | "mutable-const" | "env";

interface Finding {
  rule: Rule;
  /** The declared name, or for an environment read, the line's text. */
  name: string;
  line: number;
}

const DECLARATION = /^(export\s+)?(declare\s+)?(let|var|const)\s+/;
// The first line after a statement's own: indented, blank, or a closing bracket of it.
const CONTINUATION = /^(\s|$|[}\])])/;
const CONTAINER = /^(new\s+(Map|Set|WeakMap|WeakSet|SweepList|Array)\b|Array\s*\(|[[{])/;
// A primitive is immutable whatever builds it ([…].join(", ") is a string).
const READONLY_TYPE = /^(Readonly(Set|Map|Array)?\b|readonly\s|(string|number|boolean)$)/;
const ENVIRONMENT = /\bprocess\.env\b|\bBun\.env\b|\bDeno\.env\b|\bimport\.meta\.env\b/;

/** Where the annotation ends and the initialiser begins: the first `=` outside brackets that is not `=>`. */
function splitAtAssignment(text: string): [string, string] | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ("<([{".includes(c)) depth++;
    else if (">)]}".includes(c) && text[i - 1] !== "=") depth--;
    else if (c === "=" && depth === 0 && text[i + 1] !== ">" && text[i + 1] !== "=")
      return [text.slice(0, i), text.slice(i + 1)];
  }
  return undefined;
}

/** A top-level `const` that holds a container someone could write to. */
function mutableConst(statement: string): boolean {
  const [head, rest] = splitAtAssignment(statement) ?? [];
  if (head === undefined || rest === undefined) return false;
  const colon = head.indexOf(":");
  const type = colon >= 0 ? head.slice(colon + 1).trim() : "";
  const init = rest.trim().replace(/;$/, "").trim();
  if (!CONTAINER.test(init)) return false;
  if (READONLY_TYPE.test(type)) return false;
  if (/\bas\s+(const|Readonly\w*\b.*)$/s.test(init)) return false;
  return true;
}

function isComment(line: string): boolean {
  return /^\s*(\/\/|\/\*|\*)/.test(line);
}

/** The module-level state in one file's source. */
export function findModuleState(source: string): Finding[] {
  const lines = source.split("\n");
  const found: Finding[] = [];
  for (const [i, line] of lines.entries()) {
    if (!isComment(line) && ENVIRONMENT.test(line))
      found.push({ rule: "env", name: line.trim(), line: i + 1 });
    const declaration = DECLARATION.exec(line);
    if (!declaration || declaration[2]) continue;
    const name = /^[\w$]+/.exec(line.slice(declaration[0].length))?.[0] ?? "(destructured)";
    if (declaration[3] !== "const") {
      found.push({ rule: "let", name, line: i + 1 });
      continue;
    }
    let end = i + 1;
    while (end < lines.length && CONTINUATION.test(lines[end]!)) end++;
    if (mutableConst(lines.slice(i, end).join("\n")))
      found.push({ rule: "mutable-const", name, line: i + 1 });
  }
  return found;
}

describe("the module-state check", () => {
  const cases: [string, string, Rule[]][] = [
    ["a top-level let", "let count = 0;\n", ["let"]],
    ["an exported let", "export let current: string | undefined;\n", ["let"]],
    ["a top-level var", "var legacy = 1;\n", ["let"]],
    ["a let inside a function", "function f() {\n  let x = 0;\n  return x;\n}\n", []],
    ["a Map", "const seen = new Map<string, number>();\n", ["mutable-const"]],
    [
      "a typed WeakMap",
      "const cache: WeakMap<object, string> = new WeakMap();\n",
      ["mutable-const"],
    ],
    ["a SweepList", "const watched = new SweepList<W>(100, check);\n", ["mutable-const"]],
    ["an array literal", "const queue: string[] = [];\n", ["mutable-const"]],
    [
      "an object table over lines",
      "const NAMES: Record<number, string> = {\n  1: 'one',\n};\n",
      ["mutable-const"],
    ],
    ["a ReadonlySet", "export const KINDS: ReadonlySet<string> = new Set(['a']);\n", []],
    ["a ReadonlyMap", "const BY: ReadonlyMap<string, number> = new Map([['a', 1]]);\n", []],
    ["a readonly array", "const LIST: readonly string[] = ['a', 'b'];\n", []],
    ["a Readonly record", "const T: Readonly<Record<string, number>> = {\n  a: 1,\n};\n", []],
    ["as const", "export const FILES = ['a.yaml', 'b.yaml'] as const;\n", []],
    ["as const over lines", "const X = [\n  'a',\n  'b',\n] as const;\n", []],
    ["frozen", "const DEFAULTS = Object.freeze({ a: 1 });\n", []],
    ["a number", "const LIMIT = 64 * 1024;\n", []],
    [
      "a string built from a list",
      'const EXPOSED: string = [\n  "a",\n  "b",\n].join(", ");\n',
      [],
    ],
    ["an untyped list joined", 'const EXPOSED = [\n  "a",\n].join(", ");\n', ["mutable-const"]],
    ["a function", "const count = (text: string): number => text.length;\n", []],
    ["a type with an arrow", "const f: (a: number) => number[] = (a) => [a];\n", []],
    ["a declared global", "declare const Deno: { args: string[] };\n", []],
    ["process.env", "export function f() {\n  return process.env.HOME;\n}\n", ["env"]],
    ["Bun.env", "const home = Bun.env.HOME;\n", ["env"]],
    ["process.env in a comment", "// reads process.env once\n/* process.env */\n", []],
    ["a class field Map", "class A {\n  private readonly m = new Map<string, number>();\n}\n", []],
  ];
  for (const [what, source, rules] of cases)
    test(what, () => expect(findModuleState(source).map((f) => f.rule)).toEqual(rules));
});

// Entry points assemble the runtime and own the process: state there is theirs.
const ENTRY_POINTS = [
  /^src\/main\.ts$/,
  /^src\/server\.ts$/,
  /^src\/deno\.ts$/,
  /^src\/runtime\.ts$/,
  /^src\/cli\//,
  /^src\/ui\//,
  /\.test\.ts$/,
];

function sourceFiles(): string[] {
  const glob = new Bun.Glob("src/**/*.ts");
  return [...glob.scanSync({ cwd: REPO })]
    .filter((file) => !ENTRY_POINTS.some((pattern) => pattern.test(file)))
    .sort();
}

test("no module-level mutable state in src/ outside the entry points", () => {
  const offences: string[] = [];
  for (const file of sourceFiles())
    for (const finding of findModuleState(readFileSync(join(REPO, file), "utf8")))
      offences.push(`${file}: ${finding.name}`);
  expect(offences).toEqual([]);
});
