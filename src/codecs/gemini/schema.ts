import { GatewayError } from "../../failure.ts";
import { isObject } from "../json.ts";

/*
 * Tool parameters go to Gemini as `parameters`, the OpenAPI 3.0 subset every Gemini model and
 * endpoint accepts; it rejects any field it does not know ("Unknown name additionalProperties").
 * So the conversion keeps an allowlist and rewrites what JSON Schema says differently: $ref
 * inlined, type lists and null unions as `nullable`, oneOf as anyOf, allOf merged, const as enum.
 * A constraint the subset cannot say (exclusiveMinimum, multipleOf, uniqueItems, a number's const
 * or enum, a format Gemini does not know, propertyNames) is not dropped: it is written into the
 * description, where the model still reads it. Annotations for people and tools ($schema,
 * $comment, $id) are dropped.
 */

export type GeminiSchema = Record<string, unknown>;

const KEPT_AS_IS = [
  "description",
  "title",
  "pattern",
  "default",
  "example",
  "minimum",
  "maximum",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "minProperties",
  "maxProperties",
] as const;

const FORMATS: Readonly<Record<string, string[]>> = {
  STRING: ["enum", "date-time"],
  INTEGER: ["int32", "int64"],
  NUMBER: ["float", "double"],
};

// Deeper than this, nesting stops being converted (a $ref counts as a level).
const MAX_DEPTH = 24;

/*
 * Inlining $refs can multiply a schema: six nested definitions whose 20 properties each refer to
 * the next are 64 million nodes, from 3 KB of JSON. Recursion is cut by the visited set below;
 * what such a DAG of references can still blow up is cut by a budget shared by one request's
 * schemas. Coding agents' tool sets (tens of tools of tens of nodes each) stay far under it; 10,000
 * nodes convert in 20 to 50 ms on a busy 2-core machine, the most one request may hold the event
 * loop for here.
 */
export const SCHEMA_MAX_NODES = 10_000;
/** Estimated bytes of converted JSON (strings, names, values), per request. */
export const SCHEMA_MAX_BYTES = 4 * 1024 * 1024;

/** What the conversions of one request may still produce. */
export interface SchemaBudget {
  nodes: number;
  bytes: number;
}

export function schemaBudget(): SchemaBudget {
  return { nodes: SCHEMA_MAX_NODES, bytes: SCHEMA_MAX_BYTES };
}

type Defs = Record<string, unknown>;

interface Walk {
  defs: Defs;
  root: Record<string, unknown>;
  budget: SchemaBudget;
  /** Who the schema belongs to, for the error: `tool "search"`. */
  subject: string;
  /** The definitions being inlined on the current path: a reference back to one is recursion. */
  path: Set<string>;
}

/**
 * `subject` names the schema's owner in the 400 a schema over the budget gets; `budget` is shared
 * by every schema of one request.
 */
export function toGeminiSchema(
  schema: unknown,
  budget: SchemaBudget = schemaBudget(),
  subject = "a schema",
): GeminiSchema {
  const root = isObject(schema) ? schema : {};
  const defs: Defs = {
    ...(isObject(root.definitions) ? root.definitions : {}),
    ...(isObject(root.$defs) ? root.$defs : {}),
  };
  return convert(root, { defs, root, budget, subject, path: new Set(["#"]) }, 0);
}

/** Gemini rejects an OBJECT with no properties as a function's parameters; such a function takes none. */
export function hasParameters(schema: GeminiSchema): boolean {
  return isObject(schema.properties) && Object.keys(schema.properties).length > 0;
}

/** The definition a local reference names, with its name; `#` is the root schema itself. */
function resolveRef(ref: string, walk: Walk): { name: string; target: unknown } | undefined {
  if (ref === "#") return { name: "#", target: walk.root };
  const raw = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
  if (raw === undefined) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(raw.replace(/~1/g, "/").replace(/~0/g, "~"));
  } catch {
    return undefined;
  }
  return Object.hasOwn(walk.defs, name) ? { name, target: walk.defs[name] } : undefined;
}

function spend(walk: Walk, bytes: number): void {
  walk.budget.nodes -= 1;
  walk.budget.bytes -= bytes;
  if (walk.budget.nodes < 0 || walk.budget.bytes < 0) {
    throw new GatewayError(
      400,
      `The JSON Schema of ${walk.subject} is too large to send to Gemini once its $refs are inlined (over ${SCHEMA_MAX_NODES} nodes or ${SCHEMA_MAX_BYTES / 1024 / 1024} MB for the request's schemas). Use fewer or smaller references.`,
      { param: "tools" },
    );
  }
}

/** Bytes a kept value adds to the output, roughly as JSON. */
function sizeOf(value: unknown): number {
  if (typeof value === "string") return value.length + 2;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return 8;
  return JSON.stringify(value)?.length ?? 0;
}

/**
 * Where a definition refers back to itself (directly or through others), Gemini, which has no
 * references, gets a node of the same type that says so, instead of an endless inlining.
 */
function recursionStub(
  name: string,
  target: unknown,
  siblings: Record<string, unknown>,
): GeminiSchema {
  const node = isObject(target) ? target : {};
  const declared = Array.isArray(node.type) ? node.type.find((t) => t !== "null") : node.type;
  const type =
    typeof declared === "string"
      ? declared.toUpperCase()
      : node.items !== undefined
        ? "ARRAY"
        : "OBJECT";
  const shown = name === "#" ? "the whole parameters object" : `"${name}"`;
  const own = typeof siblings.description === "string" ? `${siblings.description} ` : "";
  const stub: GeminiSchema = {
    type,
    description: `${own}(recursive: the same shape as ${shown}, defined above)`,
  };
  // Gemini refuses an ARRAY without items; the element shape is the recursive one it cannot say.
  if (type === "ARRAY") stub.items = { type: "OBJECT" };
  return stub;
}

function isNullSchema(node: unknown): boolean {
  return (
    isObject(node) &&
    (node.type === "null" ||
      (Array.isArray(node.type) && node.type.length === 1 && node.type[0] === "null"))
  );
}

function mergeAllOf(node: Record<string, unknown>, parts: unknown[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...node };
  delete merged.allOf;
  const properties: Record<string, unknown> = {
    ...(isObject(node.properties) ? node.properties : {}),
  };
  const required = new Set<string>(Array.isArray(node.required) ? (node.required as string[]) : []);
  for (const part of parts) {
    if (!isObject(part)) continue;
    for (const [key, value] of Object.entries(part)) {
      if (key === "properties" && isObject(value)) Object.assign(properties, value);
      else if (key === "required" && Array.isArray(value))
        for (const r of value) required.add(String(r));
      else if (!(key in merged)) merged[key] = value;
    }
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

function convert(input: Record<string, unknown>, walk: Walk, depth: number): GeminiSchema {
  spend(walk, 16);
  if (depth > MAX_DEPTH) return { type: "OBJECT" };
  let node = input;
  if (typeof node.$ref === "string") {
    const resolved = resolveRef(node.$ref, walk);
    const { $ref: _ref, ...siblings } = node;
    if (resolved && walk.path.has(resolved.name))
      return recursionStub(resolved.name, resolved.target, siblings);
    const target = resolved && isObject(resolved.target) ? resolved.target : { type: "object" };
    // Most references have no siblings: the definition itself, not a copy of it.
    node = Object.keys(siblings).length === 0 ? target : { ...target, ...siblings };
    if (!resolved) return convert(node, walk, depth + 1);
    walk.path.add(resolved.name);
    try {
      return convert(node, walk, depth + 1);
    } finally {
      walk.path.delete(resolved.name);
    }
  }
  if (Array.isArray(node.allOf)) return convert(mergeAllOf(node, node.allOf), walk, depth + 1);

  const union = Array.isArray(node.anyOf)
    ? node.anyOf
    : Array.isArray(node.oneOf)
      ? node.oneOf
      : undefined;
  if (union) {
    const nullable = union.some(isNullSchema);
    const variants = union
      .filter((v) => isObject(v) && !isNullSchema(v))
      .map((v) => convert(v as Record<string, unknown>, walk, depth + 1));
    const shared = pickKept(node, walk);
    if (variants.length === 0) return { type: "STRING", nullable: true, ...shared };
    if (variants.length === 1)
      return { ...variants[0], ...shared, ...(nullable ? { nullable: true } : {}) };
    return { anyOf: variants, ...shared, ...(nullable ? { nullable: true } : {}) };
  }

  let types = Array.isArray(node.type)
    ? (node.type as unknown[]).map(String)
    : typeof node.type === "string"
      ? [node.type]
      : [];
  let nullable = node.nullable === true || types.includes("null");
  types = types.filter((t) => t !== "null");
  if (types.length > 1) {
    return {
      anyOf: types.map((t) => convert({ ...node, type: t, nullable: false }, walk, depth + 1)),
      ...pickKept(node, walk),
      ...(nullable ? { nullable: true } : {}),
    };
  }

  let enumValues: unknown[] | undefined = Array.isArray(node.enum)
    ? node.enum
    : "const" in node
      ? [node.const]
      : undefined;
  if (enumValues?.includes(null)) {
    nullable = true;
    enumValues = enumValues.filter((v) => v !== null);
  }
  let type = types[0]?.toUpperCase();
  if (!type)
    type = isObject(node.properties) ? "OBJECT" : node.items !== undefined ? "ARRAY" : "STRING";
  const out: GeminiSchema = { type, ...pickKept(node, walk) };
  if (nullable) out.nullable = true;
  // Gemini enums are lists of strings on a STRING schema.
  if (
    enumValues &&
    enumValues.length > 0 &&
    type === "STRING" &&
    enumValues.every((v) => typeof v === "string")
  ) {
    out.enum = enumValues;
    walk.budget.bytes -= sizeOf(enumValues);
    if (node.format === "enum") out.format = "enum";
  }
  if (typeof node.format === "string" && FORMATS[type]?.includes(node.format))
    out.format = node.format;
  const notes = unsaid(node, type, out);
  if (notes.length > 0) {
    const said = `(${notes.join("; ")})`;
    out.description = typeof out.description === "string" ? `${out.description} ${said}` : said;
    walk.budget.bytes -= said.length;
  }

  if (type === "OBJECT" && isObject(node.properties)) {
    const properties: Record<string, GeminiSchema> = {};
    for (const [name, value] of Object.entries(node.properties)) {
      walk.budget.bytes -= name.length + 4;
      properties[name] = convert(isObject(value) ? value : {}, walk, depth + 1);
    }
    out.properties = properties;
    const required = Array.isArray(node.required)
      ? node.required.filter((r) => typeof r === "string" && r in properties)
      : [];
    if (required.length > 0) out.required = required;
  }
  if (type === "ARRAY") {
    const items = Array.isArray(node.items) ? node.items[0] : node.items;
    // An array without items is refused; a list of strings is the most general guess.
    out.items = isObject(items) ? convert(items, walk, depth + 1) : { type: "STRING" };
  }
  return out;
}

/** What a value is, in a description's words. */
function shown(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** The constraints of `node` that Gemini's subset cannot carry, worded for its description. */
function unsaid(node: Record<string, unknown>, type: string, out: GeminiSchema): string[] {
  const notes: string[] = [];
  const bound = (exclusive: unknown, inclusive: unknown, word: string) => {
    // Draft 4 writes `exclusiveMinimum: true` beside `minimum`; later drafts give the number itself.
    if (typeof exclusive === "number") notes.push(`${word} ${exclusive}`);
    else if (exclusive === true && typeof inclusive === "number")
      notes.push(`${word} ${inclusive}`);
  };
  bound(node.exclusiveMinimum, node.minimum, "greater than");
  bound(node.exclusiveMaximum, node.maximum, "less than");
  if (typeof node.multipleOf === "number") notes.push(`a multiple of ${node.multipleOf}`);
  if (node.uniqueItems === true) notes.push("items must be unique");
  if ("const" in node && out.enum === undefined) notes.push(`exactly ${shown(node.const)}`);
  else if (Array.isArray(node.enum) && out.enum === undefined) {
    const values = node.enum.filter((v) => v !== null);
    if (values.length > 0) notes.push(`one of ${values.map(shown).join(", ")}`);
  }
  if (typeof node.format === "string" && out.format === undefined && node.format !== "enum")
    notes.push(`format: ${node.format}`);
  if (isObject(node.propertyNames)) {
    const names = node.propertyNames;
    notes.push(
      typeof names.pattern === "string"
        ? `property names match ${names.pattern}`
        : `property names: ${shown(names)}`,
    );
  }
  if (type === "OBJECT" && out.properties === undefined && isObject(node.additionalProperties)) {
    // A map: its keys are free, its values have a shape Gemini's OBJECT cannot say.
    const values = node.additionalProperties;
    const valueType = typeof values.type === "string" ? values.type : "a value";
    notes.push(`any keys, each holding ${valueType}`);
  }
  return notes;
}

function pickKept(node: Record<string, unknown>, walk: Walk): GeminiSchema {
  const out: GeminiSchema = {};
  for (const key of KEPT_AS_IS) {
    const value = node[key];
    if (value === undefined) continue;
    if (key === "description" || key === "title" || key === "pattern") {
      if (typeof value === "string") out[key] = value;
    } else if (key === "default" || key === "example") {
      out[key] = value;
    } else if (typeof value === "number") {
      out[key] = value;
    }
  }
  for (const value of Object.values(out)) walk.budget.bytes -= sizeOf(value);
  return out;
}

/** Deeper than this, a Gemini client's schema is refused: no real one comes near, and recursion this deep would overflow the stack (a 500). */
const MAX_CLIENT_DEPTH = 64;

/** A Gemini `parameters` schema (upper-case types, `nullable`) as plain JSON Schema, for the other dialects. */
export function fromGeminiSchema(schema: unknown, depth = 0): Record<string, unknown> {
  if (!isObject(schema)) return {};
  if (depth > MAX_CLIENT_DEPTH)
    throw new GatewayError(400, `A schema is nested more than ${MAX_CLIENT_DEPTH} levels deep.`, {
      param: "tools",
    });
  const inner = (sub: unknown) => fromGeminiSchema(sub, depth + 1);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "type" && typeof value === "string") continue;
    if (key === "nullable" || key === "propertyOrdering") continue;
    if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, inner(sub)]),
      );
    } else if (key === "items") {
      out.items = inner(value);
    } else if (key === "anyOf" && Array.isArray(value)) {
      out.anyOf = value.map(inner);
    } else if (!(key === "format" && value === "enum")) {
      out[key] = value;
    }
  }
  if (typeof schema.type === "string" && schema.type !== "TYPE_UNSPECIFIED") {
    const type = schema.type.toLowerCase();
    out.type = schema.nullable === true ? [type, "null"] : type;
  }
  return out;
}
