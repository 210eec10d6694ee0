import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
} from "yaml";
import { formatKeyPath, type ConfigProblem } from "./problem.ts";

/** A parsed YAML file that still knows where each value came from. */
export interface YamlSource {
  file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  /**
   * The file's value, where it was known without parsing it here (a built-in file, parsed when the
   * binary was built): then `doc` and `lines` are parsed only when a line is asked for.
   */
  readonly value?: unknown;
}

export function parseYaml(
  file: string,
  text: string,
): { source: YamlSource; problems: ConfigProblem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((error) => ({
    file,
    line: error.linePos?.[0].line,
    message: yamlMessage(error.message),
  }));
  return { source: { file, doc, lines }, problems };
}

/**
 * The YAML library's message without its code frame (the file's line, which may hold a key) and
 * with its place said as a column: the problem's own prefix already names the file and the line.
 */
export function yamlMessage(message: string): string {
  const first = message.split("\n")[0] ?? message;
  return first.replace(/ at line \d+, column (\d+):$/, " (column $1)");
}

/**
 * A file whose value is already known (a built-in file, parsed when the binary was built): the
 * YAML library, whose first parse was most of levity's start-up (32-43 ms for the built-in
 * routes.yaml and mappings.yaml), runs only if a line number is ever wanted from it.
 */
export function parsedSource(file: string, text: string, value: unknown): YamlSource {
  let parsed: { doc: Document; lines: LineCounter } | undefined;
  const parse = () => {
    if (!parsed) {
      const { source } = parseYaml(file, text);
      parsed = { doc: source.doc, lines: source.lines };
    }
    return parsed;
  };
  return {
    file,
    value,
    get doc() {
      return parse().doc;
    },
    get lines() {
      return parse().lines;
    },
  };
}

/** The line of the deepest node along `path` that exists (a missing key points at its parent). */
export function lineOf(source: YamlSource, path: readonly (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = source.doc.getIn(path.slice(0, depth), true) as Node | undefined;
    // For a key that exists, point at the key itself rather than its value block.
    const pairKey = depth > 0 ? keyNodeAt(source, path.slice(0, depth)) : undefined;
    const range = pairKey?.range ?? node?.range;
    if (range) return source.lines.linePos(range[0]).line;
  }
  return undefined;
}

function keyNodeAt(source: YamlSource, path: readonly (string | number)[]): Node | undefined {
  const parent = source.doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  if (!isMap(parent)) return undefined;
  for (const item of parent.items) {
    if (isScalar(item.key) && item.key.value === last) return item.key;
  }
  return undefined;
}

/** Lines of the keys of the map at `path`, in file order. */
export function keyLines(
  source: YamlSource,
  path: readonly (string | number)[],
): Map<string, number> {
  const out = new Map<string, number>();
  const node = path.length === 0 ? source.doc.contents : source.doc.getIn(path, true);
  if (!isMap(node)) return out;
  for (const item of node.items) {
    if (isScalar(item.key) && item.key.range) {
      out.set(String(item.key.value), source.lines.linePos(item.key.range[0]).line);
    }
  }
  return out;
}

const PLACEHOLDER = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (and `${NAME:-fallback}`) in every string value from `env`; `$$` is a
 * literal `$`. Done on the parsed document, not the raw text, so a value can never change the
 * file's structure. A value that was a lone unquoted placeholder is re-read as a YAML scalar so
 * `port: ${PORT}` yields a number.
 */
export interface UnsetVariable extends ConfigProblem {
  /** Where the placeholder is, as a path into the document. */
  path: (string | number)[];
  variable: string;
}

export function interpolateEnv(
  source: YamlSource,
  env: Record<string, string | undefined>,
): UnsetVariable[] {
  const problems: UnsetVariable[] = [];
  visit(source.doc, {
    Scalar(key, node, ancestry) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("$")) return;
      const original = node.value;
      let missing = false;
      const replaced = original.replace(
        PLACEHOLDER,
        (match, name: string | undefined, fallback: string | undefined) => {
          if (match === "$$") return "$";
          const value = env[name!];
          if (value !== undefined && value !== "") return value;
          if (fallback !== undefined) return fallback;
          missing = true;
          const path = pathFromAncestry(ancestry, node);
          problems.push({
            file: source.file,
            line: node.range ? source.lines.linePos(node.range[0]).line : undefined,
            key: formatKeyPath(path),
            // Set to nothing reads as unset (a service's environment file with NAME= in it), but
            // says so: "not set" sends the user looking for a variable that is there.
            message: `environment variable ${name} is ${value === "" ? "set but empty" : "not set"} (it is used as \${${name}})`,
            path,
            variable: name!,
          });
          return match;
        },
      );
      if (missing || replaced === original) return;
      node.value =
        node.type === "PLAIN" && /^\$\{[^}]+\}$/.test(original) ? reread(replaced) : replaced;
    },
  });
  return problems;
}

function reread(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === "true" || text === "false") return text === "true";
  return text;
}

function pathFromAncestry(ancestry: readonly unknown[], leaf: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  const chain = [...ancestry, leaf];
  for (let i = 0; i < chain.length; i++) {
    const node = chain[i];
    if (isPair(node) && isScalar(node.key)) path.push(String(node.key.value));
    else if (isSeq(node)) {
      const index = (node.items as unknown[]).indexOf(chain[i + 1]);
      if (index >= 0) path.push(index);
    }
  }
  return path;
}
