import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseRecord, SharedPool, type SharedRecord } from "../src/pool/shared-health.ts";
import { openRedisLink } from "../src/state/redis-link.ts";
import type { SharedLink } from "../src/state/shared-link.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * The pool's records on a real redis-server, two instances' sides of it talking through it: what
 * a write keeps of what another instance wrote, the record's TTL, and what each instance hears.
 */

const READY = redisAvailable("shared-health.test.ts");
let redis: TestRedis;
const links: SharedLink[] = [];
const heard: SharedRecord[][] = [[], []];
let pools: SharedPool[] = [];

const KEY = "levity:pool:health:u/a";
const record = (extra: Partial<SharedRecord> = {}): SharedRecord => ({
  upstream: "u",
  account: "a",
  keyDigest: "d1",
  cooldownUntil: 0,
  modelCooldowns: {},
  consecutiveFailures: 0,
  ...extra,
});

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  pools = [0, 1].map((i) => {
    const link = openRedisLink(redis.url, {
      timeoutMs: 300,
      label: "test",
      warn: () => {},
      info: () => {},
    });
    links.push(link);
    const pool = new SharedPool(link, "levity");
    pool.attach({
      apply: (r) => heard[i]!.push(r),
      applyAbsent: () => {},
      unhealthy: () => [],
      now: Date.now,
    });
    return pool;
  });
  await Promise.all(links.map((link) => link.start()));
});

afterAll(async () => {
  if (!READY) return;
  for (const link of links) link.close();
  await redis.stop();
});

const stored = async () => parseRecord(String(await links[0]!.call("GET", [KEY])));

describe.skipIf(!READY)("the pool's records on Redis", () => {
  test("a lease is renewed while its request runs, and expires when nobody renews it", async () => {
    const short = new SharedPool(links[0]!, "levity", 300);
    const zset = "levity:pool:inflight:u/short";
    const held = await short.admit("u/short", 1, undefined);
    expect(held.kind).toBe("admitted");
    const release = short.hold("u/short", (held as { leaseId: string }).leaseId, 1);
    const orphan = await short.admit("u/orphan", 1, undefined);
    expect(orphan.kind).toBe("admitted");
    const started = Date.now();
    // The lease nobody renews is gone after its lifetime; the renewed one outlives three.
    await waitUntil("the unrenewed lease to expire", async () => {
      return (await short.admit("u/orphan", 1, undefined)).kind === "admitted";
    });
    await waitUntil("three lease lifetimes", () => Date.now() - started > 900);
    expect((await short.admit("u/short", 1, undefined)).kind).toBe("busy");
    release();
    await waitUntil("the release", async () => (await links[0]!.call("ZCARD", [zset])) === 0);
  });

  test("a settled failure keeps the cooldown another instance set meanwhile, and both instances end with both", async () => {
    const now = Date.now();
    pools[0]!.put(
      record({ modelCooldowns: { m1: now + 60_000 }, consecutiveFailures: 1 }),
      "merge",
    );
    await waitUntil("the first write", stored);
    // The second instance had not heard of it yet: its record knows only its own model's cooldown.
    pools[1]!.put(
      record({ modelCooldowns: { m2: now + 30_000 }, consecutiveFailures: 1 }),
      "merge",
    );
    await waitUntil("both cooldowns in Redis", async () => {
      const r = await stored();
      return r && Object.keys(r.modelCooldowns).length === 2;
    });
    expect((await stored())!.modelCooldowns).toEqual({ m1: now + 60_000, m2: now + 30_000 });
    // Redis forgets the record when its last cooldown ends.
    const ttl = Number(await links[0]!.call("PTTL", [KEY]));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // The first instance heard the merged record; the second took it as its write's answer.
    for (const i of [0, 1])
      await waitUntil(`instance ${i} to hold both`, () =>
        heard[i]!.some((r) => Object.keys(r.modelCooldowns).length === 2),
      );
  });

  test("an admin's edit replaces; a disable has no expiry; a healthy record is deleted", async () => {
    pools[0]!.put(record({ disabledReason: "disabled by an admin" }), "replace");
    await waitUntil("the disable", async () => (await stored())?.disabledReason);
    expect((await stored())!.modelCooldowns).toEqual({});
    expect(Number(await links[0]!.call("PTTL", [KEY]))).toBe(-1);
    // A failure settled meanwhile elsewhere does not undo the disable.
    pools[1]!.put(record({ cooldownUntil: Date.now() + 5_000, consecutiveFailures: 2 }), "merge");
    await waitUntil("the merged failure", async () => (await stored())?.consecutiveFailures === 2);
    expect((await stored())!.disabledReason).toBe("disabled by an admin");
    pools[1]!.put(record(), "replace");
    await waitUntil("the record to go", async () => (await links[0]!.call("EXISTS", [KEY])) === 0);
    await waitUntil("instance 0 to hear the reset", () => {
      const last = heard[0]!.at(-1);
      return last && !last.disabledReason && last.cooldownUntil === 0;
    });
  });

  test("a record of another key, or one that is not a record, is not merged or read", async () => {
    const now = Date.now();
    pools[0]!.put(record({ keyDigest: "old", modelCooldowns: { m: now + 60_000 } }), "merge");
    await waitUntil("the old key's record", async () => (await stored())?.keyDigest === "old");
    pools[1]!.put(record({ keyDigest: "new", cooldownUntil: now + 10_000 }), "merge");
    await waitUntil("the new key's record", async () => (await stored())?.keyDigest === "new");
    expect((await stored())!.modelCooldowns).toEqual({});
    expect(parseRecord("not json")).toBeUndefined();
    expect(parseRecord(JSON.stringify({ upstream: "u", account: "a" }))).toBeUndefined();
  });

  test("max_concurrency and rpm are counted across instances in one call each", async () => {
    const first = await pools[0]!.admit("u/c", 1, 2);
    expect(first.kind).toBe("admitted");
    expect((await pools[1]!.admit("u/c", 1, 2)).kind).toBe("busy");
    const release = pools[0]!.hold("u/c", (first as { leaseId: string }).leaseId, 1);
    release();
    await waitUntil("the lease to be released", async () => {
      return (await links[0]!.call("ZCARD", ["levity:pool:inflight:u/c"])) === 0;
    });
    expect((await pools[1]!.admit("u/c", 1, 2)).kind).toBe("admitted");
    const third = await pools[0]!.admit("u/c", undefined, 2);
    expect(third.kind).toBe("rpm");
    expect((third as { waitMs: number }).waitMs).toBeGreaterThan(59_000);
  });
});
