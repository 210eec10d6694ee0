import { describe, expect, test } from "bun:test";
import { diffLines, formatDiff } from "./line-diff.ts";

const lines = (text: string) => (text === "" ? [] : text.split("\n"));

describe("diffLines", () => {
  const cases: { name: string; before: string; after: string; diff: string }[] = [
    { name: "the same", before: "a\nb", after: "a\nb", diff: "  a|  b" },
    { name: "one line changed", before: "a\nb\nc", after: "a\nx\nc", diff: "  a|- b|+ x|  c" },
    { name: "a line added", before: "a\nc", after: "a\nb\nc", diff: "  a|+ b|  c" },
    { name: "a line removed", before: "a\nb\nc", after: "a\nc", diff: "  a|- b|  c" },
    { name: "from nothing", before: "", after: "a", diff: "+ a" },
    { name: "to nothing", before: "a", after: "", diff: "- a" },
    {
      name: "a common line kept between changes",
      before: "a\nm\nb",
      after: "x\nm\ny",
      diff: "- a|+ x|  m|- b|+ y",
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const got = diffLines(lines(c.before), lines(c.after))
        .map((l) => `${l.op} ${l.text}`)
        .join("|");
      expect(got).toBe(c.diff);
    });

  test("a long body with one change in the middle costs the middle only", () => {
    const before = Array.from({ length: 200_000 }, (_, i) => `line ${i}`);
    const after = [...before];
    after[100_000] = "changed";
    const diff = diffLines(before, after);
    expect(diff.filter((l) => l.op !== " ")).toEqual([
      { op: "-", text: "line 100000" },
      { op: "+", text: "changed" },
    ]);
  });
});

describe("formatDiff", () => {
  test("unchanged runs beyond the context are folded", () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const after = [...before];
    after[10] = "x";
    expect(formatDiff(diffLines(before, after), 2)).toBe(
      "  … 8 unchanged lines\n  l8\n  l9\n- l10\n+ x\n  l11\n  l12\n  … 7 unchanged lines\n",
    );
  });

  test("no change says so", () => {
    expect(formatDiff(diffLines(["a", "b"], ["a", "b"]))).toBe(
      "  (no difference: 2 lines the same)\n",
    );
  });
});
