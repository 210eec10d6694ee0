import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Strategy } from "../config/schema.ts";
import type { Account, Upstream } from "../config/snapshot.ts";
import { openSqliteStore } from "../state/sqlite-store.ts";
import { memoryStore, type StateStore } from "../state/store.ts";
import type { AccountEvent } from "./events.ts";
import type { Failure } from "../failure.ts";
import { MAX_HINT_MS } from "./health.ts";
import { AccountPool } from "./pool.ts";
import type { Acquired, Lease } from "./lease.ts";
import { ADMIN_DISABLED } from "./health.ts";
import type { AccountListener } from "./events.ts";
import { type Affinity, AffinityMemory } from "./affinity.ts";

/*
 * AccountPool driven with a fake clock: time moves only when a test moves it, and a waiting
 * request is released by finishing a lease, never by sleeping.
 */

const START = 1_700_000_000_000;

function clock() {
  let t = START;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** A pool whose reports nobody reads. */
const NOBODY: AccountListener = { accountChanged() {} };

function account(name: string, over: Partial<Account> = {}): Account {
  return { name, key: `sk-test-${name}-0123456789`, weight: 1, serves: () => true, ...over };
}

function upstream(strategy: Strategy, accounts: Account[], name = "u"): Upstream {
  return {
    name,
    protocol: "openai",
    baseUrl: "http://127.0.0.1:1",
    strategy,
    maxAttempts: 3,
    timeouts: { connect: 1, firstByte: 1, idle: 1, total: 1 },
    accounts,
  } as Upstream;
}

function build(
  options: { store?: StateStore; listener?: AccountListener; random?: () => number } = {},
) {
  const time = clock();
  const pool = new AccountPool(options.store ?? memoryStore(), options.listener ?? NOBODY, {
    now: time.now,
    random: options.random ?? (() => 0.5),
  });
  return { pool, ...time };
}

function lease(acquired: Acquired): Lease {
  if (acquired.kind !== "lease") throw new Error(`no lease: ${JSON.stringify(acquired)}`);
  return acquired.lease;
}

/** Acquires with these accounts passed by, and finishes at once; the account that served. */
function serve(pool: AccountPool, up: Upstream, affinity: Affinity, tried: Set<string>) {
  const l = lease(pool.tryAcquire(up, "m", affinity, tried));
  l.finish({ ok: true });
  return l.account.name;
}

/** Acquires and finishes at once, `n` times; the accounts that served, in order. */
function serveMany(pool: AccountPool, up: Upstream, n: number, affinity: Affinity = {}) {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const l = lease(pool.tryAcquire(up, "m", affinity, new Set()));
    names.push(l.account.name);
    l.finish({ ok: true });
  }
  return names.join(" ");
}

const failure = (kind: Failure["kind"], over: Partial<Failure> = {}): Failure => ({
  kind,
  status: kind === "rate_limit" ? 429 : kind === "auth" ? 401 : kind === "quota" ? 402 : 500,
  message: "simulated",
  ...over,
});

function fail(pool: AccountPool, up: Upstream, f: Failure, model = "m"): string {
  const l = lease(pool.tryAcquire(up, model, {}, new Set()));
  l.finish({ ok: false, failure: f });
  return l.account.name;
}

describe("selection through the pool", () => {
  test("each strategy, with every account ready", () => {
    const table: { strategy: Strategy; accounts: Account[]; served: string }[] = [
      { strategy: "fill_first", accounts: [account("a"), account("b")], served: "a a a a" },
      {
        strategy: "round_robin",
        accounts: [account("a", { weight: 3 }), account("b")],
        served: "a a b a a a b a",
      },
      { strategy: "least_busy", accounts: [account("a"), account("b")], served: "a a a a" },
      { strategy: "sticky", accounts: [account("a"), account("b")], served: "a b a b" },
    ];
    for (const row of table) {
      const { pool } = build();
      const n = row.served.split(" ").length;
      expect(`${row.strategy}: ${serveMany(pool, upstream(row.strategy, row.accounts), n)}`).toBe(
        `${row.strategy}: ${row.served}`,
      );
    }
  });

  test("least_busy sends the next request to the account with less in flight", () => {
    const { pool } = build();
    const up = upstream("least_busy", [account("a"), account("b", { weight: 2 })]);
    const held = [0, 1, 2].map(() => lease(pool.tryAcquire(up, "m", {}, new Set())));
    // a 0/1 → a; then a 1/1 vs b 0/2 → b; then a 1/1 vs b 1/2 → b.
    expect(held.map((l) => l.account.name)).toEqual(["a", "b", "b"]);
    held[0]!.finish({ ok: true });
    expect(lease(pool.tryAcquire(up, "m", {}, new Set())).account.name).toBe("a");
  });

  test("sticky keeps each conversation on one account, and moves it when that one cools", () => {
    const { pool } = build();
    const up = upstream("sticky", [account("a"), account("b")]);
    expect(serveMany(pool, up, 3, { session: "s1" })).toBe("a a a");
    expect(serveMany(pool, up, 3, { session: "s2" })).toBe("b b b");
    // s1's account is rate limited for m: s1 moves to b and stays there afterwards.
    const l = lease(pool.tryAcquire(up, "m", { session: "s1" }, new Set()));
    l.finish({ ok: false, failure: failure("rate_limit", { hintMs: 1_000 }) });
    expect(serveMany(pool, up, 2, { session: "s1" })).toBe("b b");
  });

  test("sticky with one account ready: the conversation sticks to it, unless it holds the response continued", () => {
    const memory = new AffinityMemory();
    const pool = new AccountPool(memoryStore(), NOBODY, { affinity: memory });
    const up = upstream("sticky", [account("a"), account("b")]);
    // b alone is ready for s1: s1 sticks to b.
    expect(serve(pool, up, { session: "s1" }, new Set(["a"]))).toBe("b");
    expect(memory.stuckTo("u", "s1")).toBe("b");
    // a holds resp_1 and alone is ready for s2, which continues it: picked as the holder, s2 sticks nowhere.
    memory.pin("u", "resp_1", "a");
    expect(serve(pool, up, { session: "s2", previousResponseId: "resp_1" }, new Set(["b"]))).toBe(
      "a",
    );
    expect(memory.stuckTo("u", "s2")).toBeUndefined();
  });

  test("a stored response brings its continuation back to the account that holds it", () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a"), account("b")]);
    const first = lease(pool.tryAcquire(up, "m", {}, new Set(["a"])));
    expect(first.account.name).toBe("b");
    first.pinResponse("resp_1");
    first.finish({ ok: true });
    const next = { previousResponseId: "resp_1" };
    expect(serveMany(pool, up, 2, next)).toBe("b b");
    // Another upstream's response of the same id is not this one.
    const other = upstream("fill_first", [account("a"), account("b")], "other");
    expect(serveMany(pool, other, 1, next)).toBe("a");
    // The holder cannot serve: the strategy decides.
    expect(lease(pool.tryAcquire(up, "m", next, new Set(["b"]))).account.name).toBe("a");
  });
});

describe("readiness", () => {
  test("rpm: at the limit an account cools until its oldest start leaves the minute", () => {
    const { pool, advance } = build();
    const up = upstream("fill_first", [account("a", { rpm: 2 })]);
    serveMany(pool, up, 1);
    advance(10_000);
    serveMany(pool, up, 1);
    const full = pool.tryAcquire(up, "m", {}, new Set());
    expect(full).toMatchObject({ kind: "unavailable", cooling: 1, soonestMs: 50_000 });
    advance(49_999);
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("unavailable");
    advance(1);
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("lease");
  });

  test("max_concurrency: a full account is busy, not cooling", () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a", { maxConcurrency: 1 })]);
    const held = lease(pool.tryAcquire(up, "m", {}, new Set()));
    expect(pool.tryAcquire(up, "m", {}, new Set())).toMatchObject({ busy: 1, cooling: 0 });
    held.finish({ ok: true });
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("lease");
  });

  test("why none can serve: tried, disabled, cooling and accounts that do not serve the model", () => {
    const { pool } = build();
    const up = upstream("fill_first", [
      account("a"),
      account("b"),
      account("c"),
      account("d", { serves: (model) => model !== "m" }),
    ]);
    pool.setEnabled([up], { account: "b" }, false);
    const c = lease(pool.tryAcquire(up, "m", {}, new Set(["a", "b"])));
    c.finish({ ok: false, failure: failure("server") });
    expect(pool.tryAcquire(up, "m", {}, new Set(["a"]))).toEqual({
      kind: "unavailable",
      cooling: 1,
      soonestMs: 2_000,
      coolingBecause: "the upstream answered a server error (500)",
      busy: 0,
      disabled: [{ name: "b", reason: ADMIN_DISABLED }],
      serving: 3,
      tried: 1,
    });
  });

  test("why an account cools is said only while its failure's cooldown holds it, in levity's words", () => {
    const { pool, advance } = build();
    const up = upstream("fill_first", [account("a", { rpm: 1 })]);
    lease(pool.tryAcquire(up, "m", {}, new Set())).finish({
      ok: false,
      failure: failure("network", {
        status: 502,
        message: "could not reach 10.0.0.7: ECONNREFUSED",
      }),
    });
    const cooling = pool.tryAcquire(up, "m", {}, new Set());
    expect(cooling).toMatchObject({
      cooling: 1,
      coolingBecause: "the upstream could not be reached",
    });
    expect(JSON.stringify(cooling)).not.toContain("10.0.0.7");
    // The cooldown over, the account still waits on its own rpm: that is no failure's doing.
    advance(2_000);
    const paced = pool.tryAcquire(up, "m", {}, new Set());
    expect(paced).toMatchObject({ kind: "unavailable", cooling: 1 });
    expect(paced).not.toHaveProperty("coolingBecause");
  });

  test("after a restart a saved cooldown still holds the account, and why is not said until it fails again", () => {
    const store = memoryStore();
    const up = upstream("fill_first", [account("a")]);
    const first = build({ store }).pool;
    lease(first.tryAcquire(up, "m", {}, new Set())).finish({
      ok: false,
      failure: failure("server"),
    });
    expect(first.tryAcquire(up, "m", {}, new Set())).toHaveProperty("coolingBecause");
    const restarted = build({ store }).pool.tryAcquire(up, "m", {}, new Set());
    expect(restarted).toMatchObject({ kind: "unavailable", cooling: 1 });
    expect(restarted).not.toHaveProperty("coolingBecause");
  });
});

describe("health through the pool", () => {
  test("a rate limit with a hint cools that model for the hint; other models still served", () => {
    const { pool, advance } = build();
    const up = upstream("fill_first", [account("a")]);
    fail(pool, up, failure("rate_limit", { hintMs: 30_000 }));
    expect(pool.tryAcquire(up, "m", {}, new Set())).toMatchObject({ soonestMs: 30_000 });
    expect(lease(pool.tryAcquire(up, "n", {}, new Set())).account.name).toBe("a");
    advance(30_000);
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("lease");
  });

  test("a rate limit without a hint backs off exponentially, with the pool's jitter", () => {
    const { pool, advance } = build({ random: () => 0 });
    const up = upstream("fill_first", [account("a")]);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      fail(pool, up, failure("rate_limit"));
      const unavailable = pool.tryAcquire(up, "m", {}, new Set());
      if (unavailable.kind !== "unavailable") throw new Error("expected cooling");
      waits.push(unavailable.soonestMs!);
      advance(unavailable.soonestMs!);
    }
    expect(waits).toEqual([4_000, 8_000, 16_000]);
    // A success heals the count: the next rate limit starts from the base again.
    serveMany(pool, up, 1);
    fail(pool, up, failure("rate_limit"));
    expect(pool.tryAcquire(up, "m", {}, new Set())).toMatchObject({ soonestMs: 4_000 });
  });

  test("spent credit cools the account for every model", () => {
    const { pool, advance } = build();
    const up = upstream("fill_first", [account("a")]);
    fail(pool, up, failure("quota"));
    for (const model of ["m", "n", "o"])
      expect(pool.tryAcquire(up, model, {}, new Set())).toMatchObject({ soonestMs: 300_000 });
    expect(pool.view([up])[0]).toMatchObject({
      state: "cooling",
      coolingUntil: new Date(START + 300_000).toISOString(),
    });
    advance(300_000);
    expect(pool.tryAcquire(up, "n", {}, new Set()).kind).toBe("lease");
  });

  test("a refused key disables the account until its key changes", () => {
    const { pool, advance } = build();
    const a = account("a");
    fail(pool, upstream("fill_first", [a]), failure("auth", { message: "bad key" }));
    advance(MAX_HINT_MS * 10);
    const same = upstream("fill_first", [{ ...a }]);
    expect(pool.tryAcquire(same, "m", {}, new Set())).toMatchObject({
      kind: "unavailable",
      disabled: [{ name: "a", reason: "the upstream refused its key (401: bad key)" }],
    });
    const rekeyed = upstream("fill_first", [{ ...a, key: "sk-test-a-new-key-987654" }]);
    expect(pool.tryAcquire(rekeyed, "m", {}, new Set()).kind).toBe("lease");
    expect(pool.view([rekeyed])[0]).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
  });

  test("a neutral outcome neither counts, cools nor heals", () => {
    const { pool, advance } = build();
    const up = upstream("fill_first", [account("a")]);
    fail(pool, up, failure("server"));
    advance(2_000);
    // The client left: not the account's failure, and no proof it works either.
    const l = lease(pool.tryAcquire(up, "m", {}, new Set()));
    l.finish({ neutral: true });
    expect(pool.view([up])[0]).toMatchObject({
      state: "healthy",
      consecutiveFailures: 1,
      requests: 2,
      failures: 1,
      inFlight: 0,
    });
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("lease");
  });

  test("a lease finished twice counts once", () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a")]);
    const l = lease(pool.tryAcquire(up, "m", {}, new Set()));
    l.finish({ ok: true, usage: { input: 3, output: 4 } });
    l.finish({ ok: false, failure: failure("server") });
    expect(pool.view([up])[0]).toMatchObject({
      state: "healthy",
      inFlight: 0,
      requests: 1,
      failures: 0,
      tokens: { input: 3, output: 4 },
    });
  });
});

describe("what the pool reports", () => {
  test("the listener hears each cooldown and disable, with the failure as the pool was told it", () => {
    const events: AccountEvent[] = [];
    const { pool } = build({ listener: { accountChanged: (e) => events.push(e) } });
    const a = account("a");
    const up = upstream("fill_first", [a, account("b")]);
    fail(pool, up, failure("auth", { message: "Incorrect API key provided: [account key]" }));
    fail(pool, up, failure("rate_limit", { hintMs: 1_000 }), "n");
    expect(events).toEqual([
      {
        upstream: "u",
        account: "a",
        model: "m",
        failure: failure("auth", { message: "Incorrect API key provided: [account key]" }),
        effect: {
          kind: "disabled",
          reason: "the upstream refused its key (401: Incorrect API key provided: [account key])",
        },
      },
      {
        upstream: "u",
        account: "b",
        model: "n",
        failure: failure("rate_limit", { hintMs: 1_000 }),
        effect: { kind: "cooling", waitMs: 1_000, model: "n" },
      },
    ]);
  });
});

describe("waiting for an account", () => {
  test("a waiting request gets the account a finished lease frees", async () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a", { maxConcurrency: 1 })]);
    const held = lease(pool.tryAcquire(up, "m", {}, new Set()));
    let woke = false;
    const waiting = pool
      .acquire(up, "m", {}, new Set(), 60_000, new AbortController().signal)
      .finally(() => {
        woke = true;
      });
    await Promise.resolve();
    expect(woke).toBe(false);
    held.finish({ ok: true });
    const acquired = await waiting;
    expect(lease(acquired).account.name).toBe("a");
  });

  test("a waiting request whose client leaves stops waiting at once", async () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a", { maxConcurrency: 1 })]);
    lease(pool.tryAcquire(up, "m", {}, new Set()));
    const abort = new AbortController();
    const waiting = pool.acquire(up, "m", {}, new Set(), 60_000, abort.signal);
    abort.abort();
    expect(await waiting).toMatchObject({ kind: "unavailable", busy: 1 });
  });

  test("an admin putting an account back wakes a request waiting on a busy upstream", async () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a", { maxConcurrency: 1 }), account("b")]);
    pool.setEnabled([up], { account: "b" }, false);
    lease(pool.tryAcquire(up, "m", {}, new Set()));
    const waiting = pool.acquire(up, "m", {}, new Set(), 60_000, new AbortController().signal);
    pool.setEnabled([up], { account: "b" }, true);
    expect(lease(await waiting).account.name).toBe("b");
  });

  test("no wait when nothing can free up in time", async () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a")]);
    fail(pool, up, failure("rate_limit", { hintMs: 30_000 }));
    const signal = new AbortController().signal;
    expect(await pool.acquire(up, "m", {}, new Set(), 29_999, signal)).toMatchObject({
      kind: "unavailable",
      soonestMs: 30_000,
    });
  });
});

describe("admin edits", () => {
  test("disable, enable and reset, by upstream and account", () => {
    const { pool } = build();
    const u = upstream("fill_first", [account("a"), account("b")]);
    const v = upstream("fill_first", [account("a")], "v");
    expect(pool.setEnabled([u, v], { account: "a" }, false)).toEqual(["u/a", "v/a"]);
    expect(pool.view([u, v]).map((x) => x.state)).toEqual(["disabled", "healthy", "disabled"]);
    expect(pool.setEnabled([u, v], { upstream: "u" }, true)).toEqual(["u/a", "u/b"]);
    expect(pool.view([u, v]).map((x) => x.state)).toEqual(["healthy", "healthy", "disabled"]);

    fail(pool, u, failure("quota"));
    fail(pool, u, failure("auth"));
    expect(pool.view([u]).map((x) => x.state)).toEqual(["cooling", "disabled"]);
    expect(pool.reset([u, v], { upstream: "u", account: "a" })).toEqual(["u/a"]);
    expect(pool.view([u]).map((x) => x.state)).toEqual(["healthy", "disabled"]);
    expect(pool.reset([u, v])).toEqual(["u/a", "u/b", "v/a"]);
    expect(pool.view([u, v]).map((x) => [x.state, x.consecutiveFailures])).toEqual([
      ["healthy", 0],
      ["healthy", 0],
      ["healthy", 0],
    ]);
  });

  test("enable ends a disable levity made itself", () => {
    const { pool } = build();
    const up = upstream("fill_first", [account("a")]);
    fail(pool, up, failure("auth"));
    pool.setEnabled([up], {}, true);
    expect(pool.tryAcquire(up, "m", {}, new Set()).kind).toBe("lease");
  });
});

describe("persistence through the SQLite store", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), "levity-pool-"));
    dirs.push(dir);
    return join(dir, "state.db");
  };

  test("cooldowns and disables outlive a restart; a new key starts afresh; time still runs", () => {
    const path = open();
    const a = account("a");
    const b = account("b");
    const up = upstream("fill_first", [a, b]);

    const first = openSqliteStore(path);
    const before = build({ store: first });
    fail(before.pool, up, failure("rate_limit", { hintMs: 60_000 }));
    before.pool.setEnabled([up], { account: "b" }, false);
    const saved = before.pool.view([up]);
    first.close();

    const second = openSqliteStore(path);
    const after = build({ store: second });
    const restored = after.pool.view([up]);
    // What is kept is health; what a running levity counts starts again.
    const health = ({
      upstream,
      account,
      state,
      coolingUntil,
      modelCooldowns,
      disabledReason,
      consecutiveFailures,
    }: (typeof saved)[number]) => ({
      upstream,
      account,
      state,
      coolingUntil,
      modelCooldowns,
      disabledReason,
      consecutiveFailures,
    });
    expect(restored.map(health)).toEqual(saved.map(health));
    expect(restored[0]).toMatchObject({ state: "cooling", requests: 0, failures: 0 });
    expect(restored[1]).toMatchObject({ state: "disabled", disabledReason: ADMIN_DISABLED });

    // b under a new key is not the account that was disabled, and its record is replaced.
    const rekeyed = upstream("fill_first", [a, { ...b, key: "sk-test-b-rotated-00000" }]);
    expect(after.pool.view([rekeyed])[1]!.state).toBe("healthy");
    after.advance(60_000);
    expect(after.pool.view([rekeyed])[0]).toMatchObject({ state: "healthy", modelCooldowns: {} });
    second.close();

    const third = openSqliteStore(path);
    const records = third.accounts().sort((x, y) => x.account.localeCompare(y.account));
    third.close();
    expect(records.map((r) => [r.account, r.disabledReason, r.consecutiveFailures])).toEqual([
      ["a", undefined, 1],
      ["b", undefined, 0],
    ]);
    expect(JSON.stringify(records)).not.toContain(b.key);
  });
});
