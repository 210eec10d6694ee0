/*
 * The JSON object type and its guard, in a module that imports nothing: the family modules need
 * them, and importing them from shared.ts would pull codecs/errors.ts into a cycle with the
 * families that codecs/errors.ts itself asks.
 */

/** A JSON object as parsed from a body: its fields are checked where they are read. */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
