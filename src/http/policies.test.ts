import { describe, expect, test } from "bun:test";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import { authenticate } from "./auth.ts";
import { policyCache } from "./policies.ts";

function snapshot(key: string, origins: string[] = []): ConfigSnapshot {
  return {
    proxy: {
      clientKeys: [{ name: "client", key }],
      adminKeys: [{ name: "admin", key: `${key}-admin` }],
      corsOrigins: origins,
      hostname: "127.0.0.1",
      allowLanAccess: false,
      allowedHosts: [],
    },
  } as unknown as ConfigSnapshot;
}

describe("policyCache", () => {
  test("one snapshot's policies are derived once, and key rings keep what they proved", () => {
    const policiesOf = policyCache();
    const first = snapshot("k1");
    const policies = policiesOf(first);
    expect(authenticate(policies.adminKeys, [{ where: "x-api-key", value: "k1-admin" }])).toBe(
      "admin",
    );
    expect(policiesOf(first)).toBe(policies);
    expect(policiesOf(first).adminKeys.proven.get("k1-admin")).toBe("admin");
  });

  test("a reloaded snapshot gets its own policies: the old key no longer opens it", () => {
    const policiesOf = policyCache();
    const before = policiesOf(snapshot("k1", ["https://a.example"]));
    const after = policiesOf(snapshot("k2"));
    expect(after).not.toBe(before);
    expect(
      authenticate(after.adminKeys, [{ where: "x-api-key", value: "k1-admin" }]),
    ).toBeUndefined();
    expect(authenticate(after.adminKeys, [{ where: "x-api-key", value: "k2-admin" }])).toBe(
      "admin",
    );
    expect(before.cors.listed.has("https://a.example")).toBe(true);
    expect(after.cors.listed.size).toBe(0);
  });

  test("two gateways never share a cache", () => {
    const shared = snapshot("k1");
    expect(policyCache()(shared)).not.toBe(policyCache()(shared));
  });
});
