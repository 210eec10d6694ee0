import { expect, test } from "bun:test";
import { type GuardedSource, type ReadResult, sourceIterable } from "./forward.ts";

function fakeSource(chunks: Uint8Array[]) {
  const calls = { released: 0, cancelled: 0 };
  const source: GuardedSource = {
    read: async (): Promise<ReadResult> => {
      const value = chunks.shift();
      return value ? { done: false, value } : { done: true };
    },
    cancel: async () => {
      calls.cancelled++;
    },
    release: () => {
      calls.released++;
    },
  };
  return { source, calls };
}

test("sourceIterable hands over every chunk, and lets go of nothing when read to the end", async () => {
  const { source, calls } = fakeSource([new Uint8Array([1]), new Uint8Array([2, 3])]);
  const seen: number[][] = [];
  for await (const chunk of sourceIterable(source)) seen.push([...chunk]);
  expect(seen).toEqual([[1], [2, 3]]);
  expect(calls).toEqual({ released: 0, cancelled: 0 });
});

test("sourceIterable lets go of the body when its reader stops early, as sourceStream does", async () => {
  const { source, calls } = fakeSource([new Uint8Array([1]), new Uint8Array([2])]);
  for await (const _ of sourceIterable(source)) break;
  expect(calls).toEqual({ released: 1, cancelled: 0 });
});

test("sourceIterable passes a failed read's error on", async () => {
  const failure = new Error("broke off");
  const { source } = fakeSource([]);
  source.read = () => Promise.reject(failure);
  const reading = (async () => {
    for await (const _ of sourceIterable(source));
  })();
  await expect(reading).rejects.toBe(failure);
});
