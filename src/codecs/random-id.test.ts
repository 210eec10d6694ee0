import { expect, test } from "bun:test";
import { randomId } from "./shared.ts";

test("randomId: the prefix and 24 hex digits, none repeated across many refills of its random pool", () => {
  const seen = new Set<string>();
  // 256 ids use one pool; 10,000 cross about forty refills.
  for (let i = 0; i < 10_000; i++) {
    const id = randomId("req_");
    expect(id).toMatch(/^req_[0-9a-f]{24}$/);
    seen.add(id);
  }
  expect(seen.size).toBe(10_000);
});
