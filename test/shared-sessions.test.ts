import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { type Instance, type Instances, startInstances } from "./support/instances.ts";
import { makeKey } from "./support/keys.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";
import { toolCallRequest, toolResultRequest } from "./support/weather-tool-loop.ts";
import type { KeyRecord } from "../src/config/key-record.ts";
import { admit, freshCounters, isRefusal, settle, type Ticket } from "../src/keys/admission.ts";
import { SharedKeys } from "../src/keys/shared-keys.ts";
import { openRedisLink } from "../src/state/redis-link.ts";
import type { SharedLink } from "../src/state/shared-link.ts";
import { sharedStore } from "../src/state/shared-store.ts";
import { memoryStore, type StoredResponse } from "../src/state/store.ts";

/*
 * Sessions, stored responses and client keys across three real levity processes sharing one real
 * redis-server: a sticky conversation keeps its account and a Responses conversation continues
 * whichever instance answers, a key made or revoked on one holds on all, a key's rpm counts
 * across all of them, and Redis dying mid-run fails no request.
 */

const READY = redisAvailable("shared-sessions.test.ts");
const ADMIN_KEY = "sk-admin-shared-sessions-0123456789";
const DESK_KEY = "sk-client-desk-shared-sessions-0123456789";
const ACCOUNT_KEYS = ["sk-an-shared-1", "sk-an-shared-2", "sk-an-shared-3"];
const MODEL = "claude-sonnet-4-5";
const OPENAI_KEYS = ["sk-oa-shared-1", "sk-oa-shared-2", "sk-oa-shared-3"];
const OPENAI_MODEL = "gpt-4o-real";

let redis: TestRedis;
let an: FakeUpstream;
let oa: FakeUpstream;
let instances: Instances;
let A: Instance;
let B: Instance;
let C: Instance;

const reachable = (instance: Instance) => instance.output().split("is reachable").length - 1;

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  an = fakeAnthropic(ACCOUNT_KEYS);
  oa = fakeOpenAI(OPENAI_KEYS);
  instances = await startInstances(3, {
    gateway: `proxy:
  data_dir: {{DATA_DIR}}
  auth_mode: strict
  admin_key: ${ADMIN_KEY}
  api_keys: [{ name: desk, key: ${DESK_KEY} }]
  cooldown_wait: 0
state: { url: "${redis.url}", timeout_ms: 250 }
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${an.url}
    strategy: sticky
    accounts:
${ACCOUNT_KEYS.map((key, i) => `      - { name: a${i + 1}, key: ${key} }`).join("\n")}
  - name: oa
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    accounts:
${OPENAI_KEYS.map((key, i) => `      - { name: o${i + 1}, key: ${key} }`).join("\n")}
`,
    mappings: `exact:\n  ${OPENAI_MODEL}: [oa/${OPENAI_MODEL}]\n`,
  });
  [A, B, C] = instances.all as [Instance, Instance, Instance];
  for (const instance of instances.all)
    await waitUntil(`${instance.name} to reach Redis`, () => reachable(instance) >= 1, 10_000);
}, 60_000);

afterAll(async () => {
  if (!READY) return;
  await instances?.stop();
  await an?.stop();
  await oa?.stop();
  await redis?.stop();
});

const client = (instance: Instance, apiKey = DESK_KEY) =>
  new OpenAI({ baseURL: `${instance.origin}/v1`, apiKey, maxRetries: 0 });

/** A chat request in a sticky session; resolves with the account that answered it. */
async function chatIn(instance: Instance, session: string): Promise<string> {
  const { response } = await client(instance)
    .chat.completions.create(
      { model: MODEL, messages: [{ role: "user", content: `hello from ${session}` }] },
      { headers: { "x-levity-session": session } },
    )
    .withResponse();
  return response.headers.get("x-account")!;
}

/** A raw chat request with a client key; resolves with its status. */
async function chatWith(instance: Instance, secret: string): Promise<number> {
  const response = await fetch(`${instance.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

const revoke = (instance: Instance, name: string) =>
  fetch(`${instance.origin}/levity/keys/${name}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });

describe.skipIf(!READY)("sessions, stored responses and keys across instances", () => {
  test("a sticky session started on A continues on the same account through B and C", async () => {
    // A's round robin moves on with each new session, so the one under test is not on the
    // account a fresh instance would pick first: only the shared binding brings B and C to it.
    const first = await chatIn(A, "warm-up");
    const bound = await chatIn(A, "conversation-1");
    expect(bound).not.toBe(first);
    for (const instance of [B, C, B, C, A])
      expect(await chatIn(instance, "conversation-1")).toBe(bound);
    // Kept a day after its last request.
    const ttl = Number(await redisCall("TTL", ["levity:session:2:an:header:conversation-1"]));
    expect(ttl).toBeGreaterThan(86_400 - 60);
    expect(ttl).toBeLessThanOrEqual(86_400);
  });

  test("a response an OpenAI account stored through A is continued through B and C on that account", async () => {
    // A's round robin moves on first, so the response is not on the account a fresh instance picks.
    await client(A).responses.create({ model: OPENAI_MODEL, input: "warm-up" });
    const { data: first, response } = await client(A)
      .responses.create({ model: OPENAI_MODEL, input: "one" })
      .withResponse();
    const holder = response.headers.get("x-account")!;
    expect(holder).not.toBe("o1");
    let previous = first.id;
    for (const instance of [B, C]) {
      // The fake OpenAI answers 404 from any other account, as OpenAI does.
      const next = await client(instance)
        .responses.create({ model: OPENAI_MODEL, input: "more", previous_response_id: previous })
        .withResponse();
      expect(next.response.headers.get("x-account")).toBe(holder);
      previous = next.data.id;
    }
    const ttl = await redisCall("PTTL", [`levity:pin:2:oa:${first.id}`]);
    expect(Number(ttl)).toBeGreaterThan(30 * 86_400_000 - 60_000);
    expect(Number(ttl)).toBeLessThanOrEqual(30 * 86_400_000);
  });

  test("a request with no session, no stored response to continue and no limited key asks Redis nothing", async () => {
    const reader = new RedisClient(redis.url);
    const commands = async () =>
      Number(
        /total_commands_processed:(\d+)/.exec((await reader.send("INFO", ["stats"])) as string)![1],
      );
    try {
      const first = await commands();
      const calibrated = (await commands()) - first;
      const before = await commands();
      for (const instance of [A, B, C, A, B, C])
        await client(instance).chat.completions.create({
          model: OPENAI_MODEL,
          messages: [{ role: "user", content: "no session here" }],
        });
      expect((await commands()) - before).toBe(calibrated);
    } finally {
      reader.close();
    }
  });

  test("a Responses conversation stored on A continues on B with previous_response_id", async () => {
    const first = await client(A).responses.create({
      model: MODEL,
      input: "Remember the word: heliotrope.",
    });
    const continued = await client(B).responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: "Which word?",
    });
    expect(continued.previous_response_id).toBe(first.id);
    // B sent the whole conversation, A's turns included, to the upstream.
    const sent = JSON.stringify(an.last().json);
    expect(sent).toContain("Remember the word: heliotrope.");
    expect(sent).toContain(first.output_text);
    expect(sent).toContain("Which word?");
    // And C continues B's.
    const third = await client(C).responses.create({
      model: MODEL,
      previous_response_id: continued.id,
      input: "Again?",
    });
    expect(third.previous_response_id).toBe(continued.id);
    expect(JSON.stringify(an.last().json)).toContain("Remember the word: heliotrope.");
  });

  test("a tool loop's signed thinking, kept by A, goes back to the upstream when B gets the tool's result", async () => {
    const first = await client(A).chat.completions.create(toolCallRequest(MODEL));
    const call = first.choices[0]!.message.tool_calls![0]!;
    // A Chat client has no field for Anthropic's signed thinking: it sends the turn back without it.
    await client(B).chat.completions.create(toolResultRequest(MODEL, call));
    const turn = an.last().json.messages[1].content;
    expect(turn[0].type).toBe("thinking");
    expect(turn[0].signature).toStartWith("anthropic-sig-");
    expect(turn[1].type).toBe("tool_use");
  });

  test("a key made on A works on B; its revoke on A refuses it on C", async () => {
    const made = await makeKey(A.origin, ADMIN_KEY, { name: "traveller" });
    expect(made.status).toBe(201);
    await waitUntil("B to know the key", async () => (await chatWith(B, made.secret!)) === 200);
    expect(await chatWith(C, made.secret!)).toBe(200);
    expect((await revoke(A, "traveller")).status).toBe(200);
    await waitUntil("C to refuse the key", async () => (await chatWith(C, made.secret!)) === 401);
    expect(await chatWith(B, made.secret!)).toBe(401);
  });

  test("a key's change is answered once Redis holds it, however slowly Redis takes it", async () => {
    const made = await makeKey(A.origin, ADMIN_KEY, { name: "unhurried" });
    expect(made.status).toBe(201);
    // Redis holds back every write for 150 ms (reads go on): the revoke's write among them.
    await redisCall("CLIENT", ["PAUSE", "150", "WRITE"]);
    const started = performance.now();
    expect((await revoke(A, "unhurried")).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThan(100);
    const kept = JSON.parse(String(await redisCall("HGET", ["levity:keys", "unhurried"])));
    expect(kept.revokedAt).toBeNumber();
    await waitUntil("C to refuse the key", async () => (await chatWith(C, made.secret!)) === 401);
  });

  test("rpm: 60 on a key lets exactly 60 requests through across three instances", async () => {
    const made = await makeKey(A.origin, ADMIN_KEY, { name: "sixty", rpm: 60 });
    for (const instance of [B, C])
      await waitUntil(`${instance.name} to know the key`, () => fetchKnown(instance, "sixty"));
    const statuses = await Promise.all(
      Array.from({ length: 90 }, (_, i) => chatWith(instances.all[i % 3]!, made.secret!)),
    );
    expect(statuses.filter((s) => s === 200).length).toBe(60);
    expect(statuses.filter((s) => s === 429).length).toBe(30);
    // Any instance reports the key's use by all three (levity keys show and the monitor page read this).
    for (const instance of [B, C]) {
      const shown: any = await (
        await fetch(`${instance.origin}/levity/keys/sixty`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        })
      ).json();
      expect(shown.usage.requests_last_minute).toBe(60);
      const listed: any = await (
        await fetch(`${instance.origin}/levity/keys`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        })
      ).json();
      expect(listed.keys.find((k: any) => k.name === "sixty").usage.requests_last_minute).toBe(60);
    }
  });

  test("Redis killed mid-run: no request fails, each instance decides alone, and all agree again when it is back", async () => {
    const limited = await makeKey(A.origin, ADMIN_KEY, { name: "ten", rpm: 10 });
    for (const instance of [B, C]) await waitUntil("the key", () => fetchKnown(instance, "ten"));
    const steady = await makeKey(A.origin, ADMIN_KEY, { name: "steady", rpm: 100_000 });
    const doomed = await makeKey(A.origin, ADMIN_KEY, { name: "doomed" });
    for (const instance of [B, C])
      for (const name of ["steady", "doomed"])
        await waitUntil("the key", () => fetchKnown(instance, name));
    // Traffic on all three throughout: keyed (admitted by the shared counters) and in a session.
    const statuses: number[] = [];
    let running = true;
    const traffic = instances.all.map(async (instance) => {
      while (running) {
        statuses.push(await chatWith(instance, steady.secret!));
        await chatIn(instance, "conversation-steady");
        statuses.push(200);
      }
    });
    await waitUntil("traffic to flow", () => statuses.length >= 30);
    const stored = await client(A).responses.create({ model: MODEL, input: "Before the outage." });
    const before = instances.all.map(reachable);
    await redis.kill();
    await waitUntil("every instance to see Redis gone", () =>
      instances.all.every((i) => i.output().includes("is unreachable")),
    );
    const duringOutage = statuses.length;
    await waitUntil("traffic to flow without Redis", () => statuses.length >= duringOutage + 30);

    // Sessions and stored responses carry on from each instance's own state.
    const bound = await chatIn(A, "conversation-outage");
    expect(await chatIn(A, "conversation-outage")).toBe(bound);
    const outageQuestion = await client(A).responses.create({
      model: MODEL,
      input: "Outage question.",
    });
    const continued = await client(A).responses.create({
      model: MODEL,
      previous_response_id: outageQuestion.id,
      input: "Outage follow-up.",
    });
    expect(continued.previous_response_id).toBe(outageQuestion.id);
    // A response only A has is not found on B until Redis is back, as with separate instances.
    const unknown = await client(B)
      .responses.create({ model: MODEL, previous_response_id: stored.id, input: "Where?" })
      .catch((error: unknown) => error);
    expect(unknown).toMatchObject({ status: 404, code: "previous_response_not_found" });
    // Keys: made on A while Redis is away; the limited one counted on A alone (4 of its 10).
    const late = await makeKey(A.origin, ADMIN_KEY, { name: "late" });
    expect(late.status).toBe(201);
    expect(await chatWith(A, late.secret!)).toBe(200);
    for (let i = 0; i < 4; i++) expect(await chatWith(A, limited.secret!)).toBe(200);
    // Revoked on A while the others cannot hear it: refused on A at once, on C once Redis is back.
    expect((await revoke(A, "doomed")).status).toBe(200);
    expect(await chatWith(A, doomed.secret!)).toBe(401);
    expect(await chatWith(C, doomed.secret!)).toBe(200);

    await redis.start();
    await waitUntil(
      "every instance to reconnect",
      () => instances.all.every((instance, i) => reachable(instance) > before[i]!),
      15_000,
    );
    const afterOutage = statuses.length;
    await waitUntil("traffic to flow with Redis back", () => statuses.length >= afterOutage + 30);
    running = false;
    await Promise.all(traffic);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // The key made during the outage reaches the others; A's 4 requests were merged into the
    // shared count, so the three instances together let only 6 more through.
    await waitUntil(
      "B to know the late key",
      async () => (await chatWith(B, late.secret!)) === 200,
    );
    await waitUntil(
      "C to refuse the doomed key",
      async () => (await chatWith(C, doomed.secret!)) === 401,
    );
    await waitUntil("A's count to be merged", () => sharedRequests("ten").then((n) => n === 4));
    const limitedAfter = await Promise.all(
      Array.from({ length: 9 }, (_, i) => chatWith(instances.all[i % 3]!, limited.secret!)),
    );
    expect(limitedAfter.filter((s) => s === 200).length).toBe(6);
    // The outage's Responses conversation continues on C (A pushed it when Redis came back).
    await waitUntil("C to continue the outage's conversation", async () => {
      const answer = await fetch(`${C.origin}/v1/responses`, {
        method: "POST",
        headers: { authorization: `Bearer ${DESK_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, previous_response_id: continued.id, input: "And?" }),
      });
      await answer.arrayBuffer();
      return answer.status === 200;
    });
    // The session A bound while Redis was away: C takes it to the same account.
    expect(await chatIn(A, "conversation-outage")).toBe(bound);
    expect(await chatIn(C, "conversation-outage")).toBe(bound);
  }, 60_000);

  test("an instance restarted while Redis is down still knows the keys made on the others", async () => {
    const made = await makeKey(B.origin, ADMIN_KEY, { name: "remembered", rpm: 1000 });
    await waitUntil("C to know the key", () => fetchKnown(C, "remembered"));
    await redis.kill();
    await C.kill("SIGKILL");
    C = await instances.restart(2);
    // C kept what it adopted in its own state database; its limits are counted by C alone.
    expect(await chatWith(C, made.secret!)).toBe(200);
    await redis.start();
    await waitUntil("C to reach Redis", () => reachable(C) >= 1, 15_000);
    for (const instance of [A, B])
      await waitUntil(`${instance.name} to reconnect`, async () => {
        const status = await chatWith(instance, made.secret!);
        return status === 200 && instance.output().split("is reachable").length >= 3;
      });
  }, 60_000);
});

/** Whether an instance lists a key (it learned of it from Redis). */
async function fetchKnown(instance: Instance, name: string): Promise<boolean> {
  const response = await fetch(`${instance.origin}/levity/keys/${name}`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** One command straight to Redis, as an operator's redis-cli would. */
async function redisCall(command: string, args: string[]): Promise<unknown> {
  const reader = new RedisClient(redis.url);
  try {
    return await reader.send(command, args);
  } finally {
    reader.close();
  }
}

/** The requests Redis counts in a key's window: its total field (its buckets are by second). */
async function sharedRequests(name: string): Promise<number> {
  return Number(await redisCall("HGET", [`levity:key:${name}:requests`, "t"]));
}

/*
 * The shared counters' script against admission.ts, step by step on one clock: the same verdicts
 * (refusals with their counts and waits, tickets) for every limit.
 */
type Step =
  | { at: number; admit: string; estimate?: number }
  | { at: number; settle: string; tokens?: number; usd?: number };

const T0 = Date.UTC(2026, 10, 30, 23, 59, 0);
const RULE_CASES: { name: string; limits: Partial<KeyRecord>; steps: Step[] }[] = [
  {
    name: "rpm: the fourth in a second is refused until the first leaves the window",
    limits: { rpm: 3 },
    steps: [
      { at: 0, admit: "a" },
      { at: 10_000, admit: "b" },
      { at: 20_000, admit: "c" },
      { at: 30_000, admit: "d" },
      { at: 60_000, admit: "e" },
      { at: 61_000, admit: "f" },
    ],
  },
  {
    name: "tpm: the estimate counts until the answer replaces it",
    limits: { tpm: 100 },
    steps: [
      { at: 0, admit: "a", estimate: 60 },
      { at: 100, admit: "b", estimate: 60 },
      { at: 200, settle: "a", tokens: 10 },
      { at: 300, admit: "c", estimate: 60 },
      { at: 400, admit: "d", estimate: 60 },
    ],
  },
  {
    name: "tpm: an answer that ends after its second left the window counts when it ends",
    limits: { tpm: 100 },
    steps: [
      { at: 0, admit: "a", estimate: 10 },
      { at: 30_000, admit: "b", estimate: 10 },
      { at: 70_000, settle: "a", tokens: 50 },
      { at: 71_000, admit: "c", estimate: 60 },
      { at: 72_000, settle: "b", tokens: 0 },
      { at: 73_000, admit: "d", estimate: 40 },
      { at: 131_000, admit: "e", estimate: 60 },
    ],
  },
  {
    name: "daily_tokens: counted per UTC day, reset at midnight",
    limits: { dailyTokens: 1000 },
    steps: [
      { at: 0, admit: "a", estimate: 600 },
      { at: 1000, settle: "a", tokens: 900 },
      { at: 2000, admit: "b", estimate: 200 },
      { at: 61_000, admit: "c", estimate: 200 },
    ],
  },
  {
    name: "monthly_usd: spent per UTC month, reset on the 1st",
    limits: { monthlyUsd: 1 },
    steps: [
      { at: 0, admit: "a" },
      { at: 100, settle: "a", usd: 0.6 },
      { at: 200, admit: "b" },
      { at: 300, settle: "b", usd: 0.5 },
      { at: 400, admit: "c" },
      { at: 61_000, admit: "d" },
    ],
  },
  {
    name: "concurrency: a request in flight holds its place until settled",
    limits: { concurrency: 2 },
    steps: [
      { at: 0, admit: "a" },
      { at: 1, admit: "b" },
      { at: 2, admit: "c" },
      { at: 3, settle: "a" },
      { at: 4, admit: "d" },
    ],
  },
];

describe.skipIf(!READY)("the shared counters apply admission.ts's rules", () => {
  let link: SharedLink;
  beforeAll(async () => {
    link = openRedisLink(redis.url, { timeoutMs: 1000, label: "test", warn() {}, info() {} });
    expect(await link.start()).toBe(true);
  });
  afterAll(() => link?.close());

  for (const [n, rule] of RULE_CASES.entries())
    test(rule.name, async () => {
      let now = T0;
      const shared = new SharedKeys(link, `rules${n}`, () => now);
      const record = { name: "k", source: "levity", digest: "d", createdAt: T0, ...rule.limits };
      const counters = freshCounters(T0);
      const local: unknown[] = [];
      const remote: unknown[] = [];
      const tickets = new Map<string, { here: Ticket; there: Ticket }>();
      for (const step of rule.steps) {
        now = T0 + step.at;
        if ("admit" in step) {
          const here = admit(counters, record as KeyRecord, step.estimate ?? 0, now);
          const there = await shared.admit(
            record as KeyRecord,
            step.admit,
            step.estimate ?? 0,
            now,
          );
          local.push(here);
          remote.push(there);
          if (!isRefusal(here) && !isRefusal(there)) tickets.set(step.admit, { here, there });
        } else {
          const held = tickets.get(step.settle)!;
          settle(counters, held.here, step.tokens ?? 0, step.usd ?? 0, now);
          await shared.settle("k", held.there, step.settle, step.tokens ?? 0, step.usd ?? 0);
        }
      }
      expect(remote).toEqual(local);
      expect(local.some((v) => isRefusal(v as Ticket))).toBe(true);
    });
});

describe.skipIf(!READY)("a key's requests in flight across instances", () => {
  test("one held by an instance that died is let go 15 minutes after it was admitted", async () => {
    const link = openRedisLink(redis.url, { timeoutMs: 1000, label: "test", warn() {}, info() {} });
    try {
      expect(await link.start()).toBe(true);
      const record = { name: "k", source: "levity", digest: "d", createdAt: T0, concurrency: 1 };
      const shared = new SharedKeys(link, "leases", () => T0);
      const at = (ms: number) => shared.admit(record as KeyRecord, `r${ms}`, 0, T0 + ms);
      expect(isRefusal(await at(0))).toBe(false);
      // Never settled: its instance died.
      expect(await at(14 * 60_000)).toMatchObject({ limit: "concurrency", used: 1 });
      expect(isRefusal(await at(15 * 60_000 + 1))).toBe(false);
    } finally {
      link.close();
    }
  });
});

describe.skipIf(!READY)("stored responses in Redis are bounded", () => {
  let link: SharedLink;
  beforeAll(async () => {
    link = openRedisLink(redis.url, { timeoutMs: 1000, label: "test", warn() {}, info() {} });
    expect(await link.start()).toBe(true);
  });
  afterAll(() => link?.close());

  const response = (id: string, previousId: string | undefined, size: number): StoredResponse => ({
    id,
    previousId,
    model: "m",
    input: [{ role: "user", parts: [{ type: "text", text: "x".repeat(size) }] }],
    output: [{ type: "text", text: `answer ${id}` }],
  });

  test("one response over its cap stays local; past the total, the oldest go first", async () => {
    const bounds = { ttlMs: 60_000, maxResponseBytes: 3000, maxTotalBytes: 5000 };
    const onA = sharedStore(memoryStore(), link, "bounded", bounds);
    let previous: string | undefined;
    for (const id of ["r1", "r2", "r3", "r4", "r5"]) {
      onA.saveResponse(response(id, previous, 1000));
      previous = id;
    }
    onA.saveResponse(response("huge", "r5", 4000));
    const index = () => link.call("ZRANGE", ["bounded:responses:index", "0", "-1"]);
    await waitUntil("the saves to land", async () => ((await index()) as string[]).includes("r5"));
    const kept = (await index()) as string[];
    // Each record is about 1.1 KB: five pass 5000, so the oldest went, down to nine tenths.
    expect(kept).toEqual(["r2", "r3", "r4", "r5"].slice(-kept.length));
    expect(kept.length).toBeLessThan(5);
    expect(kept).not.toContain("huge");
    expect(Number(await link.call("GET", ["bounded:responses:bytes"]))).toBeLessThanOrEqual(4500);
    // Another instance recalls what Redis kept: the conversation from the oldest kept response.
    const onB = sharedStore(memoryStore(), link, "bounded", bounds);
    await onB.recall!("r5", []);
    const turns = onB.conversation("r5")!;
    expect(turns.filter((t) => t.role === "assistant").length).toBe(kept.length);
    expect(onB.hasResponse("huge")).toBe(false);
    const ttl = Number(await link.call("PTTL", ["bounded:response:r5"]));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
