import { expect, test } from "bun:test";
import { Deadlines } from "./deadlines.ts";

// The list is checked four times a second, so a deadline fires within about 250 ms after it.

test("a deadline fires once, after its time and within a check of it", async () => {
  const deadlines = new Deadlines();
  const started = performance.now();
  const fired: number[] = [];
  deadlines.after(100, () => fired.push(performance.now() - started));
  await Bun.sleep(700);
  expect(fired).toHaveLength(1);
  expect(fired[0]!).toBeGreaterThanOrEqual(100);
  expect(fired[0]!).toBeLessThan(100 + 250 + 150);
});

test("a cancelled deadline never fires, and the others on the list still do", async () => {
  const deadlines = new Deadlines();
  const fired: string[] = [];
  const cancel = deadlines.after(100, () => fired.push("cancelled"));
  deadlines.after(100, () => fired.push("kept"));
  cancel();
  await Bun.sleep(600);
  expect(fired).toEqual(["kept"]);
});

test("two lists are independent", async () => {
  const a = new Deadlines();
  const b = new Deadlines();
  const fired: string[] = [];
  a.after(50, () => fired.push("a"));
  const cancelB = b.after(50, () => fired.push("b"));
  cancelB();
  await Bun.sleep(500);
  expect(fired).toEqual(["a"]);
});

test("an entry added is fired once after its time, and a cancelled one never", async () => {
  const deadlines = new Deadlines();
  const fired: string[] = [];
  const entry = (name: string) => ({ at: deadlines.from(100), fire: () => fired.push(name) });
  const kept = entry("kept");
  const cancelled = entry("cancelled");
  deadlines.add(kept);
  deadlines.add(cancelled);
  deadlines.cancel(cancelled);
  await Bun.sleep(600);
  expect(fired).toEqual(["kept"]);
});
