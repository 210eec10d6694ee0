import { describe, expect, test } from "bun:test";
import { AfterAnswer } from "./after-answer.ts";
import type { RequestRecord } from "./record.ts";

const record = (requestId: string) => ({ requestId }) as RequestRecord;

describe("AfterAnswer", () => {
  test("nothing is done at once; one turn later every record is done, in order, by its own handler", async () => {
    const errors: string[] = [];
    const after = new AfterAnswer({ error: (m) => errors.push(m) });
    const done: string[] = [];
    after.defer((r) => done.push(`a:${r?.requestId}`), record("1"));
    after.defer((r) => done.push(`b:${r?.requestId ?? "none"}`), undefined);
    after.defer((r) => done.push(`a:${r?.requestId}`), record("3"));
    expect(done).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toEqual(["a:1", "b:none", "a:3"]);
    // The next turn's records are taken by the next turn's drain, once each.
    after.defer((r) => done.push(`a:${r?.requestId}`), record("4"));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toEqual(["a:1", "b:none", "a:3", "a:4"]);
    expect(errors).toEqual([]);
  });

  test("a handler that throws is logged, and the records after it are still done", async () => {
    const errors: string[] = [];
    const after = new AfterAnswer({ error: (m) => errors.push(m) });
    const done: string[] = [];
    after.defer(() => {
      throw new Error("disk full");
    }, record("1"));
    after.defer((r) => done.push(r!.requestId), record("2"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toEqual(["2"]);
    expect(errors).toEqual(["the record of request 1 was not kept: disk full"]);
  });

  test("drain does what is waiting now (at shutdown), and the turn's own drain then finds nothing", async () => {
    const after = new AfterAnswer({ error: () => {} });
    const done: string[] = [];
    after.defer((r) => done.push(r!.requestId), record("1"));
    after.drain();
    expect(done).toEqual(["1"]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toEqual(["1"]);
  });
});
