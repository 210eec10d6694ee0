import { describe, expect, test } from "bun:test";
import { AffinityMemory, type AffinityKind } from "./affinity.ts";

// What the memory tells its listener (shared-affinity.ts writes that to Redis): only new or
// changed bindings, never one it learned from another instance, so a request that keeps its
// account costs no write.
describe("AffinityMemory's listener", () => {
  const cases: {
    name: string;
    steps: (m: AffinityMemory) => void;
    told: [AffinityKind, string, string, string][];
  }[] = [
    {
      name: "a new binding is told",
      steps: (m) => m.stick("up", "s1", "a"),
      told: [["session", "up", "s1", "a"]],
    },
    {
      name: "the same binding again is not",
      steps: (m) => {
        m.stick("up", "s1", "a");
        m.stick("up", "s1", "a");
      },
      told: [["session", "up", "s1", "a"]],
    },
    {
      name: "a session that moves is told again",
      steps: (m) => {
        m.stick("up", "s1", "a");
        m.stick("up", "s1", "b");
      },
      told: [
        ["session", "up", "s1", "a"],
        ["session", "up", "s1", "b"],
      ],
    },
    {
      name: "a learned binding is not told, and sticking to it is no change",
      steps: (m) => {
        m.learn("session", "up", "s1", "b");
        m.stick("up", "s1", "b");
      },
      told: [],
    },
    {
      name: "pins are told as pins",
      steps: (m) => {
        m.pin("up", "resp_1", "a");
        m.learn("pin", "up", "resp_2", "b");
      },
      told: [["pin", "up", "resp_1", "a"]],
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const memory = new AffinityMemory();
      const told: [AffinityKind, string, string, string][] = [];
      memory.onChange = (...args) => void told.push(args);
      c.steps(memory);
      expect(told).toEqual(c.told);
    });

  test("what is learned is what the pick reads", () => {
    const memory = new AffinityMemory();
    memory.learn("session", "up", "s1", "b");
    memory.learn("pin", "up", "resp_1", "c");
    expect(memory.stuckTo("up", "s1")).toBe("b");
    expect(memory.pinnedTo("up", "resp_1")).toBe("c");
    expect(memory.known("session", "other", "s1")).toBeUndefined();
  });
});
