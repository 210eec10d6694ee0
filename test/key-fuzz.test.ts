import { afterAll, beforeAll, expect, test } from "bun:test";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  type TestGateway,
  upstreamsYaml,
} from "./support/gateway.ts";
import { makeKey } from "./support/keys.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * A seeded random walk over client keys: keys made and changed through the admin API with random
 * limits (and random bad input), and requests of random shapes in every dialect sent with them,
 * in concurrent bursts, some abandoned mid-answer. Whatever happens, levity never answers with
 * its own 500, and when the traffic ends no key has a request in flight.
 */

const SEED = Number(process.env.LEVITY_FUZZ_SEED ?? 18);
const ADMIN = "sk-admin-fuzz-0123456789";
let oa: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI("sk-up-fuzz");
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  admin_key: ${ADMIN}\n  cooldown_wait: 0\n` +
      "  api_keys:\n    - { name: yaml-key, key: sk-test-fuzz-yaml-0123456789, rpm: 7, tpm: 3000 }\n" +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "a", key: "sk-up-fuzz" }],
        },
      ]),
    mappings: "default: oa/gpt-4o-real\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

/** mulberry32: a small seeded generator, so a failing walk can be replayed with its seed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}

type Rng = ReturnType<typeof generator>;

const MODELS = [
  "gpt-4o-real",
  "o3-real",
  "gpt-4o-mini",
  "claude-x",
  "models/gpt-4o-real",
  "GPT-4O-REAL",
];

function randomLimits(rng: Rng): Record<string, unknown> {
  const limits: Record<string, unknown> = {};
  if (rng.chance(0.4)) limits.rpm = rng.int(1, 8);
  if (rng.chance(0.4)) limits.tpm = rng.int(1, 4000);
  if (rng.chance(0.4)) limits.concurrency = rng.int(1, 3);
  if (rng.chance(0.3)) limits.daily_tokens = rng.int(1, 5000);
  if (rng.chance(0.3)) limits.monthly_usd = rng.pick([0.000001, 0.01, 5]);
  if (rng.chance(0.3)) limits.models = rng.pick([["gpt-*"], ["o3-*", "claude-*"], ["*"], ["x"]]);
  if (rng.chance(0.15)) limits.ips = rng.pick([["127.0.0.0/8"], ["10.0.0.0/8"], ["::1/128"]]);
  if (rng.chance(0.1)) limits.expires = rng.pick(["1d", "2020-01-01", "2099-12-31"]);
  // Bad input, now and then: the answer must be a 400, never a 500.
  if (rng.chance(0.1))
    limits[rng.pick(["rpm", "tpm", "models", "expires", "ips", "monthly_usd"])] = rng.pick([
      "x",
      -1,
      0,
      [],
      {},
      1e300,
      "\u0000",
      ["\u{1F600}"],
    ]);
  return limits;
}

function text(rng: Rng): string {
  return rng.pick(["hi", "a".repeat(rng.int(1, 5000)), "é漢字 ".repeat(rng.int(1, 200)), ""]);
}

/** One request of a random shape, in one of the dialects, with this secret. */
function randomRequest(rng: Rng, secret: string): { path: string; init: RequestInit } {
  const model = rng.pick(MODELS);
  const stream = rng.chance(0.4);
  const bearer = { authorization: `Bearer ${secret}`, "content-type": "application/json" };
  const anthropic = {
    "x-api-key": secret,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
  };
  const shapes: (() => { path: string; headers: Record<string, string>; body: unknown })[] = [
    () => ({
      path: "/v1/chat/completions",
      headers: bearer,
      body: { model, stream, messages: [{ role: "user", content: text(rng) }] },
    }),
    () => ({ path: "/v1/responses", headers: bearer, body: { model, stream, input: text(rng) } }),
    () => ({
      path: "/v1/messages",
      headers: anthropic,
      body: { model, stream, max_tokens: 50, messages: [{ role: "user", content: text(rng) }] },
    }),
    () => ({
      path: "/v1/messages/count_tokens",
      headers: anthropic,
      body: { model, messages: [{ role: "user", content: text(rng) }] },
    }),
    () => ({
      path: `/v1beta/models/${encodeURIComponent(model)}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
      headers: { "x-goog-api-key": secret, "content-type": "application/json" },
      body: { contents: [{ role: "user", parts: [{ text: text(rng) }] }] },
    }),
    () => ({
      path: "/v1/embeddings",
      headers: bearer,
      body: { model: rng.pick(["text-embedding-3-small", model]), input: text(rng) || "x" },
    }),
    () => ({ path: "/v1/images/generations", headers: bearer, body: { prompt: "a cat", n: 1 } }),
    // Bad shapes levity must refuse in the client's own form.
    () => ({ path: "/v1/chat/completions", headers: bearer, body: { model: 5, messages: [] } }),
    () => ({
      path: "/v1/messages",
      headers: anthropic,
      body: { model, messages: "x", max_tokens: 1 },
    }),
    () => ({ path: "/v1/responses", headers: bearer, body: "not json at all" }),
    () => ({ path: "/v1/chat/completions", headers: bearer, body: [] }),
  ];
  const shape = rng.pick(shapes)();
  return {
    path: shape.path,
    init: {
      method: "POST",
      headers: shape.headers,
      body: typeof shape.body === "string" ? shape.body : JSON.stringify(shape.body),
    },
  };
}

const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };

test(`a seeded walk (seed ${SEED}) over keys, limits and request shapes: no 500, nothing left in flight`, async () => {
  const rng = generator(SEED);
  const secrets = new Map<string, string>([["yaml-key", "sk-test-fuzz-yaml-0123456789"]]);
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  const note = (what: string, status: number, body: string) => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500 && status !== 502 && status !== 503 && status !== 504)
      problems.push(`${what}: ${status} ${body.slice(0, 300)}`);
    if (body.includes("internal error")) problems.push(`${what}: ${body.slice(0, 300)}`);
  };

  for (let i = 0; i < 12; i++) {
    const name = rng.chance(0.1)
      ? rng.pick(["__proto__", "bad name", "é", "x".repeat(70)])
      : `k${i}`;
    const made = await makeKey(gw.origin, ADMIN, { name, ...randomLimits(rng) });
    note(`add ${name}`, made.status, JSON.stringify(made.body));
    if (made.secret) secrets.set(name, made.secret);
  }
  const names = [...secrets.keys()];

  for (let round = 0; round < 15; round++) {
    const burst: Promise<void>[] = [];
    for (let j = 0; j < 12; j++) {
      const name = rng.pick(names);
      const { path, init } = randomRequest(rng, secrets.get(name)!);
      const abandon = rng.chance(0.15);
      const abort = new AbortController();
      burst.push(
        fetch(`${gw.origin}${path}`, { ...init, signal: abort.signal })
          .then(async (r) => {
            if (abandon && r.body) {
              // A client that reads a little and hangs up.
              await r.body.getReader().read();
              abort.abort();
              return;
            }
            note(`${name} ${path}`, r.status, await r.text());
          })
          .catch((error: Error) => {
            if (!abandon) problems.push(`${name} ${path}: ${error.message}`);
          }),
      );
    }
    // A change to a key's limits while its requests are in flight.
    if (rng.chance(0.5)) {
      const name = rng.pick(names.filter((n) => n !== "yaml-key"));
      burst.push(
        fetch(`${gw.origin}/levity/keys/${encodeURIComponent(name)}`, {
          method: "PATCH",
          headers: admin,
          body: JSON.stringify(randomLimits(rng)),
        }).then(async (r) => note(`patch ${name}`, r.status, await r.text())),
      );
    }
    if (rng.chance(0.1)) {
      const name = rng.pick(names.filter((n) => n !== "yaml-key"));
      burst.push(
        fetch(`${gw.origin}/levity/keys/${encodeURIComponent(name)}/revoke`, {
          method: "POST",
          headers: admin,
        }).then(async (r) => note(`revoke ${name}`, r.status, await r.text())),
      );
    }
    await Promise.all(burst);
  }

  console.log(`seed ${SEED}: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  expect(problems).toEqual([]);
  expect(
    gw.log.lines.filter((line) => line.includes("internal error") || / failed: /.test(line)),
  ).toEqual([]);
  // Every admitted request settled, however it ended.
  for (const name of names) {
    const inFlight = await waitUntil(`${name} has nothing in flight`, async () => {
      const r = await fetch(`${gw.origin}/levity/keys/${encodeURIComponent(name)}`, {
        headers: admin,
      });
      const view: any = await r.json();
      return view.usage.in_flight === 0 ? 0 : false;
    });
    expect(inFlight).toBe(0);
  }
  // The walk reached the limits, not only the happy path.
  expect([...statuses.keys()].some((s) => s === 429)).toBe(true);
  expect([...statuses.keys()].some((s) => s === 200)).toBe(true);
}, 60_000);
