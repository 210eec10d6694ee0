import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import type { RequestRecord } from "../observe/record.ts";
import { counterText, countersFrom, memoryCounterStore } from "./counter-store.ts";
import { memoryKeyStore } from "./key-store.ts";
import { KeyService } from "./service.ts";

const T0 = Date.UTC(2026, 10, 26, 10, 0, 0);
const snapshot = {
  proxy: { clientKeys: [{ name: "yaml", key: "sk-yaml-0123456789", limits: { rpm: 2 } }] },
} as unknown as ConfigSnapshot;

function record(requestId: string, input: number, output: number, costUsd?: number): RequestRecord {
  return { requestId, inputTokens: input, outputTokens: output, costUsd } as RequestRecord;
}

describe("KeyService", () => {
  test("a made key is found by its secret, a gateway.yaml key by its own, and neither is kept in clear", () => {
    const store = memoryKeyStore();
    const keys = new KeyService(store, memoryCounterStore(), () => T0);
    const { record: made, secret } = keys.add(snapshot, "alice", { models: ["gpt-*"] });
    expect(keys.identify(snapshot, secret)?.name).toBe("alice");
    expect(keys.identify(snapshot, "sk-yaml-0123456789")).toMatchObject({
      name: "yaml",
      source: "gateway.yaml",
      rpm: 2,
    });
    expect(keys.identify(snapshot, "sk-nobody-0123456789")).toBeUndefined();
    expect(JSON.stringify(store.list())).not.toContain(secret);
    expect(made.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  test("names are checked: a gateway.yaml name is taken, a bad name is refused, gateway.yaml keys are read-only", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    expect(() => keys.add(snapshot, "yaml", {})).toThrow(/already exists/);
    expect(() => keys.add(snapshot, "a b", {})).toThrow(/not a key name/);
    expect(() => keys.revoke(snapshot, "yaml")).toThrow(/defined in gateway.yaml/);
    expect(() => keys.update(snapshot, "yaml", { rpm: 5 })).toThrow(/defined in gateway.yaml/);
  });

  test("a revoke is seen by the next identify, and kept", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const { secret } = keys.add(snapshot, "bob", {});
    keys.revoke(snapshot, "bob");
    expect(keys.identify(snapshot, secret)?.revokedAt).toBe(T0);
  });

  test("what a request used is settled from its record; a token count spends nothing", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const { record: bob } = keys.add(snapshot, "bob", { dailyTokens: 1000 });
    expect(keys.admit(bob, "req_1", 100)).toBeUndefined();
    expect(keys.usage("bob")).toMatchObject({ inFlight: 1, tokensToday: 100 });
    keys.settled(record("req_1", 300, 50, 0.25));
    expect(keys.usage("bob")).toMatchObject({ inFlight: 0, tokensToday: 350, usdThisMonth: 0.25 });
    expect(keys.admit(bob, "req_2", 0, false)).toBeUndefined();
    keys.settled(record("req_2", 5000, 0, 1));
    expect(keys.usage("bob")).toMatchObject({ inFlight: 0, tokensToday: 350, usdThisMonth: 0.25 });
    // A record no admission is waiting for (another key's, or a request without one) changes nothing.
    keys.settled(record("req_unknown", 10, 10, 1));
    expect(keys.usage("bob").tokensToday).toBe(350);
  });

  test("counters are written on close and read back by the next service", () => {
    const counters = memoryCounterStore();
    const store = memoryKeyStore();
    const first = new KeyService(store, counters, () => T0);
    const { record: bob } = first.add(snapshot, "bob", { rpm: 1 });
    expect(first.admit(bob, "req_1", 0)).toBeUndefined();
    first.settled(record("req_1", 10, 10));
    first.flush();
    const second = new KeyService(store, counters, () => T0 + 5000);
    expect(second.admit(bob, "req_2", 0)).toMatchObject({ limit: "rpm", retryAfterSeconds: 55 });
    expect(second.usage("bob")).toMatchObject({ requestsLastMinute: 1, tokensToday: 20 });
  });

  test("networks: IPv4, IPv6 and IPv4-mapped addresses, judged the same the second time", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const { record } = keys.add(snapshot, "lan", {
      ips: ["10.0.0.0/8", "fd00::/8", "192.168.1.7"],
    });
    const cases: [string | undefined, boolean][] = [
      ["10.1.2.3", true],
      ["::ffff:10.1.2.3", true],
      ["fd12::1", true],
      ["192.168.1.7", true],
      ["192.168.1.8", false],
      ["127.0.0.1", false],
      ["not an address", false],
      [undefined, false],
    ];
    for (const round of [1, 2])
      for (const [peer, allowed] of cases)
        expect([round, peer, keys.allowsAddress(record, peer)]).toEqual([round, peer, allowed]);
    const open = keys.add(snapshot, "anywhere", {}).record;
    expect(keys.allowsAddress(open, undefined)).toBe(true);
  });

  test("keys sharing a list of models or networks are judged each by its own, whichever asked first", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const team = ["gpt-*", "claude-*"];
    const a = keys.add(snapshot, "a", { models: team, ips: ["10.0.0.0/8"] }).record;
    const b = keys.add(snapshot, "b", { models: [...team], ips: ["10.0.0.0/8"] }).record;
    const c = keys.add(snapshot, "c", { models: ["claude-*"], ips: ["192.168.0.0/16"] }).record;
    const d = keys.add(snapshot, "d", { models: ["claude-*", "gpt-*"] }).record;
    const cases: [typeof a, string, boolean][] = [
      [a, "gpt-4o", true],
      [b, "gpt-4o", true],
      [c, "gpt-4o", false],
      [d, "gpt-4o", true],
      [c, "claude-sonnet-4", true],
      [b, "gemini-2.5-pro", false],
      [a, "claude-sonnet-4", true],
    ];
    for (const round of [1, 2])
      for (const [key, model, allowed] of cases)
        expect([round, key.name, model, keys.allowsModel(key, model)]).toEqual([
          round,
          key.name,
          model,
          allowed,
        ]);
    const addresses: [typeof a, string, boolean][] = [
      [a, "10.1.1.1", true],
      [c, "10.1.1.1", false],
      [b, "10.1.1.1", true],
      [b, "192.168.1.1", false],
      [c, "192.168.1.1", true],
    ];
    for (const [key, peer, allowed] of addresses)
      expect([key.name, peer, keys.allowsAddress(key, peer)]).toEqual([key.name, peer, allowed]);
  });
});

describe("keys that name the same list", () => {
  /**
   * How many more objects of a kind the heap holds once `judge` has run, collected before and
   * after. Other tests in the same process may leave garbage that goes meanwhile, so the figures
   * are compared with wide margins, against keys that each name a list of their own.
   */
  function heapAdded(kind: "RegExp" | "Array", judge: () => void): number {
    const count = () => {
      Bun.gc(true);
      return heapStats().objectTypeCounts[kind] ?? 0;
    };
    const before = count();
    judge();
    return count() - before;
  }

  test("share one compiled matcher: 200 keys with the same globs add a few regular expressions, 200 lists 400", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const team = Array.from(
      { length: 200 },
      (_, i) => keys.add(snapshot, `member-${i}`, { models: ["gpt-*", "claude-*"] }).record,
    );
    const loners = Array.from(
      { length: 200 },
      (_, i) => keys.add(snapshot, `loner-${i}`, { models: [`gpt-${i}-*`, "claude-*"] }).record,
    );
    const shared = heapAdded("RegExp", () => {
      for (const member of team) expect(keys.allowsModel(member, "claude-sonnet-4")).toBe(true);
    });
    const own = heapAdded("RegExp", () => {
      for (const loner of loners) expect(keys.allowsModel(loner, "claude-sonnet-4")).toBe(true);
    });
    // A matcher is at least one regular expression (two here).
    expect(own).toBeGreaterThanOrEqual(200);
    expect(shared).toBeLessThan(20);
  });

  test("share one parsed list of networks: 200 keys with the same networks add a few arrays, 200 lists 600", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const team = Array.from(
      { length: 200 },
      (_, i) => keys.add(snapshot, `member-${i}`, { ips: ["10.0.0.0/8", "fd00::/8"] }).record,
    );
    const loners = Array.from(
      { length: 200 },
      (_, i) => keys.add(snapshot, `loner-${i}`, { ips: [`10.${i}.0.0/16`, "fd00::/8"] }).record,
    );
    const shared = heapAdded("Array", () => {
      for (const member of team) expect(keys.allowsAddress(member, "10.1.2.3")).toBe(true);
    });
    const own = heapAdded("Array", () => {
      for (const loner of loners) keys.allowsAddress(loner, "10.1.2.3");
    });
    // A parsed list is an array of networks, each holding its address's bytes in an array.
    expect(own).toBeGreaterThanOrEqual(400);
    expect(shared).toBeLessThan(60);
  });
});

describe("counters as the state database keeps them", () => {
  test("only live buckets are written, and what is read back counts the same", () => {
    const keys = new KeyService(memoryKeyStore(), memoryCounterStore(), () => T0);
    const { record } = keys.add(snapshot, "c", { rpm: 10, tpm: 1000 });
    for (let i = 0; i < 3; i++) keys.admit(record, `r${i}`, 7);
    const text = counterText(countersFrom(counterText(keys.countersFor("c"))));
    expect(JSON.parse(text)).toMatchObject({
      requests: [[T0 / 1000, 3]],
      tokens: [[T0 / 1000, 21]],
      dayTokens: 21,
    });
    expect(text.length).toBeLessThan(150);
  });

  const broken: [string, string][] = [
    ["not JSON", "{"],
    ["a list", "[1,2]"],
    ["buckets of the wrong kind", '{"requests":[["x",1],[5],null],"dayTokens":"many"}'],
  ];
  for (const [name, text] of broken)
    test(`${name}: read as zero, never a throw`, () => {
      const counters = countersFrom(text);
      expect(counters.dayTokens).toBe(0);
      expect(counters.requests.amounts.every((a) => a === 0)).toBe(true);
    });
});
