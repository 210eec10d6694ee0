import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openRedisLink } from "../src/state/redis-link.ts";
import { lua } from "../src/state/lua-script.ts";
import {
  type RedisConnection,
  redactedUrl,
  SharedLink,
  SharedUnavailable,
} from "../src/state/shared-link.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * The link to shared state against a real redis-server: calls within a deadline, a store that
 * dies fails calls at once (never hangs them), and the link comes back by itself when it does.
 */

const READY = redisAvailable("shared-link.test.ts");
let redis: TestRedis;
let link: SharedLink;
const said: string[] = [];
const changes: boolean[] = [];

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  link = openRedisLink(redis.url, {
    timeoutMs: 300,
    maxBackoffMs: 200,
    label: redactedUrl(redis.url),
    warn: (m) => said.push(`WARN ${m}`),
    info: (m) => said.push(`INFO ${m}`),
  });
  link.onChange((up) => changes.push(up));
});
afterAll(async () => {
  if (!READY) return;
  link.close();
  await redis.stop();
});

describe.skipIf(!READY)("the shared-state link", () => {
  test("up: commands answer, a published message reaches a subscriber", async () => {
    expect(await link.start()).toBe(true);
    expect(link.up()).toBe(true);
    await link.call("SET", ["levity:test", "1"]);
    expect(await link.call("GET", ["levity:test"])).toBe("1");
    const heard = new Promise<string>((resolve) => link.subscribe("levity:test-channel", resolve));
    // The subscription is confirmed asynchronously; publish until it is heard.
    let got: string | undefined;
    void heard.then((m) => (got = m));
    await waitUntil("the message to be heard", () => {
      link.publish("levity:test-channel", "hello");
      return got;
    });
    expect(got).toBe("hello");
  });

  test("down: a call fails at once with SharedUnavailable, and the link says why", async () => {
    await redis.kill();
    const started = performance.now();
    const error = await link.call("GET", ["levity:test"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SharedUnavailable);
    expect(performance.now() - started).toBeLessThan(400);
    expect(link.up()).toBe(false);
    const again = performance.now();
    await link.call("GET", ["levity:test"]).catch(() => {});
    // While down, calls do not wait for the deadline.
    expect(performance.now() - again).toBeLessThan(50);
    expect(link.status().failedCalls).toBeGreaterThanOrEqual(2);
    expect(said.some((l) => l.startsWith("WARN") && l.includes("unreachable"))).toBe(true);
  });

  test("back: the link reconnects by itself and tells its listeners", async () => {
    await redis.start();
    await waitUntil("the link to be back", () => link.up());
    expect(changes).toEqual([true, false, true]);
    await link.call("SET", ["levity:test", "2"]);
    expect(await link.call("GET", ["levity:test"])).toBe("2");
  });

  test("a script goes whole on its first call on a connection, by its SHA-1 after, and whole again once Redis forgets it", async () => {
    await waitUntil("the link to be up", () => link.up());
    const script = lua(`-- levity test ${Date.now()}\nreturn ARGV[1]`);
    const calls = async () => {
      const stats = String(await link.call("INFO", ["commandstats"]));
      const count = (name: string) =>
        Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return { eval: count("eval"), evalsha: count("evalsha") };
    };
    await link.call("CONFIG", ["RESETSTAT"]);
    expect(await link.script(script.source, script.sha, [], ["one"])).toBe("one");
    // One round trip, with the source: a SHA-1 Redis did not know would have been refused first.
    expect(await calls()).toEqual({ eval: 1, evalsha: 0 });
    expect(await link.script(script.source, script.sha, [], ["two"])).toBe("two");
    expect(await calls()).toEqual({ eval: 1, evalsha: 1 });
    await link.call("SCRIPT", ["FLUSH"]);
    expect(await link.script(script.source, script.sha, [], ["three"])).toBe("three");
    expect(await calls()).toEqual({ eval: 2, evalsha: 2 });
  });

  test("a URL's password never reaches the log", () => {
    expect(redactedUrl("redis://:hunter2@127.0.0.1:6379/0")).toBe("redis://:***@127.0.0.1:6379/0");
  });
});

describe("a script sent again after Redis forgot it", () => {
  // A connection whose Redis has forgotten every script (SCRIPT FLUSH) and is slow: its NOSCRIPT
  // comes late in the deadline, and the script sent whole after it never answers.
  const DEADLINE_MS = 400;
  let evalCalls = 0;
  const forgetful = (): RedisConnection => ({
    connect: async () => {},
    send(command) {
      if (command === "EVALSHA")
        return Bun.sleep(DEADLINE_MS * 0.9).then(() => {
          throw Object.assign(new Error("NOSCRIPT No matching script. Please use EVAL."), {
            code: "ERR_REDIS_SERVER_ERROR",
          });
        });
      if (command === "EVAL" && evalCalls++ > 0) return new Promise(() => {});
      return Promise.resolve(1);
    },
    publish: async () => 1,
    subscribe: async () => 1,
    close() {},
    onclose: null,
  });

  test("is sent within what is left of the one deadline: a write waits no longer than timeout_ms", async () => {
    const link = new SharedLink(forgetful, {
      timeoutMs: DEADLINE_MS,
      label: "forgetful",
      warn() {},
      info() {},
    });
    try {
      expect(await link.start()).toBe(true);
      const script = lua("return 1");
      // The first call on the connection sends it whole; the next asks by SHA-1.
      expect(await link.script(script.source, script.sha, [], [])).toBe(1);
      const started = performance.now();
      const failed = await link.script(script.source, script.sha, [], []).catch((e) => e);
      expect(failed).toBeInstanceOf(SharedUnavailable);
      // Two deadlines, one for each call, took 1.9 of one.
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS * 1.45);
    } finally {
      link.close();
    }
  });
});
