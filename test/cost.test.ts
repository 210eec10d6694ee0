import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { openLogFile } from "../src/observe/sqlite-request-log.ts";
import { silentLogger } from "../src/log.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream, ReportedUsage } from "./support/fake-server.ts";
import { startGateway, tempDir, type TestGateway } from "./support/gateway.ts";
import { runLevity } from "./support/process.ts";
import { parseMetrics, sample } from "./support/prometheus.ts";

/*
 * Cost through a live gateway: fake Anthropic, OpenAI (chat and Responses) and Gemini upstreams
 * report cached and reasoning tokens in their providers' own usage fields, the three SDKs send
 * the requests, and each request's cost in the log, the usage endpoint, `levity usage` and
 * /metrics is compared with the price table's arithmetic done here by hand.
 */

const ALICE = "sk-alice-cost-0123456789";
const BOB = "sk-bob-cost-0123456789";
const ADMIN = "sk-admin-cost-0123456789";
const KEYS = {
  an: "sk-ant-cost-account-0000001",
  oa: "sk-oa-cost-account-0000001",
  gm: "gm-cost-account-0000001",
  local: "sk-local-cost-account-00001",
};

// What each fake reports, in the IR's sense; each fake writes it in its own provider's fields.
const USAGE: Record<"an" | "oa" | "gm", ReportedUsage> = {
  // input_tokens 100, cache_read_input_tokens 800, cache_creation_input_tokens 300, output_tokens 90
  an: { input: 1200, cached: 800, cacheWrite: 300, output: 90, reasoning: 0 },
  // prompt_tokens 2000 with cached_tokens 1500, completion_tokens 700 with reasoning_tokens 500
  oa: { input: 2000, cached: 1500, cacheWrite: 0, output: 700, reasoning: 500 },
  // promptTokenCount 3000 with cachedContentTokenCount 1000, candidatesTokenCount 100, thoughtsTokenCount 300
  gm: { input: 3000, cached: 1000, cacheWrite: 0, output: 400, reasoning: 300 },
};

// The table's figures, per million tokens: [input, cached input, cache write, output, reasoning].
type Row = [number, number, number, number, number];
const SONNET_4_5: Row = [3, 0.3, 3.75, 15, 15];
const GPT_4O: Row = [2.5, 1.25, 2.5, 10, 10];
const GEMINI_2_5_FLASH: Row = [0.3, 0.03, 0.3, 2.5, 2.5];
// gateway.yaml's own entry: only input and output, the rest defaulted.
const HOUSE: Row = [1, 1, 1, 2, 2];

/** The arithmetic, written out: plain input, cache reads, cache writes, plain output, reasoning. */
function byHand(price: Row, u: ReportedUsage): number {
  const [input, cached, write, output, reasoning] = price;
  return (
    ((u.input - u.cached - u.cacheWrite) * input +
      u.cached * cached +
      u.cacheWrite * write +
      (u.output - u.reasoning) * output +
      u.reasoning * reasoning) /
    1e6
  );
}

const COST = {
  sonnet: byHand(SONNET_4_5, USAGE.an),
  gpt: byHand(GPT_4O, USAGE.oa),
  gem: byHand(GEMINI_2_5_FLASH, USAGE.gm),
  house: byHand(HOUSE, USAGE.oa),
};

let gw: TestGateway;
const fakes: FakeUpstream[] = [];

beforeAll(async () => {
  const an = fakeAnthropic(KEYS.an, { usage: USAGE.an });
  const oa = fakeOpenAI(KEYS.oa, { usage: USAGE.oa });
  const gm = fakeGemini(KEYS.gm, { usage: USAGE.gm });
  const local = fakeOpenAI(KEYS.local, { usage: USAGE.oa });
  fakes.push(an, oa, gm, local);
  gw = startGateway({
    gateway: `proxy:
  auth_mode: strict
  api_keys:
    - { name: alice, key: ${ALICE} }
    - { name: bob, key: ${BOB} }
  admin_key: ${ADMIN}
  request_log: { flush_ms: 50 }
prices:
  house-model: { input: 1, output: 2 }
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${an.url}
    accounts: [{ name: main, key: ${KEYS.an} }]
  - name: oa
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    accounts: [{ name: main, key: ${KEYS.oa} }]
  - name: gm
    protocol: gemini
    base_url: ${gm.url}
    accounts: [{ name: main, key: ${KEYS.gm} }]
  - name: local
    protocol: openai
    base_url: ${local.url}/v1
    prices:
      "*": { input: 0, output: 0 }
    accounts: [{ name: box, key: ${KEYS.local} }]
`,
    mappings: `exact:
  sonnet: an/claude-sonnet-4-5-20250929
  gpt: oa/gpt-4o-2024-08-06
  gem: gm/gemini-2.5-flash
  free: local/gpt-4o
  mystery: oa/mystery-model
  cheap: oa/house-model
`,
  });
  const openai = (key: string) =>
    new OpenAI({ apiKey: key, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  const say = [{ role: "user" as const, content: "hello there" }];

  // alice: Anthropic forwarded, a chat stream forwarded, an unpriced model, Gemini translated.
  await new Anthropic({ apiKey: ALICE, baseURL: gw.origin, maxRetries: 0 }).messages.create({
    model: "sonnet",
    max_tokens: 100,
    messages: say,
  });
  const stream = await openai(ALICE).chat.completions.create({
    model: "gpt",
    messages: say,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream);
  await openai(ALICE).chat.completions.create({ model: "mystery", messages: say });
  await openai(ALICE).chat.completions.create({ model: "gem", messages: say });
  // bob: Responses forwarded, Gemini through its own SDK, a free local model, a YAML-priced one.
  await openai(BOB).responses.create({ model: "gpt", input: "hello there" });
  await new GoogleGenAI({
    apiKey: BOB,
    httpOptions: { baseUrl: gw.origin },
  }).models.generateContent({ model: "gem", contents: "hello there" });
  await openai(BOB).chat.completions.create({ model: "free", messages: say });
  await openai(BOB).chat.completions.create({ model: "cheap", messages: say });
});

afterAll(async () => {
  await gw?.stop();
  for (const fake of fakes) await fake.stop();
});

const admin = async (path: string) => {
  const response = await fetch(`${gw.origin}${path}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as any;
};

describe("cost per request", () => {
  test("each record's cost is the table's arithmetic for its provider's usage shape", async () => {
    const { requests } = await admin("/levity/logs?limit=100");
    const find = (model: string, route: string) => {
      const found = requests.filter(
        (r: any) => r.requestedModel === model && r.route.includes(route),
      );
      expect(found).toHaveLength(1);
      return found[0];
    };
    const cases: [string, string, number | undefined, ReportedUsage][] = [
      ["sonnet", "/v1/messages", COST.sonnet, USAGE.an],
      ["gpt", "/v1/chat/completions", COST.gpt, USAGE.oa],
      ["gpt", "/v1/responses", COST.gpt, USAGE.oa],
      ["gem", "/v1/chat/completions", COST.gem, USAGE.gm],
      ["gem", "generateContent", COST.gem, USAGE.gm],
      ["free", "/v1/chat/completions", 0, USAGE.oa],
      ["cheap", "/v1/chat/completions", COST.house, USAGE.oa],
      ["mystery", "/v1/chat/completions", undefined, USAGE.oa],
    ];
    for (const [model, route, cost, usage] of cases) {
      const record = find(model, route);
      expect(record.status).toBe(200);
      // The tokens as the IR counts them, whatever the provider's fields were.
      expect({
        input: record.inputTokens,
        cached: record.cachedTokens,
        cacheWrite: record.cacheWriteTokens,
        output: record.outputTokens,
        reasoning: record.reasoningTokens,
      }).toEqual({
        input: usage.input,
        cached: usage.cached,
        cacheWrite: usage.cacheWrite,
        output: usage.output,
        reasoning: usage.reasoning,
      });
      if (cost === undefined) expect(record.costUsd).toBeUndefined();
      else expect(record.costUsd).toBeCloseTo(cost, 12);
    }
    // Written out once more, so a wrong table and a wrong formula cannot agree by accident.
    expect(COST.sonnet).toBeCloseTo(0.003015, 12);
    expect(COST.gpt).toBeCloseTo(0.010125, 12);
    expect(COST.gem).toBeCloseTo(0.00163, 12);
  });

  test("an unpriced model is warned about once, naming prices:", () => {
    const warnings = gw.log.lines.filter((l) => l.includes("no price for model"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"mystery-model" on upstream "oa"');
    expect(warnings[0]).toContain("prices:");
  });
});

describe("GET /levity/usage?by=", () => {
  const row = (answer: any, name: string) => answer.rows.find((r: any) => r.name === name);

  test("by key: each key's requests, tokens and cost, sorted by cost, with a total", async () => {
    const answer = await admin("/levity/usage?by=key&since=7d");
    expect(answer.by).toBe("key");
    expect(Date.parse(answer.until) - Date.parse(answer.since)).toBeCloseTo(7 * 86_400_000, -4);
    expect(answer.rows.map((r: any) => r.name)).toEqual(["bob", "alice"]);
    const alice = row(answer, "alice");
    expect(alice).toMatchObject({
      requests: 4,
      errors: 0,
      input_tokens: 1200 + 2000 + 2000 + 3000,
      cached_tokens: 800 + 1500 + 1500 + 1000,
      cache_write_tokens: 300,
      output_tokens: 90 + 700 + 700 + 400,
      reasoning_tokens: 500 + 500 + 300,
      unpriced_requests: 1,
    });
    expect(alice.cost_usd).toBeCloseTo(COST.sonnet + COST.gpt + COST.gem, 12);
    const bob = row(answer, "bob");
    expect(bob).toMatchObject({ requests: 4, unpriced_requests: 0 });
    expect(bob.cost_usd).toBeCloseTo(COST.gpt + COST.gem + 0 + COST.house, 12);
    expect(answer.total).toMatchObject({ name: "total", requests: 8, unpriced_requests: 1 });
    expect(answer.total.cost_usd).toBeCloseTo(alice.cost_usd + bob.cost_usd, 12);
    expect(answer.total.input_tokens).toBe(alice.input_tokens + bob.input_tokens);
  });

  test("by model, upstream and account", async () => {
    const models = await admin("/levity/usage?by=model&since=1h");
    expect(models.rows.map((r: any) => r.name)).toEqual([
      "gpt-4o-2024-08-06",
      "house-model",
      "gemini-2.5-flash",
      "claude-sonnet-4-5-20250929",
      // Equal cost (none): more requests first, then by name.
      "gpt-4o",
      "mystery-model",
    ]);
    expect(row(models, "gpt-4o-2024-08-06").cost_usd).toBeCloseTo(2 * COST.gpt, 12);
    expect(row(models, "mystery-model")).toMatchObject({ cost_usd: 0, unpriced_requests: 1 });
    const upstreams = await admin("/levity/usage?by=upstream");
    expect(row(upstreams, "oa").cost_usd).toBeCloseTo(2 * COST.gpt + COST.house, 12);
    expect(row(upstreams, "oa").requests).toBe(4);
    expect(row(upstreams, "local")).toMatchObject({ requests: 1, cost_usd: 0 });
    const accounts = await admin("/levity/usage?by=account&since=7d");
    expect(row(accounts, "gm/main").cost_usd).toBeCloseTo(2 * COST.gem, 12);
    expect(row(accounts, "an/main").requests).toBe(1);
  });
});

describe("/metrics", () => {
  test("cost per key, model and upstream; tokens per key and kind", async () => {
    const response = await fetch(`${gw.origin}/metrics`, {
      headers: { authorization: `Bearer ${ALICE}` },
    });
    const families = parseMetrics(await response.text());
    const cost = (labels: Record<string, string>) =>
      sample(families, "levity_cost_usd_total", labels);
    expect(cost({ key: "alice", model: "claude-sonnet-4-5-20250929", upstream: "an" })).toBeCloseTo(
      COST.sonnet,
      12,
    );
    expect(cost({ key: "bob", model: "gpt-4o-2024-08-06", upstream: "oa" })).toBeCloseTo(
      COST.gpt,
      12,
    );
    expect(cost({ key: "alice" })).toBeCloseTo(COST.sonnet + COST.gpt + COST.gem, 12);
    expect(cost({ key: "bob" })).toBeCloseTo(COST.gpt + COST.gem + COST.house, 12);
    // The unpriced model has no cost series at all.
    expect(cost({ model: "mystery-model" })).toBe(0);
    expect(
      families
        .get("levity_cost_usd_total")!
        .metrics.some((m: any) => m.labels.model === "mystery-model"),
    ).toBe(false);
    const tokens = (key: string, kind: string) =>
      sample(families, "levity_key_tokens_total", { key, kind });
    expect(tokens("alice", "input")).toBe(1200 + 2000 + 2000 + 3000);
    expect(tokens("alice", "cached")).toBe(800 + 1500 + 1500 + 1000);
    expect(tokens("alice", "output")).toBe(90 + 700 + 700 + 400);
    expect(tokens("alice", "reasoning")).toBe(500 + 500 + 300);
    expect(tokens("bob", "reasoning")).toBe(500 + 300 + 500 + 500);
  });
});

// After the sums above: the refused requests it makes are recorded too, with no client key ("-").
describe("GET /levity/usage, refused", () => {
  test("a bad by or since is a 400 naming the choices; without by the days answer is unchanged", async () => {
    for (const [query, words] of [
      ["by=team", "by must be one of key, model, upstream, account"],
      ["by=key&since=soon", "since must be a duration"],
    ]) {
      const response = await fetch(`${gw.origin}/levity/usage?${query}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(words!);
    }
    const days = await admin("/levity/usage?days=1");
    expect(Object.keys(days).sort()).toEqual(["since", "usage"]);
    const served = days.usage.reduce((n: number, r: any) => n + r.requests - r.errors, 0);
    expect(served).toBe(8);
  });
});

describe("the command line", () => {
  test("levity logs shows each cost; levity usage prints the table, from the gateway and from the file", async () => {
    const port = new URL(gw.origin).port;
    const env = { LEVITY_ADMIN_KEY: ADMIN };
    const logs = await runLevity(["logs", "--config", gw.dir, "--port", port], { env });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`$${COST.sonnet.toFixed(6)}`);
    const mystery = logs.stdout.split("\n").find((l) => l.includes("mystery-model"));
    expect(mystery).toMatch(/ 2000 in \(1500 cached\), 700 out \(500 reasoning\) {2}key alice /);
    const json = await runLevity(["logs", "--json", "--config", gw.dir, "--port", port], { env });
    const records = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records.find((r) => r.requestedModel === "sonnet").costUsd).toBeCloseTo(COST.sonnet, 12);

    const table = await runLevity(
      ["usage", "--by", "key", "--since", "7d", "--config", gw.dir, "--port", port],
      { env },
    );
    expect(table).toMatchObject({ code: 0, stderr: "" });
    const lines = table.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^key\s+requests\s+errors\s+input\s+cached\s+cache write\s+output\s+reasoning\s+cost\s+unpriced$/,
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^bob\\s+4\\s+0\\s+9000\\s+5500\\s+0\\s+2500\\s+1800\\s+\\$${(COST.gpt + COST.gem + COST.house).toFixed(6)}\\s+0$`,
      ),
    );
    expect(lines[2]).toMatch(/^alice\s+4\s+0\s+8200\s+4800\s+300\s+1890\s+1300\s+\$\S+\s+1$/);
    // The two refused admin requests above carried no client key.
    expect(lines[3]).toMatch(/^-\s+2\s+2\s+0\s+0\s+0\s+0\s+0\s+\$0\.000000\s+0$/);
    expect(lines[4]).toMatch(/^total\s+10\s+2\s+17200\s+/);
    const viaJson = await runLevity(
      ["usage", "--by", "model", "--json", "--config", gw.dir, "--port", port],
      { env },
    );
    expect(JSON.parse(viaJson.stdout)).toMatchObject({ by: "model", total: { requests: 10 } });
    // A model none of whose requests had a price has no known cost: "-", not a free $0.
    const byModel = await runLevity(
      ["usage", "--by", "model", "--config", gw.dir, "--port", port],
      { env },
    );
    expect(byModel.stdout.split("\n").find((l) => l.startsWith("mystery-model"))).toMatch(
      /\s-\s+1$/,
    );

    // The gateway gone: the same numbers from requests.db, said so on stderr.
    await gw.server.stop(1000);
    const fromFile = await runLevity(
      ["usage", "--by", "key", "--since", "7d", "--json", "--config", gw.dir, "--port", port],
      { env },
    );
    expect(fromFile.code).toBe(0);
    expect(fromFile.stderr).toContain("reading its request log file");
    const answer = JSON.parse(fromFile.stdout);
    expect(answer.rows.map((r: any) => [r.name, r.requests, r.unpriced_requests])).toEqual([
      ["bob", 4, 0],
      ["alice", 4, 1],
      ["-", 2, 0],
    ]);
    expect(answer.total.cost_usd).toBeCloseTo(
      COST.sonnet + 2 * COST.gpt + 2 * COST.gem + COST.house,
      12,
    );
    const bad = await runLevity(["usage", "--by", "team", "--config", gw.dir], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--by must be one of key, model, upstream, account");
  }, 60_000);
});

describe("requests.db", () => {
  test("a log file from before cost_usd gains the column; its old rows count as unpriced", () => {
    const dir = tempDir("levity-cost-db-");
    const path = join(dir, "requests.db");
    const old = new Database(path, { create: true });
    old.exec(`CREATE TABLE requests (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, request_id TEXT NOT NULL,
      client_key TEXT, method TEXT NOT NULL, route TEXT NOT NULL, unmatched INTEGER NOT NULL, dialect TEXT,
      requested_model TEXT, mapped_model TEXT, upstream TEXT, account TEXT, attempts INTEGER NOT NULL,
      status INTEGER NOT NULL, stream INTEGER NOT NULL, latency_ms REAL NOT NULL, ttfb_ms REAL NOT NULL,
      input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
      cache_write_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL, error TEXT,
      request_body TEXT, response_body TEXT)`);
    old.exec(`INSERT INTO requests (time, request_id, method, route, unmatched, requested_model, upstream,
      attempts, status, stream, latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
      VALUES (${Date.now()}, 'req_old', 'POST', '/v1/chat/completions', 0, 'gpt-4o', 'oa', 1, 200, 0, 1, 1, 10, 5, 0, 0)`);
    old.close();
    const log = openLogFile({
      path,
      retentionMs: 86_400_000,
      maxBytes: 1e9,
      log: silentLogger,
    });
    try {
      log.write([
        {
          time: Date.now(),
          requestId: "req_new",
          method: "POST",
          route: "/v1/chat/completions",
          requestedModel: "gpt-4o",
          upstream: "oa",
          attempts: 1,
          status: 200,
          stream: false,
          latencyMs: 1,
          ttfbMs: 1,
          inputTokens: 1000,
          outputTokens: 100,
          cachedTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          costUsd: 0.0035,
        },
      ]);
      const [newest, oldest] = log.query({});
      expect(newest!.costUsd).toBe(0.0035);
      expect(oldest!.costUsd).toBeUndefined();
      expect(log.usageBy("model", 0, Date.now() + 1000)).toEqual([
        expect.objectContaining({
          name: "gpt-4o",
          requests: 2,
          cost_usd: 0.0035,
          unpriced_requests: 1,
        }),
      ]);
    } finally {
      log.close();
    }
  });
});

describe("translated requests", () => {
  test("an upstream's usage keeps its meaning through another dialect's client", async () => {
    const an = fakeAnthropic(KEYS.an, { usage: USAGE.an });
    const gm = fakeGemini(KEYS.gm, { usage: USAGE.gm });
    const oa = fakeOpenAI(KEYS.oa, { usage: USAGE.oa });
    const other = startGateway({
      gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: carol, key: ${ALICE} }]
  admin_key: ${ADMIN}
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${an.url}
    accounts: [{ name: main, key: ${KEYS.an} }]
  - name: gm
    protocol: gemini
    base_url: ${gm.url}
    accounts: [{ name: main, key: ${KEYS.gm} }]
  - name: oa
    protocol: openai
    base_url: ${oa.url}/v1
    accounts: [{ name: main, key: ${KEYS.oa} }]
`,
      mappings: `exact:
  sonnet: an/claude-sonnet-4-5-20250929
  gem: gm/gemini-2.5-flash
  gpt: oa/gpt-4o-2024-08-06
`,
    });
    try {
      const openai = new OpenAI({ apiKey: ALICE, baseURL: `${other.origin}/v1`, maxRetries: 0 });
      const anthropic = new Anthropic({ apiKey: ALICE, baseURL: other.origin, maxRetries: 0 });
      const say = [{ role: "user" as const, content: "hello there" }];
      // Anthropic's fields read by an OpenAI chat client, streamed, and by a Responses client.
      const stream = await openai.chat.completions.create({
        model: "sonnet",
        messages: say,
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _ of stream);
      await openai.responses.create({ model: "sonnet", input: "hello there" });
      // Gemini's and OpenAI's fields read by an Anthropic client, the first streamed.
      const gemStream = anthropic.messages.stream({ model: "gem", max_tokens: 100, messages: say });
      await gemStream.finalMessage();
      await anthropic.messages.create({ model: "gpt", max_tokens: 100, messages: say });
      const response = await fetch(`${other.origin}/levity/logs?limit=10`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const { requests } = (await response.json()) as any;
      const cost = (model: string, route: string) =>
        requests.find((r: any) => r.requestedModel === model && r.route === route)?.costUsd;
      expect(cost("sonnet", "/v1/chat/completions")).toBeCloseTo(COST.sonnet, 12);
      expect(cost("sonnet", "/v1/responses")).toBeCloseTo(COST.sonnet, 12);
      expect(cost("gem", "/v1/messages")).toBeCloseTo(COST.gem, 12);
      expect(cost("gpt", "/v1/messages")).toBeCloseTo(COST.gpt, 12);
    } finally {
      await other.stop();
      for (const fake of [an, gm, oa]) await fake.stop();
    }
  });
});
