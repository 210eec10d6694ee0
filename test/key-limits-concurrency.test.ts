import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  restartGateway,
  startGateway,
  type TestGateway,
  upstreamsYaml,
} from "./support/gateway.ts";

/*
 * Limits under load: 200 requests at once against `rpm: 60, concurrency: 5` let through exactly
 * what the limits allow, and what was counted survives a restart.
 */

const SECRET = "sk-test-team-0123456789";
let oa: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI("sk-up-openai");
  gw = startGateway({
    gateway:
      "proxy:\n  auth_mode: strict\n" +
      `  api_keys:\n    - { name: team, key: ${SECRET}, rpm: 60, concurrency: 5, daily_tokens: 1000000 }\n` +
      "    - { name: serial, key: sk-test-serial-0123456789, concurrency: 1 }\n" +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-up-openai" }],
        },
      ]),
    mappings: "exact:\n  gpt-4o-real: oa/gpt-4o-real\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

/** The day's tokens the team key has used, as the state database holds them. */
function dayTokens(): number {
  const db = new Database(join(gw.server.holder.snapshot.proxy.dataDir, "levity.db"), {
    readonly: true,
  });
  try {
    const row = db
      .query<{ counters: string }, []>("SELECT counters FROM key_counters WHERE name = 'team'")
      .get();
    return row ? (JSON.parse(row.counters) as { dayTokens: number }).dayTokens : 0;
  } finally {
    db.close();
  }
}

const ask = () =>
  fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] }),
  });

async function outcome(response: Response): Promise<string> {
  const limit = response.headers.get("x-levity-limit");
  await response.text();
  return response.status === 200 ? "200" : `${response.status} ${limit}`;
}

test("200 at once against rpm 60 and concurrency 5: 5 in flight, 195 refused, then exactly 60 in the minute, and the count survives a restart", async () => {
  const holds = Array.from({ length: 5 }, () => oa.quietOnce({}));
  const pending = Array.from({ length: 200 }, () => ask().then(outcome));
  // Every refusal comes back while the five admitted are still held upstream.
  const settledEarly: string[] = [];
  let refusedAll!: () => void;
  const allRefused = new Promise<void>((resolve) => (refusedAll = resolve));
  for (const p of pending)
    void p.then((o) => {
      settledEarly.push(o);
      if (settledEarly.length === 195) refusedAll();
    });
  await Promise.all(holds.map((h) => h.received));
  await allRefused;
  expect(settledEarly).toEqual(Array(195).fill("429 concurrency"));
  expect(oa.requests.length).toBe(5);
  for (const hold of holds) hold.release();
  const all = await Promise.all(pending);
  expect(all.filter((o) => o === "200").length).toBe(5);

  // Five at a time, as the concurrency allows, until the minute's 60 are spent.
  const later: string[] = [];
  for (let batch = 0; batch < 12; batch++)
    later.push(...(await Promise.all(Array.from({ length: 5 }, () => ask().then(outcome)))));
  expect(later.filter((o) => o === "200").length).toBe(55);
  expect(later.filter((o) => o === "429 rpm").length).toBe(5);
  expect(oa.requests.length).toBe(60);

  const refused = await ask();
  expect(refused.status).toBe(429);
  const wait = Number(refused.headers.get("retry-after"));
  await refused.text();
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(60);

  // A restart does not open the window again, nor forget the day's tokens.
  gw = await restartGateway(gw);
  // Written when the gateway stopped; no request has been admitted since.
  expect(dayTokens()).toBeGreaterThan(0);
  const afterRestart = await ask();
  expect(afterRestart.status).toBe(429);
  expect(afterRestart.headers.get("x-levity-limit")).toBe("rpm");
  expect(Number(afterRestart.headers.get("retry-after"))).toBeLessThanOrEqual(wait);
  expect(await afterRestart.json()).toMatchObject({
    error: { message: expect.stringContaining("has sent 60 requests in the last minute") },
  });
  expect(oa.requests.length).toBe(60);
});

test("a key with concurrency 1 may stream one answer after another: each is settled before its client sees the end", async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: "Bearer sk-test-serial-0123456789",
        "content-type": "application/json",
      },
      body: JSON.stringify({
        model: "gpt-4o-real",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    statuses.push(response.status);
    expect(await response.text()).toContain("[DONE]");
  }
  expect(statuses).toEqual(Array(20).fill(200));
});
