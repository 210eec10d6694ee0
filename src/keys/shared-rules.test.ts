import { describe, expect, test } from "bun:test";
import { SharedRules } from "./shared-rules.ts";

describe("SharedRules", () => {
  const rules = new SharedRules<object, { list: readonly string[] }>((list) => ({ list }));

  test.each([
    ["the same list, another owner", ["a-*", "b-*"], ["a-*", "b-*"], true],
    ["another order is another list", ["a-*", "b-*"], ["b-*", "a-*"], false],
    ["one list against two", ["a-*"], ["a-*", "b-*"], false],
    // Joined with a separator, these two would be one text; as JSON they stay apart.
    ["a comma inside a glob", ["a,b"], ["a", "b"], false],
  ])("%s", (_name, first, second, shared) => {
    const one = rules.of({}, first);
    const other = rules.of({}, second);
    expect(one === other).toBe(shared);
    expect(other.list).toEqual(second);
  });

  test("an owner keeps its rule, and a list is made once while it is kept", () => {
    let count = 0;
    const fresh = new SharedRules<object, number>(() => ++count);
    const owner = {};
    const first = fresh.of(owner, ["x"]);
    expect(fresh.of(owner, ["x"])).toBe(first);
    expect(fresh.of({}, ["x"])).toBe(first);
    expect(count).toBe(1);
  });

  test("past the most lists kept, the table starts again; owners already judged keep theirs", () => {
    let count = 0;
    const small = new SharedRules<object, number>(() => ++count, 2);
    const early = {};
    expect(small.of(early, ["one"])).toBe(1);
    expect(small.of({}, ["two"])).toBe(2);
    // A third list clears the table: "one" is made again for a new owner.
    expect(small.of({}, ["three"])).toBe(3);
    expect(small.of({}, ["one"])).toBe(4);
    expect(small.of(early, ["one"])).toBe(1);
  });
});
