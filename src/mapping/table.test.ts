import { describe, expect, test } from "bun:test";
import { modelLimits } from "./model-limits.ts";
import { compileMappings, limitsOf } from "./table.ts";

/* The limits a compiled table finds once for each of its targets, and for a target it does not hold. */

describe("limitsOf", () => {
  const table = compileMappings(
    "mappings.yaml",
    [
      { key: "big", target: ["oa/gpt-4.1-mini", "gm/gemini-2.5-pro"] },
      { key: "own", target: { target: "oa/house-model", context_window: 9_000, max_output: 100 } },
      { key: "unknown", target: "oa/house-model" },
    ],
    [{ key: "claude-*", target: { target: "an/claude-sonnet-4-5", max_output: 1_000 } }],
    { target: "oa/gpt-4o" },
  );
  const targets = [
    ...[...table.exact.values()].flatMap((rule) => rule.targets),
    ...table.wildcards.flatMap((rule) => rule.targets),
    ...(table.fallback?.targets ?? []),
  ];

  test.each(targets.map((target) => [`${target.upstream}/${target.model}`, target] as const))(
    "%s: the table holds its limits, as modelLimits finds them",
    (_, target) => {
      expect(table.limits.has(target)).toBe(true);
      expect(limitsOf(table, target)).toEqual(modelLimits(target.model, target.limits));
    },
  );

  test("each kind of target comes out as the mapping and the built-in table say", () => {
    const [mini, gemini] = table.exact.get("big")!.targets;
    expect(limitsOf(table, mini!)?.contextWindow).toBe(1_047_576);
    expect(limitsOf(table, gemini!)?.contextWindow).toBe(1_048_576);
    const own = limitsOf(table, table.exact.get("own")!.targets[0]!);
    expect([own?.contextWindow, own?.maxOutput]).toEqual([9_000, 100]);
    // A model neither the mapping nor the built-in table knows has no window: held as such.
    const unknown = table.exact.get("unknown")!.targets[0]!;
    expect(table.limits.has(unknown)).toBe(true);
    expect(limitsOf(table, unknown)).toBeUndefined();
    const claude = limitsOf(table, table.wildcards[0]!.targets[0]!);
    expect([claude?.contextWindow, claude?.maxOutput]).toEqual([200_000, 1_000]);
  });

  test("a target the table does not hold (an unmapped name) is looked up when asked", () => {
    const unmapped = { upstream: "oa", model: "gpt-5" };
    expect(table.limits.has(unmapped)).toBe(false);
    expect(limitsOf(table, unmapped)?.contextWindow).toBe(272_000);
    expect(limitsOf(table, { upstream: "oa", model: "house-model" })).toBeUndefined();
  });
});
