import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { KeyRecord } from "../src/config/key-record.ts";
import type { ConfigSnapshot } from "../src/config/snapshot.ts";
import { memoryCounterStore } from "../src/keys/counter-store.ts";
import { memoryKeyStore } from "../src/keys/key-store.ts";
import { KeyService } from "../src/keys/service.ts";
import { SharedKeys } from "../src/keys/shared-keys.ts";
import { openRedisLink } from "../src/state/redis-link.ts";
import type { SharedLink } from "../src/state/shared-link.ts";
import { type CuttableFront, cuttableFront } from "./support/cuttable-front.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * Client keys shared through a real redis-server: a revoke stands in Redis as it does in each
 * instance, whatever order the instances write in after a partition or a restart.
 */

const READY = redisAvailable("shared-keys.test.ts");
const NO_CONFIG_KEYS = { proxy: { clientKeys: [] } } as unknown as ConfigSnapshot;
let redis: TestRedis;
let front: CuttableFront;
const links: SharedLink[] = [];

function link(url: string): SharedLink {
  const made = openRedisLink(url, {
    timeoutMs: 300,
    maxBackoffMs: 100,
    label: "test",
    warn: () => {},
    info: () => {},
  });
  links.push(made);
  return made;
}

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  front = await cuttableFront(redis.url);
});
afterAll(async () => {
  if (!READY) return;
  for (const made of links) made.close();
  await front.stop();
  await redis.stop();
});

describe.skipIf(!READY)("keys shared through Redis", () => {
  test("an unrevoked copy written after a revoke does not replace it, and its writer is handed the revoke", async () => {
    const first = link(redis.url);
    const second = link(redis.url);
    expect(await first.start()).toBe(true);
    expect(await second.start()).toBe(true);
    const one = new SharedKeys(first, "levity-t1");
    const other = new SharedKeys(second, "levity-t1");
    const key: KeyRecord = {
      name: "doomed",
      source: "levity",
      digest: "d".repeat(64),
      createdAt: 1,
    };

    expect(await one.write({ ...key, revokedAt: 5 })).toBe(true);
    const outcome = await other.write({ ...key, rpm: 7 });
    expect(outcome).toEqual({ ...key, revokedAt: 5 });
    expect(await one.records()).toEqual([{ ...key, revokedAt: 5 }]);
    // A revoked copy, and an unrevoked one of a key never revoked, are still written.
    expect(await other.write({ ...key, revokedAt: 9, rpm: 7 })).toBe(true);
    expect(await one.records()).toEqual([{ ...key, revokedAt: 9, rpm: 7 }]);
    expect(await other.write({ ...key, name: "kept", rpm: 3 })).toBe(true);
    // A new key under the revoked one's name (another secret, so another digest) is its own key.
    const renewed = { ...key, digest: "e".repeat(64), createdAt: 2 };
    expect(await other.write(renewed)).toBe(true);
    expect((await one.records()).find((r) => r.name === "doomed")).toEqual(renewed);
    expect(await one.records()).toEqual(expect.arrayContaining([{ ...key, name: "kept", rpm: 3 }]));
  });

  test("a key revoked while one instance was cut off, and changed there, stays revoked on every instance when it reconnects", async () => {
    const near = link(redis.url);
    const far = link(front.url);
    expect(await near.start()).toBe(true);
    expect(await far.start()).toBe(true);
    const a = new KeyService(memoryKeyStore(), memoryCounterStore());
    const c = new KeyService(memoryKeyStore(), memoryCounterStore());
    a.share(new SharedKeys(near, "levity-t2"));
    c.share(new SharedKeys(far, "levity-t2"));
    a.add(NO_CONFIG_KEYS, "doomed", {});
    await waitUntil("C to know the key", () => c.get(NO_CONFIG_KEYS, "doomed"));

    front.cut();
    await waitUntil("C to see Redis gone", () => !far.up());
    // A, still linked, revokes: Redis has it at once. C, cut off, changes the key.
    const revoked = a.revoke(NO_CONFIG_KEYS, "doomed");
    const reader = new SharedKeys(near, "levity-t2");
    await waitUntil("the revoke in Redis", async () =>
      (await reader.records()).find((r) => r.name === "doomed" && r.revokedAt !== undefined),
    );
    expect(c.update(NO_CONFIG_KEYS, "doomed", { rpm: 5 }).revokedAt).toBeUndefined();

    // Back, C pushes what it changed alone; the revoke is what every instance ends with.
    front.heal();
    await waitUntil("C to be linked again", () => far.up());
    await waitUntil("C to take the revoke", () => c.get(NO_CONFIG_KEYS, "doomed")?.revokedAt);
    expect(c.get(NO_CONFIG_KEYS, "doomed")?.revokedAt).toBe(revoked.revokedAt);
    expect(a.get(NO_CONFIG_KEYS, "doomed")?.revokedAt).toBe(revoked.revokedAt);
    const held = (await reader.records()).find((r) => r.name === "doomed");
    expect(held?.revokedAt).toBe(revoked.revokedAt);
    // An instance that starts now learns the key from Redis: revoked.
    const late = new KeyService(memoryKeyStore(), memoryCounterStore());
    late.share(new SharedKeys(near, "levity-t2"));
    await waitUntil("a new instance to learn the key", () => late.get(NO_CONFIG_KEYS, "doomed"));
    expect(late.get(NO_CONFIG_KEYS, "doomed")?.revokedAt).toBe(revoked.revokedAt);
  }, 15_000);

  test("a new key under a revoked key's name, made where the old one was never known, works on every instance", async () => {
    const near = link(redis.url);
    expect(await near.start()).toBe(true);
    const a = new KeyService(memoryKeyStore(), memoryCounterStore());
    a.share(new SharedKeys(near, "levity-t3"));
    a.add(NO_CONFIG_KEYS, "alice", {});
    const old = a.revoke(NO_CONFIG_KEYS, "alice");
    // An instance whose link is not up yet, that has never heard of the old alice, makes its own.
    const later = link(redis.url);
    const b = new KeyService(memoryKeyStore(), memoryCounterStore());
    b.share(new SharedKeys(later, "levity-t3"));
    const { record: renewed, secret } = b.add(NO_CONFIG_KEYS, "alice", {});
    expect(renewed.digest).not.toBe(old.digest);
    expect(await later.start()).toBe(true);
    await waitUntil("A to take the new alice", () => a.identify(NO_CONFIG_KEYS, secret));
    expect(a.get(NO_CONFIG_KEYS, "alice")).toEqual(renewed);
    expect(b.get(NO_CONFIG_KEYS, "alice")).toEqual(renewed);
  });
});
