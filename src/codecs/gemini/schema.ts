import { isObject } from "../shared.ts";

/*
 * Tool parameters go to Gemini as `parameters`, the OpenAPI 3.0 subset every Gemini model and
 * endpoint accepts; it rejects any field it does not know ("Unknown name additionalProperties").
 * So the conversion keeps an allowlist and rewrites what JSON Schema says differently: $ref
 * inlined, type lists and null unions as `nullable`, oneOf as anyOf, allOf merged, const as enum.
 */

export type GeminiSchema = Record<string, unknown>;

const KEPT_AS_IS = ["description", "title", "pattern", "default", "example", "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"] as const;

const FORMATS: Record<string, string[]> = { STRING: ["enum", "date-time"], INTEGER: ["int32", "int64"], NUMBER: ["float", "double"] };

// Deeper than this, a recursive $ref stops being inlined.
const MAX_DEPTH = 24;

type Defs = Record<string, unknown>;

export function toGeminiSchema(schema: unknown): GeminiSchema {
  const root = isObject(schema) ? schema : {};
  const defs: Defs = { ...(isObject(root.definitions) ? root.definitions : {}), ...(isObject(root.$defs) ? root.$defs : {}) };
  return convert(root, defs, 0);
}

/** Gemini rejects an OBJECT with no properties as a function's parameters; such a function takes none. */
export function hasParameters(schema: GeminiSchema): boolean {
  return isObject(schema.properties) && Object.keys(schema.properties).length > 0;
}

function resolveRef(ref: string, defs: Defs): unknown {
  const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
  return name === undefined ? undefined : defs[decodeURIComponent(name.replace(/~1/g, "/").replace(/~0/g, "~"))];
}

function isNullSchema(node: unknown): boolean {
  return isObject(node) && (node.type === "null" || (Array.isArray(node.type) && node.type.length === 1 && node.type[0] === "null"));
}

function mergeAllOf(node: Record<string, unknown>, parts: unknown[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...node };
  delete merged.allOf;
  const properties: Record<string, unknown> = { ...(isObject(node.properties) ? node.properties : {}) };
  const required = new Set<string>(Array.isArray(node.required) ? (node.required as string[]) : []);
  for (const part of parts) {
    if (!isObject(part)) continue;
    for (const [key, value] of Object.entries(part)) {
      if (key === "properties" && isObject(value)) Object.assign(properties, value);
      else if (key === "required" && Array.isArray(value)) for (const r of value) required.add(String(r));
      else if (!(key in merged)) merged[key] = value;
    }
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

function convert(input: Record<string, unknown>, defs: Defs, depth: number): GeminiSchema {
  if (depth > MAX_DEPTH) return { type: "OBJECT" };
  let node = input;
  if (typeof node.$ref === "string") {
    const target = resolveRef(node.$ref, defs);
    const { $ref: _ref, ...siblings } = node;
    node = { ...(isObject(target) ? target : { type: "object" }), ...siblings };
    return convert(node, defs, depth + 1);
  }
  if (Array.isArray(node.allOf)) return convert(mergeAllOf(node, node.allOf), defs, depth + 1);

  const union = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined;
  if (union) {
    const nullable = union.some(isNullSchema);
    const variants = union.filter((v) => isObject(v) && !isNullSchema(v)).map((v) => convert(v as Record<string, unknown>, defs, depth + 1));
    const shared = pickKept(node);
    if (variants.length === 0) return { type: "STRING", nullable: true, ...shared };
    if (variants.length === 1) return { ...variants[0], ...shared, ...(nullable ? { nullable: true } : {}) };
    return { anyOf: variants, ...shared, ...(nullable ? { nullable: true } : {}) };
  }

  let types = Array.isArray(node.type) ? (node.type as unknown[]).map(String) : typeof node.type === "string" ? [node.type] : [];
  let nullable = node.nullable === true || types.includes("null");
  types = types.filter((t) => t !== "null");
  if (types.length > 1) {
    return { anyOf: types.map((t) => convert({ ...node, type: t, nullable: false }, defs, depth + 1)), ...pickKept(node), ...(nullable ? { nullable: true } : {}) };
  }

  let enumValues: unknown[] | undefined = Array.isArray(node.enum) ? node.enum : "const" in node ? [node.const] : undefined;
  if (enumValues?.includes(null)) {
    nullable = true;
    enumValues = enumValues.filter((v) => v !== null);
  }
  let type = types[0]?.toUpperCase();
  if (!type) type = isObject(node.properties) ? "OBJECT" : node.items !== undefined ? "ARRAY" : "STRING";
  const out: GeminiSchema = { type, ...pickKept(node) };
  if (nullable) out.nullable = true;
  // Gemini enums are lists of strings on a STRING schema.
  if (enumValues && enumValues.length > 0 && type === "STRING" && enumValues.every((v) => typeof v === "string")) {
    out.enum = enumValues;
    if (node.format === "enum") out.format = "enum";
  }
  if (typeof node.format === "string" && FORMATS[type]?.includes(node.format)) out.format = node.format;

  if (type === "OBJECT" && isObject(node.properties)) {
    const properties: Record<string, GeminiSchema> = {};
    for (const [name, value] of Object.entries(node.properties)) properties[name] = convert(isObject(value) ? value : {}, defs, depth + 1);
    out.properties = properties;
    const required = Array.isArray(node.required) ? node.required.filter((r) => typeof r === "string" && r in properties) : [];
    if (required.length > 0) out.required = required;
  }
  if (type === "ARRAY") {
    const items = Array.isArray(node.items) ? node.items[0] : node.items;
    // An array without items is refused; a list of strings is the most general guess.
    out.items = isObject(items) ? convert(items, defs, depth + 1) : { type: "STRING" };
  }
  return out;
}

function pickKept(node: Record<string, unknown>): GeminiSchema {
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
  return out;
}

/** A Gemini `parameters` schema (upper-case types, `nullable`) as plain JSON Schema, for the other dialects. */
export function fromGeminiSchema(schema: unknown): Record<string, unknown> {
  if (!isObject(schema)) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "type" && typeof value === "string") continue;
    if (key === "nullable" || key === "propertyOrdering") continue;
    if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, fromGeminiSchema(sub)]));
    } else if (key === "items") {
      out.items = fromGeminiSchema(value);
    } else if (key === "anyOf" && Array.isArray(value)) {
      out.anyOf = value.map(fromGeminiSchema);
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
