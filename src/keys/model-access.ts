import picomatch from "picomatch";
import type { KeyRecord } from "../config/key-record.ts";

/** A key's model globs, compiled once per record (a change makes a new record). */
const matchers = new WeakMap<KeyRecord, (model: string) => boolean>();

/** Whether a client key may name this model; a key without `models` may name any. */
export function allowsModel(record: KeyRecord | undefined, model: string): boolean {
  if (!record?.models) return true;
  let matcher = matchers.get(record);
  if (!matcher) {
    matcher = picomatch(record.models, { dot: true });
    matchers.set(record, matcher);
  }
  return matcher(model);
}
