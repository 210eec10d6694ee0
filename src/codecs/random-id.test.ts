import { expect, test } from "bun:test";
import { randomId } from "./shared.ts";

test("randomId: the prefix and 24 hex digits, none repeated", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = randomId("req_");
    expect(id).toMatch(/^req_[0-9a-f]{24}$/);
    seen.add(id);
  }
  expect(seen.size).toBe(10_000);
});
