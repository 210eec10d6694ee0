import { describe, expect, test } from "bun:test";
import { SignatureRegistry } from "./signature-registry.ts";

describe("SignatureRegistry", () => {
  test("each value's issuer, and nothing for a value never seen", () => {
    const registry = new SignatureRegistry();
    registry.record("sig-a", "anthropic|a|claude-x");
    registry.record("sig-b", "anthropic|b|claude-x");
    expect(registry.issuerOf("sig-a")).toBe("anthropic|a|claude-x");
    expect(registry.issuerOf("sig-b")).toBe("anthropic|b|claude-x");
    expect(registry.issuerOf("sig-c")).toBeUndefined();
  });

  test("a value issued again is the later issuer's", () => {
    const registry = new SignatureRegistry();
    registry.record("sig", "one");
    registry.record("sig", "two");
    expect(registry.issuerOf("sig")).toBe("two");
    expect(registry.size).toBe(1);
  });

  test("bounded: the least recently used is forgotten first", () => {
    const registry = new SignatureRegistry(3);
    for (const value of ["a", "b", "c"]) registry.record(value, `issuer-${value}`);
    expect(registry.issuerOf("a")).toBe("issuer-a"); // a is now the most recent
    registry.record("d", "issuer-d");
    expect(registry.size).toBe(3);
    expect(registry.issuerOf("b")).toBeUndefined();
    expect(registry.issuerOf("a")).toBe("issuer-a");
    expect(registry.issuerOf("c")).toBe("issuer-c");
    expect(registry.issuerOf("d")).toBe("issuer-d");
  });

  test("holds fingerprints, not the values", () => {
    const registry = new SignatureRegistry();
    const value = "x".repeat(10_000);
    registry.record(value, "i");
    const held = JSON.stringify([
      ...(registry as unknown as { issuers: Map<string, string> }).issuers,
    ]);
    expect(held).not.toContain("xxxx");
    expect(held.length).toBeLessThan(100);
  });
});
