import { describe, expect, test } from "bun:test";
import { lua } from "./lua-script.ts";

// A wrong SHA-1 would not fail a call: Redis answers NOSCRIPT and the link falls back to EVAL,
// sending the whole script every time. So the digest is checked here, against Redis's own.
describe("lua", () => {
  test.each([
    // `SCRIPT LOAD "return 1"` in Redis 7.0.15 answers this.
    ["return 1", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"],
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
  ])("%p is named %s", (source, sha) => {
    const script = lua(source);
    expect(script.source).toBe(source);
    expect(script.sha).toBe(sha);
    // Asked again, the same name.
    expect(script.sha).toBe(sha);
  });

  test("a script cannot be changed after it is made", () => {
    const script = lua("return 2") as { source: string };
    expect(() => {
      script.source = "return 3";
    }).toThrow();
  });
});
