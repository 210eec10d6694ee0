import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient as Redis } from "bun";
import { rmSync } from "node:fs";
import type { BrowserContext } from "playwright-core";
import { chromiumPath, launchChromium } from "./support/browser.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { tempDir } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { startInstances, type Instance, type Instances } from "./support/instances.ts";
import { runLevity } from "./support/process.ts";
import { chunk, OPENAI_TAIL } from "./support/raw-answers.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * One pool across three real levity processes sharing a real redis-server: a cooldown one
 * instance learns holds on all, rpm and max_concurrency count every instance's requests, a lease
 * of an instance killed with SIGKILL runs out, an admin's disable reaches every instance, and an
 * outage of Redis fails no request and heals by itself.
 */

const READY = redisAvailable("shared-pool.test.ts");
let redis: TestRedis;
let oa: FakeUpstream;
let fleet: Instances;
const A = () => fleet.all[0]!;
const B = () => fleet.all[1]!;
const C = () => fleet.all[2]!;

// OpenAI's own 429 body for a request-rate limit.
const RATE_LIMITED = {
  status: 429,
  body: JSON.stringify({
    error: {
      message:
        "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1.5s.",
      type: "requests",
      param: null,
      code: "rate_limit_exceeded",
    },
  }),
  headers: { "retry-after-ms": "1500" },
};

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  oa = fakeOpenAI(["sk-a", "sk-b", "sk-r", "sk-c", "sk-d", "sk-e"]);
  const upstream = (name: string, accounts: string) =>
    `  - name: ${name}\n    protocol: openai\n    base_url: ${oa.url}/v1\n    strategy: fill_first\n    accounts:\n${accounts}`;
  fleet = await startInstances(3, {
    gateway: [
      `state: ${redis.url}`,
      "proxy:",
      "  data_dir: {{DATA_DIR}}",
      "  cooldown_wait: 0",
      "upstreams:",
      upstream("cool", "      - { name: a, key: sk-a }\n      - { name: b, key: sk-b }"),
      upstream("limited", "      - { name: r, key: sk-r, rpm: 60 }"),
      upstream("narrow", "      - { name: c, key: sk-c, max_concurrency: 2 }"),
      upstream("admin", "      - { name: d, key: sk-d }\n      - { name: e, key: sk-e }"),
      "",
    ].join("\n"),
    mappings:
      "exact:\n  cool: cool/m\n  limited: limited/m\n  narrow: narrow/m\n  admin: admin/m\n",
  });
  await Promise.all(fleet.all.map((instance) => sharedUp(instance)));
}, 30_000);

afterAll(async () => {
  if (!READY) return;
  await fleet?.stop();
  await oa?.stop();
  await redis?.stop();
});

function ask(instance: Instance, model: string, extra: Record<string, unknown> = {}) {
  return fetch(`${instance.origin}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra }),
  });
}

async function accountOf(instance: Instance, model: string): Promise<string> {
  const response = await ask(instance, model);
  await response.text();
  expect(response.status).toBe(200);
  return response.headers.get("x-account")!;
}

async function healthz(instance: Instance): Promise<any> {
  return bodyOf(await fetch(`${instance.origin}/healthz`));
}

/** Waits until the instance reports its link to Redis up. */
function sharedUp(instance: Instance) {
  return waitUntil(
    `${instance.name}'s shared state to be up`,
    async () => (await healthz(instance)).shared_state?.up === true,
  );
}

const keysSince = (from: number) => oa.keysSeen().slice(from);

/** The monitor page's card for shared state, as a browser shows it (when Chromium is installed). */
async function monitorCard(instance: Instance, text: string): Promise<void> {
  const path = chromiumPath();
  if (!path) return;
  const profile = tempDir("levity-chromium-");
  let browser: BrowserContext | undefined;
  try {
    browser = await launchChromium(path, profile);
    const page = await browser.newPage();
    await page.goto(`${instance.origin}/ui`, { waitUntil: "load" });
    // Auth is off on loopback: an empty admin key opens the page.
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#cards [data-card='Shared state'] .value").getByText(text).waitFor();
  } finally {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Waits until `instance` knows of a cooldown of account a on "cool" (another instance's). */
function learnOfCooldown(instance: Instance): Promise<unknown> {
  return waitUntil(`${instance.name} to learn A's cooldown`, async () => {
    const accounts = (await bodyOf(await fetch(`${instance.origin}/levity/accounts`)))
      .accounts as any[];
    return accounts.find((x) => x.upstream === "cool" && x.account === "a").modelCooldowns.m;
  });
}

describe.skipIf(!READY)("one pool across three instances on Redis", () => {
  test("each instance says in its start-up block and status that its pool is shared", async () => {
    for (const instance of fleet.all)
      expect(instance.output()).toContain(`  state      ${redis.url} (shared)\n`);
    const status = await bodyOf(await fetch(`${A().origin}/levity/status`));
    expect(status.sharedState).toMatchObject({ url: redis.url, up: true, mode: "shared" });
    const metrics = await (await fetch(`${A().origin}/metrics`)).text();
    expect(metrics).toMatch(/^levity_shared_state_up 1$/m);
    await monitorCard(A(), "up since");
  }, 30_000);

  test("an account rate-limited through A is not tried by B or C until its cooldown ends", async () => {
    oa.replyOnce(RATE_LIMITED, "sk-a");
    const from = oa.keysSeen().length;
    expect(await accountOf(A(), "cool")).toBe("b");
    expect(keysSince(from)).toEqual(["sk-a", "sk-b"]);
    const cooledAt = Date.now();
    // Published by A "within one round trip" (README): B and C hear of it on their subscription,
    // which a client's next request can overtake; then fill_first would try a first on B and C,
    // and the cooldown A learned keeps them off it.
    for (const instance of [B(), C()]) await learnOfCooldown(instance);
    for (const instance of [B(), C(), B(), C()])
      expect(await accountOf(instance, "cool")).toBe("b");
    if (Date.now() - cooledAt < 1400) expect(keysSince(from + 2)).not.toContain("sk-a");
    const accounts = (await bodyOf(await fetch(`${C().origin}/levity/accounts`))).accounts as any[];
    expect(accounts.find((x) => x.upstream === "cool" && x.account === "a").modelCooldowns.m).toBe(
      (await bodyOf(await fetch(`${A().origin}/levity/accounts`))).accounts.find(
        (x: any) => x.upstream === "cool" && x.account === "a",
      ).modelCooldowns.m,
    );
    // Once it has ended, every instance serves from a again.
    await waitUntil("the cooldown to end on C", async () => (await accountOf(C(), "cool")) === "a");
    expect(await accountOf(B(), "cool")).toBe("a");
  });

  test("rpm: 60 across three instances lets exactly 60 through in total", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const response = await ask(fleet.all[i % 3]!, "limited");
      await response.text();
      statuses.push(response.status);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const instance of fleet.all) {
      const refused = await ask(instance, "limited");
      expect(refused.status).toBe(429);
      expect((await bodyOf(refused)).error.message).toContain("cooling down");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(1);
    }
    expect(oa.keysSeen().filter((k) => k === "sk-r")).toHaveLength(60);
  });

  test("max_concurrency: 2 holds across instances, and a killed instance's lease runs out", async () => {
    const first = oa.holdOnce(chunk({ role: "assistant", content: "a " }), "sk-c");
    const onA = await ask(A(), "narrow", { stream: true });
    await first.received;
    const second = oa.holdOnce(chunk({ role: "assistant", content: "b " }), "sk-c");
    const onB = await ask(B(), "narrow", { stream: true });
    await second.received;
    expect([onA.status, onB.status]).toEqual([200, 200]);
    const refused = await ask(C(), "narrow");
    expect(refused.status).toBe(429);
    expect((await bodyOf(refused)).error.message).toContain("max_concurrency");
    // B finishes: its lease is released at once, and C gets the slot.
    second.release(OPENAI_TAIL.join(""));
    await onB.text();
    const third = oa.holdOnce(chunk({ role: "assistant", content: "c " }), "sk-c");
    const onC = await waitUntil("C to get the slot B released", async () => {
      const response = await ask(C(), "narrow", { stream: true });
      if (response.status === 200) return response;
      await response.text();
      return undefined;
    });
    await third.received;
    // A dies holding its lease: nobody releases it, so only its expiry frees the slot.
    const killedAt = Date.now();
    await A().kill("SIGKILL");
    onA.body?.cancel().catch(() => {});
    const stillHeld = await ask(B(), "narrow");
    expect(stillHeld.status).toBe(429);
    await stillHeld.text();
    const freed = await waitUntil(
      "the dead instance's lease to expire",
      async () => {
        const response = await ask(B(), "narrow");
        await response.text();
        return response.status === 200 && Date.now();
      },
      20_000,
    );
    // The lease lives 10 s without renewal; it was last renewed at most a third of that before the kill.
    expect(freed - killedAt).toBeGreaterThan(5_000);
    third.release(OPENAI_TAIL.join(""));
    await onC.text();
    await fleet.restart(0);
    await sharedUp(A());
  }, 40_000);

  test("levity accounts disable on A takes the account out on B and C", async () => {
    expect(await accountOf(B(), "admin")).toBe("d");
    const off = await runLevity(["accounts", "disable", "admin/d", "--url", A().origin]);
    expect(off).toMatchObject({ code: 0, stdout: "disabled: admin/d\n" });
    for (const instance of [B(), C()])
      await waitUntil(`${instance.name} to hear of the disable`, async () => {
        const accounts = (await bodyOf(await fetch(`${instance.origin}/levity/accounts`)))
          .accounts as any[];
        return (
          accounts.find((x) => x.upstream === "admin" && x.account === "d").state === "disabled"
        );
      });
    for (const instance of fleet.all) expect(await accountOf(instance, "admin")).toBe("e");
    const on = await runLevity(["accounts", "enable", "admin/d", "--url", C().origin]);
    expect(on.code).toBe(0);
    for (const instance of fleet.all)
      await waitUntil(`${instance.name} to serve d again`, async () => {
        return (await accountOf(instance, "admin")) === "d";
      });
  });

  test("an instance that was down while an admin enabled an account does not bring its old disable back", async () => {
    expect((await runLevity(["accounts", "disable", "admin/d", "--url", B().origin])).code).toBe(0);
    await waitUntil("A to save the disable", async () => {
      const accounts = (await bodyOf(await fetch(`${A().origin}/levity/accounts`)))
        .accounts as any[];
      return accounts.find((x) => x.upstream === "admin" && x.account === "d").state === "disabled";
    });
    await A().kill("SIGKILL");
    expect((await runLevity(["accounts", "enable", "admin/d", "--url", B().origin])).code).toBe(0);
    await fleet.restart(0);
    await sharedUp(A());
    await waitUntil("A to take the shared state", async () => {
      const accounts = (await bodyOf(await fetch(`${A().origin}/levity/accounts`)))
        .accounts as any[];
      return accounts.find((x) => x.upstream === "admin" && x.account === "d").state !== "disabled";
    });
    expect(await accountOf(A(), "admin")).toBe("d");
    expect(await accountOf(C(), "admin")).toBe("d");
  }, 30_000);

  test("Redis down mid-run: no request fails, the fallback is reported, and the state heals when it is back", async () => {
    // A disable made before the outage, which Redis (restarted without persistence) will lose.
    expect((await runLevity(["accounts", "disable", "admin/e", "--url", A().origin])).code).toBe(0);
    await waitUntil("the disable to reach C", async () => {
      const accounts = (await bodyOf(await fetch(`${C().origin}/levity/accounts`)))
        .accounts as any[];
      return accounts.find((x) => x.upstream === "admin" && x.account === "e").state === "disabled";
    });
    // Clients keep asking while Redis dies: calls in flight then time out, and fall back.
    let asking = true;
    const during: number[] = [];
    const traffic = (async () => {
      for (let i = 0; asking; i++) {
        const response = await ask(fleet.all[i % 3]!, ["cool", "narrow", "admin"][i % 3]!);
        await response.text();
        during.push(response.status);
      }
    })();
    await redis.kill();
    for (const instance of fleet.all)
      await waitUntil(`${instance.name} to notice`, async () => {
        return (await healthz(instance)).shared_state?.up === false;
      });
    asking = false;
    await traffic;
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((s) => s !== 200)).toEqual([]);
    // Every request is served from the instance's own state, rpm and max_concurrency included.
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) {
      for (const model of ["cool", "narrow", "admin"]) {
        const response = await ask(fleet.all[i % 3]!, model);
        await response.text();
        statuses.push(response.status);
      }
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const detail = (await healthz(B())).shared_state;
    expect(detail).toMatchObject({ up: false, mode: "local" });
    expect(typeof detail.since).toBe("string");
    const metrics = await (await fetch(`${B().origin}/metrics`)).text();
    expect(metrics).toMatch(/^levity_shared_state_up 0$/m);
    expect(metrics).toMatch(/^levity_shared_state_failures_total [1-9]\d*$/m);
    expect(B().output()).toContain("unreachable");
    expect((await bodyOf(await fetch(`${C().origin}/levity/status`))).sharedState).toMatchObject({
      up: false,
      mode: "local",
    });
    await monitorCard(C(), "down since");
    // A cooldown learned while Redis is away is pushed when it is back.
    oa.replyOnce({ ...RATE_LIMITED, headers: { "retry-after": "30" } }, "sk-a");
    expect(await accountOf(A(), "cool")).toBe("b");
    await redis.start();
    for (const instance of fleet.all) await sharedUp(instance);
    for (const instance of [B(), C()]) await learnOfCooldown(instance);
    expect(await accountOf(C(), "cool")).toBe("b");
    // Redis came back empty: the instances pushed back the disable they still knew.
    const probe = new Redis(redis.url);
    await waitUntil("the disable back in Redis", async () => {
      const saved = await probe.get("levity:pool:health:admin/e");
      return saved !== null && JSON.parse(saved).disabledReason;
    });
    probe.close();
    const after = await (await fetch(`${B().origin}/metrics`)).text();
    expect(after).toMatch(/^levity_shared_state_up 1$/m);
    // And shared admin actions work again: a reset on B clears A's cooldown everywhere.
    const reset = await fetch(`${B().origin}/levity/accounts/reset`, {
      method: "POST",
      body: JSON.stringify({ upstream: "cool" }),
    });
    expect(reset.status).toBe(200);
    for (const instance of fleet.all)
      await waitUntil(`${instance.name} to serve a again`, async () => {
        return (await accountOf(instance, "cool")) === "a";
      });
    expect((await runLevity(["accounts", "enable", "admin/e", "--url", B().origin])).code).toBe(0);
  }, 60_000);
});
