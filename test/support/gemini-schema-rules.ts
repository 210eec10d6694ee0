/*
 * What the Gemini API accepts as a function declaration's `parameters`: its Schema message, "a
 * select subset of an OpenAPI 3.0 schema object". A test upstream or a test runs a converted schema
 * through geminiSchemaErrors() and gets the errors Gemini would answer with, worded like Gemini's.
 *
 * Sources (read for this file):
 * - The field list: Google's reference for the Gemini API's v1beta Schema message,
 *   "Interface protos.google.ai.generativelanguage.v1beta.ISchema" (@google-ai/generativelanguage
 *   3.7.0, docs.cloud.google.com/nodejs/docs/reference/generativelanguage/latest/generativelanguage/
 *   protos.google.ai.generativelanguage.v1beta.ischema): anyOf, default, description, enum,
 *   example, format, items, maximum, maxItems, maxLength, maxProperties, minimum, minItems,
 *   minLength, minProperties, nullable, pattern, properties, propertyOrdering, required, title,
 *   type. Nothing else: no additionalProperties, $schema, $ref, const, oneOf, allOf, not,
 *   uniqueItems, exclusiveMinimum, propertyNames, ... (Gemini answers those with `Invalid JSON
 *   payload received. Unknown name "x" at '...': Cannot find field.`).
 * - Types, formats and enum: ai.google.dev/api/python/google/ai/generativelanguage/Schema ("format:
 *   for NUMBER type: float, double; for INTEGER type: int32, int64"; "enum: possible values of the
 *   element of Type.STRING with enum format"). The current Gemini API reference adds "enum" and
 *   "date-time" for STRING (the converter's own table, src/codecs/gemini/schema.ts, says the same);
 *   no other format value is documented for the Gemini API (Vertex AI documents more).
 * - Firebase's Schema reference: `type` may be absent only on an anyOf schema.
 * - Gemini's answer to a function whose parameters are an OBJECT with no properties, as reported
 *   in public issue trackers: "parameters.properties: should be non-empty for OBJECT type"
 *   (checked at the root only: a declaration without parameters leaves them out instead).
 * - A required name that is not a property: "required[0]: property is not defined".
 */

export const GEMINI_SCHEMA_FIELDS: ReadonlySet<string> = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "properties",
  "required",
  "items",
  "minItems",
  "maxItems",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "pattern",
  "anyOf",
  "propertyOrdering",
  "default",
  "example",
  "minProperties",
  "maxProperties",
]);

export const GEMINI_TYPES: ReadonlySet<string> = new Set([
  "STRING",
  "NUMBER",
  "INTEGER",
  "BOOLEAN",
  "ARRAY",
  "OBJECT",
]);

/** The format values the Gemini API documents, per type. */
export const GEMINI_FORMATS: Readonly<Record<string, readonly string[]>> = {
  STRING: ["enum", "date-time"],
  NUMBER: ["float", "double"],
  INTEGER: ["int32", "int64"],
};

const COUNTS = [
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "minProperties",
  "maxProperties",
] as const;
const STRINGS = ["title", "description", "pattern"] as const;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** int64 fields arrive as JSON numbers or as decimal strings (proto3 JSON). */
const isCount = (value: unknown): boolean =>
  (typeof value === "number" && Number.isInteger(value) && value >= 0) ||
  (typeof value === "string" && /^\d+$/.test(value));

/**
 * Every error Gemini would report for `schema` as a function's `parameters`, at `path` (Gemini
 * names it like `tools[0].function_declarations[0].parameters`). Empty when it would accept it.
 */
export function geminiSchemaErrors(schema: unknown, path = "parameters"): string[] {
  const errors: string[] = [];
  if (isObject(schema) && schema.type === "OBJECT" && !nonEmpty(schema.properties))
    errors.push(`${path}.properties: should be non-empty for OBJECT type`);
  check(schema, path, errors);
  return errors;
}

const nonEmpty = (value: unknown): boolean => isObject(value) && Object.keys(value).length > 0;

function check(schema: unknown, path: string, errors: string[]): void {
  if (!isObject(schema)) {
    errors.push(`Invalid JSON payload received. Expected an object at '${path}'.`);
    return;
  }
  for (const key of Object.keys(schema)) {
    if (!GEMINI_SCHEMA_FIELDS.has(key))
      errors.push(
        `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`,
      );
  }
  const type = schema.type;
  if (type === undefined) {
    if (!Array.isArray(schema.anyOf)) errors.push(`${path}.type: must be specified`);
  } else if (typeof type !== "string" || !GEMINI_TYPES.has(type)) {
    errors.push(
      `Invalid JSON payload received. Invalid value at '${path}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), ${JSON.stringify(type)}`,
    );
  }
  const kind = typeof type === "string" ? type : undefined;

  if (schema.format !== undefined) {
    const allowed = (kind && GEMINI_FORMATS[kind]) ?? [];
    if (typeof schema.format !== "string" || !allowed.includes(schema.format))
      errors.push(
        `${path}.format: format ${JSON.stringify(schema.format)} is not supported for type ${kind ?? "(none)"}`,
      );
  }
  for (const key of STRINGS) {
    if (schema[key] !== undefined && typeof schema[key] !== "string")
      errors.push(`Invalid JSON payload received. Invalid value at '${path}.${key}': not a string`);
  }
  if (schema.nullable !== undefined && typeof schema.nullable !== "boolean")
    errors.push(`Invalid JSON payload received. Invalid value at '${path}.nullable': not a bool`);
  for (const key of COUNTS) {
    if (schema[key] !== undefined && !isCount(schema[key]))
      errors.push(
        `Invalid JSON payload received. Invalid value at '${path}.${key}' (TYPE_INT64), ${JSON.stringify(schema[key])}`,
      );
  }
  for (const key of ["minimum", "maximum"] as const) {
    if (schema[key] !== undefined && typeof schema[key] !== "number")
      errors.push(
        `Invalid JSON payload received. Invalid value at '${path}.${key}' (TYPE_DOUBLE), ${JSON.stringify(schema[key])}`,
      );
  }

  if (schema.enum !== undefined) {
    if (!Array.isArray(schema.enum) || !schema.enum.every((v) => typeof v === "string"))
      errors.push(
        `Invalid JSON payload received. Invalid value at '${path}.enum' (TYPE_STRING): every value must be a string`,
      );
    else if (kind !== "STRING")
      errors.push(`${path}.enum: only allowed for STRING type, not ${kind ?? "(none)"}`);
  }

  if (schema.properties !== undefined) {
    if (!isObject(schema.properties))
      errors.push(`Invalid JSON payload received. Invalid value at '${path}.properties'`);
    else
      for (const [name, sub] of Object.entries(schema.properties))
        check(sub, `${path}.properties[${name}].value`, errors);
  }
  const names = isObject(schema.properties) ? schema.properties : {};
  for (const key of ["required", "propertyOrdering"] as const) {
    const value = schema[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      errors.push(
        `Invalid JSON payload received. Invalid value at '${path}.${key}': not a list of strings`,
      );
      continue;
    }
    for (const [i, name] of value.entries())
      if (!Object.hasOwn(names, name)) errors.push(`${path}.${key}[${i}]: property is not defined`);
  }

  if (schema.items !== undefined) check(schema.items, `${path}.items`, errors);
  else if (kind === "ARRAY") errors.push(`${path}.items: missing field`);

  if (schema.anyOf !== undefined) {
    if (!Array.isArray(schema.anyOf) || schema.anyOf.length === 0)
      errors.push(`${path}.any_of: must be a non-empty list of schemas`);
    else for (const [i, sub] of schema.anyOf.entries()) check(sub, `${path}.any_of[${i}]`, errors);
  }
}
