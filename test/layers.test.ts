import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/*
 * The folders of src/ in request order: a module may import from its own layer and the layers
 * below it, never above. The README's "How the code is organised" lists the same table.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["main.ts", "server.ts", "deno.ts", "runtime.ts", "cli/"],
  ["http/"],
  ["operations/", "ui/"],
  ["pipeline/"],
  ["observe/", "keys/", "cost/"],
  ["pool/"],
  ["upstream/"],
  ["state/"],
  ["config/", "mapping/"],
  ["codecs/"],
  [
    "ir.ts",
    "log.ts",
    "version.ts",
    "sweep.ts",
    "failure.ts",
    "scrub.ts",
    "upstream-limits.ts",
    "deadlines.ts",
    "bytes.ts",
    "clip.ts",
    "lazy.ts",
    "tokens/",
  ],
];

/** The layer of a path relative to src/, or undefined for a file the table does not place. */
export function layerOf(path: string): number | undefined {
  const index = LAYERS.findIndex((layer) =>
    layer.some((entry) => (entry.endsWith("/") ? path.startsWith(entry) : path === entry)),
  );
  return index === -1 ? undefined : index;
}

/** Every relative module a source file imports or re-exports, type-only ones included. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const pattern =
    /(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*["'](\.[^"']+)["']|import\s*\(\s*["'](\.[^"']+)["']\s*\)|^import\s*["'](\.[^"']+)["']/gm;
  for (const match of source.matchAll(pattern)) found.push((match[1] ?? match[2] ?? match[3])!);
  return found;
}

interface Violation {
  from: string;
  to: string;
}

/** Imports that climb from a lower layer to a higher one, and files the table does not place. */
export function violations(files: ReadonlyMap<string, string>): {
  upward: Violation[];
  unplaced: string[];
} {
  const upward: Violation[] = [];
  const unplaced = new Set<string>();
  for (const [from, source] of files) {
    const fromLayer = layerOf(from);
    if (fromLayer === undefined) {
      unplaced.add(from);
      continue;
    }
    for (const specifier of importsOf(source)) {
      const to = normalize(join(dirname(from), specifier));
      if (to.startsWith("..")) continue; // outside src/ (package.json, routes.yaml)
      const toLayer = layerOf(to);
      if (toLayer === undefined) unplaced.add(to);
      else if (toLayer < fromLayer) upward.push({ from, to });
    }
  }
  return { upward, unplaced: [...unplaced] };
}

function sourceFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
        files.set(relative(root, path), readFileSync(path, "utf8"));
    }
  };
  walk(root);
  return files;
}

describe("the layer checker", () => {
  const cases: { name: string; files: Record<string, string>; upward: Violation[] }[] = [
    {
      name: "a downward import passes",
      files: { "http/gateway.ts": 'import { x } from "../operations/health.ts";' },
      upward: [],
    },
    {
      name: "an upward import is found",
      files: { "pool/pool.ts": 'import { x } from "../observe/trace.ts";' },
      upward: [{ from: "pool/pool.ts", to: "observe/trace.ts" }],
    },
    {
      name: "a type-only import counts",
      files: { "codecs/shared.ts": 'import type { Upstream } from "../config/snapshot.ts";' },
      upward: [{ from: "codecs/shared.ts", to: "config/snapshot.ts" }],
    },
    {
      name: "a re-export counts",
      files: { "failure.ts": 'export { GatewayError } from "./http/errors.ts";' },
      upward: [{ from: "failure.ts", to: "http/errors.ts" }],
    },
    {
      name: "a multi-line import counts",
      files: { "upstream/x.ts": 'import {\n  a,\n  b,\n} from "../pipeline/serve.ts";' },
      upward: [{ from: "upstream/x.ts", to: "pipeline/serve.ts" }],
    },
    {
      name: "a dynamic import counts",
      files: { "state/x.ts": 'const m = await import("../http/body.ts");' },
      upward: [{ from: "state/x.ts", to: "http/body.ts" }],
    },
    {
      name: "an import within a layer passes",
      files: { "config/load.ts": 'import { t } from "../mapping/table.ts";' },
      upward: [],
    },
    {
      name: "an entry point may import anything",
      files: {
        "server.ts": 'import { a } from "./http/gateway.ts";\nimport { b } from "./failure.ts";',
      },
      upward: [],
    },
  ];
  for (const { name, files, upward } of cases) {
    test(name, () => {
      expect(violations(new Map(Object.entries(files))).upward).toEqual(upward);
    });
  }

  test("a file the table does not place is reported", () => {
    const found = violations(new Map([["newfolder/x.ts", ""]]));
    expect(found.unplaced).toEqual(["newfolder/x.ts"]);
  });
});

describe("src/", () => {
  const files = sourceFiles(join(import.meta.dir, "..", "src"));

  test("no import runs from a lower layer to a higher one", () => {
    expect(files.size).toBeGreaterThan(50);
    const found = violations(files).upward.map((v) => `${v.from} -> ${v.to}`);
    expect(found).toEqual([]);
  });

  test("every file sits in a layer", () => {
    expect(violations(files).unplaced).toEqual([]);
  });
});
