import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { loadConfig } from "../src/config/load.ts";
import { ConfigError, formatProblem } from "../src/config/problem.ts";
import {
  migrate,
  openPostgresRequestLog,
  SCHEMA_VERSION,
} from "../src/observe/postgres-request-log.ts";
import type { RequestRecord } from "../src/observe/record.ts";
import { chromiumPath, launchChromium } from "./support/browser.ts";
import { REPO, tempDir, writeConfig } from "./support/gateway.ts";
import { type Instances, startInstances } from "./support/instances.ts";
import { postgresAvailable, TestPostgres } from "./support/postgres.ts";
import { runLevity } from "./support/process.ts";
import { freePort } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";
import { requestRecord } from "./support/request-record.ts";

/*
 * The request log on PostgreSQL, shared by three real levity processes: every request of every
 * instance is in it once, with the instance that served it; `levity logs`, `levity usage` and
 * /levity/usage read it (through a gateway, and directly when none answers). PostgreSQL killed
 * mid-run: no client request fails, the instances say so, and the records they held are written
 * when it is back, none lost within the buffer's bound and none twice; past the bound, what was
 * dropped is counted. The schema is versioned, and an older one is migrated.
 */

const READY = postgresAvailable("postgres-request-log.test.ts");
const CLIENT_KEY = "sk-client-laptop-pg-0123456789";
const ADMIN_KEY = "sk-admin-pg-0123456789abcdef";

let pg: TestPostgres;
let sql: SQL;
let restartAfter: (() => Promise<void>) | undefined;
afterEach(async () => {
  await restartAfter?.();
  restartAfter = undefined;
});

beforeAll(async () => {
  if (!READY) return;
  pg = new TestPostgres();
  await pg.start();
  sql = new SQL(pg.url, { max: 2 });
  await sql`CREATE DATABASE small`;
  await sql`CREATE DATABASE old`;
  await sql`CREATE DATABASE replays`;
}, 60_000);
afterAll(async () => {
  if (!READY) return;
  await sql.close({ timeout: 0 });
  await pg.stop();
}, 30_000);

function databaseUrl(name: string): string {
  return pg.url.replace(/\/levity$/, `/${name}`);
}

function gatewayYaml(url: string, extra = ""): string {
  return `proxy:
  auth_mode: strict
  api_keys: [{ name: laptop, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  data_dir: "{{DATA_DIR}}"
  request_log: { url: "${url}", flush_ms: 20, timeout_ms: 1000${extra} }
upstreams:
  - { name: echo, protocol: echo }
`;
}

/** One chat request through the official SDK; its request id, as levity answered it. */
async function chat(origin: string, text: string): Promise<string> {
  const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${origin}/v1`, maxRetries: 0 });
  const { response } = await openai.chat.completions
    .create({ model: "echo", messages: [{ role: "user", content: text }] })
    .withResponse();
  return response.headers.get("x-request-id")!;
}

async function admin(origin: string, path: string) {
  const response = await fetch(`${origin}${path}`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** /healthz, which auth_mode: strict opens to client keys. */
async function health(origin: string): Promise<Record<string, any>> {
  const response = await fetch(`${origin}/healthz`, {
    headers: { authorization: `Bearer ${CLIENT_KEY}` },
  });
  return (await response.json()) as Record<string, any>;
}

async function metricsOf(origin: string): Promise<string> {
  return (
    await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  ).text();
}

/** The chat requests' records (a failed admin call, such as a 503 from /levity/logs, is logged too). */
async function storedIds(db: SQL): Promise<string[]> {
  return (
    await db`SELECT request_id FROM levity_requests WHERE route = '/v1/chat/completions'`
  ).map((r: { request_id: string }) => r.request_id);
}

const portOf = (origin: string) => new URL(origin).port;

describe.skipIf(!READY)("three instances, one request log on PostgreSQL", () => {
  let instances: Instances;
  const sent = new Map<string, string>(); // request id -> origin that served it

  beforeAll(async () => {
    if (!READY) return;
    instances = await startInstances(3, { gateway: gatewayYaml(pg.url) });
  }, 60_000);
  afterAll(async () => {
    await instances?.stop();
  }, 30_000);

  test("every request of every instance is stored once, with the instance that served it", async () => {
    for (let i = 0; i < 30; i++) {
      const origin = instances.all[i % 3]!.origin;
      sent.set(await chat(origin, `hello ${i}`), origin);
    }
    await waitUntil(
      "all 30 records in PostgreSQL",
      async () => (await storedIds(sql)).length >= 30,
    );
    const rows = await sql`SELECT request_id, instance FROM levity_requests`;
    expect(rows.map((r: { request_id: string }) => r.request_id).sort()).toEqual(
      [...sent.keys()].sort(),
    );
    for (const row of rows as { request_id: string; instance: string }[])
      expect(row.instance).toBe(`${hostname()}:${portOf(sent.get(row.request_id)!)}`);
    // The start-up block says where the log is (never a password: this URL has none to hide).
    expect(instances.all[0]!.output()).toContain(
      `log        the request log on PostgreSQL, ${pg.url}: shared by every instance`,
    );
    const [version] = await sql`SELECT version FROM levity_schema`;
    expect(version.version).toBe(SCHEMA_VERSION);
  }, 60_000);

  test("/levity/logs, /levity/usage (both shapes) and levity logs/usage read the shared log", async () => {
    const [a, b] = instances.all;
    // Any instance answers for all of them.
    const logs = await admin(b!.origin, "/levity/logs?limit=1000");
    expect(logs.status).toBe(200);
    expect(logs.body.requests.map((r: { requestId: string }) => r.requestId).sort()).toEqual(
      [...sent.keys()].sort(),
    );
    expect(new Set(logs.body.requests.map((r: { instance: string }) => r.instance)).size).toBe(3);
    const filtered = await admin(a!.origin, "/levity/logs?model=ech*&status=ok&limit=5");
    expect(filtered.body.requests).toHaveLength(5);
    expect((await admin(a!.origin, "/levity/logs?model=gpt*")).body.requests).toHaveLength(0);

    const byKey = await admin(a!.origin, "/levity/usage?by=key&since=1h");
    expect(byKey.status).toBe(200);
    expect(byKey.body.rows).toEqual([expect.objectContaining({ name: "laptop", requests: 30 })]);
    expect(byKey.body.total.requests).toBe(30);
    const daily = await admin(a!.origin, "/levity/usage?days=1");
    expect(
      daily.body.usage.reduce((sum: number, row: { requests: number }) => sum + row.requests, 0),
    ).toBe(30);

    const cli = await runLevity(["logs", "--config", a!.dir, "--port", portOf(a!.origin)]);
    expect(cli.code).toBe(0);
    const lines = cli.stdout.trim().split("\n");
    expect(lines).toHaveLength(30);
    expect(lines[0]).toContain(` on ${hostname()}:`);
    const usage = await runLevity([
      ...["usage", "--config", a!.dir, "--port", portOf(a!.origin)],
      ...["--by", "key", "--json"],
    ]);
    expect(usage.code).toBe(0);
    expect(JSON.parse(usage.stdout).total.requests).toBe(30);

    // No gateway answers: the CLI reads PostgreSQL itself, with the URL in gateway.yaml.
    const dead = String(freePort());
    const direct = await runLevity(["logs", "--config", a!.dir, "--port", dead, "--json"]);
    expect(direct.code).toBe(0);
    expect(direct.stderr).toContain("reading the request log on PostgreSQL");
    expect(direct.stdout.trim().split("\n")).toHaveLength(30);
    const directUsage = await runLevity([
      ...["usage", "--config", a!.dir, "--port", dead, "--by", "key", "--json"],
    ]);
    expect(directUsage.code).toBe(0);
    expect(JSON.parse(directUsage.stdout).total.requests).toBe(30);
  }, 60_000);

  test("PostgreSQL killed mid-run: no request fails, the outage is reported, and nothing is lost or doubled", async () => {
    await pg.kill();
    // Started again whatever this test finds, so that the next ones have their database.
    restartAfter = () => pg.start();
    const during: string[] = [];
    let failures = 0;
    for (let i = 0; i < 30; i++) {
      const origin = instances.all[i % 3]!.origin;
      try {
        const id = await chat(origin, `during the outage ${i}`);
        sent.set(id, origin);
        during.push(id);
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(0);
    expect(during).toHaveLength(30);
    for (const instance of instances.all) {
      const away = await waitUntil("healthz to report the request log away", async () => {
        const body = await health(instance.origin);
        return body.requestLog?.up === false && body;
      });
      expect(away).toMatchObject({ status: "ok", requestLog: { store: "postgres", up: false } });
      expect(away.requestLog.buffered).toBeGreaterThanOrEqual(10);
      const status = await admin(instance.origin, "/levity/status");
      expect(status.body.requestLog).toMatchObject({ store: "postgres", up: false, dropped: 0 });
      const metrics = await metricsOf(instance.origin);
      expect(metrics).toContain("levity_request_log_up 0\n");
      expect(metrics).toContain("levity_request_log_dropped_total 0\n");
      expect(metrics).toMatch(/levity_request_log_buffered \d+/);
      // A read of the log cannot be served: a 503 in levity's words, not a 500.
      const logs = await admin(instance.origin, "/levity/logs");
      expect(logs.status).toBe(503);
      expect(logs.body.error.message).toContain("does not answer");
      expect(instance.output()).toContain("request log: PostgreSQL at");
    }

    restartAfter = undefined;
    await pg.start();
    await waitUntil(
      "the buffered records written",
      async () => (await storedIds(sql).catch(() => [])).length >= 60,
      15_000,
    );
    const ids = await storedIds(sql);
    expect(ids.sort()).toEqual([...sent.keys()].sort());
    const [counts] =
      await sql`SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS d FROM levity_requests
      WHERE route = '/v1/chat/completions'`;
    expect(counts).toEqual({ n: 60, d: 60 });
    for (const instance of instances.all) {
      await waitUntil("healthz to report the log back", async () => {
        const body = await health(instance.origin);
        return body.requestLog.up === true && body.requestLog.buffered === 0;
      });
      expect(instance.output()).toContain("answers again");
    }
  }, 60_000);
  test("PostgreSQL hung: calls time out, no request waits for it, and what was held is written once", async () => {
    restartAfter = async () => pg.resume();
    pg.pause();
    const during: string[] = [];
    for (let i = 0; i < 15; i++) {
      const origin = instances.all[i % 3]!.origin;
      const started = performance.now();
      const id = await chat(origin, `while it hangs ${i}`);
      // Nothing on the request path waits for the database (timeout_ms is 1000 here).
      expect(performance.now() - started).toBeLessThan(900);
      sent.set(id, origin);
      during.push(id);
    }
    for (const instance of instances.all)
      await waitUntil(
        "the hung server's deadline to pass",
        async () => (await health(instance.origin)).requestLog.up === false,
      );
    expect(instances.all[0]!.output()).toContain("took longer than 1000 ms");
    restartAfter = undefined;
    pg.resume();
    await waitUntil(
      "the held records written",
      async () => (await storedIds(sql).catch(() => [])).length >= sent.size,
      15_000,
    );
    // A batch the hung server took after all is written again when it answers: still once.
    const [counts] = await sql`SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS d
      FROM levity_requests WHERE route = '/v1/chat/completions'`;
    expect(counts).toEqual({ n: sent.size, d: sent.size });
    expect((await storedIds(sql)).sort()).toEqual([...sent.keys()].sort());
  }, 60_000);
});

/**
 * The monitor page, signed in, in headless Chromium (when there is one): the rest of the page
 * shows while the log cannot be read, and the Request log card says what the log's state is.
 */
async function expectMonitorCard(origin: string, text: string): Promise<void> {
  const browserPath = chromiumPath();
  if (!browserPath) return;
  const profile = tempDir("levity-chromium-");
  const browser = await launchChromium(browserPath, profile);
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/ui`, { waitUntil: "load" });
    await page.getByLabel("Admin key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#cards [data-card='Status'] .value").getByText("ok").waitFor();
    await page.locator("#cards [data-card='Request log'] .value").getByText(text).waitFor();
    expect(await page.locator("#status-line").textContent()).not.toContain("not answering");
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

describe.skipIf(!READY)("the buffer's bound", () => {
  test("past buffer_records, records are dropped and counted; those within it are written", async () => {
    const url = databaseUrl("small");
    const instances = await startInstances(1, {
      gateway: gatewayYaml(url, ", buffer_records: 5"),
    });
    const small = new SQL(url, { max: 1 });
    try {
      const [one] = instances.all;
      await chat(one!.origin, "before");
      await waitUntil(
        "the first record",
        async () => (await storedIds(small).catch(() => [])).length === 1,
      );
      await pg.kill();
      restartAfter = () => pg.start();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await chat(one!.origin, `outage ${i}`));
      expect(ids).toHaveLength(12);
      await waitUntil(
        "the instance to see PostgreSQL away",
        async () => (await health(one!.origin)).requestLog.up === false,
      );
      // The log's writer runs on its own thread: the last records answered may still wait on the
      // serving thread (counted as buffered) for up to flush_ms before the bound is applied to them.
      const metrics = await waitUntil("the outage's last record given to the writer", async () => {
        const text = await metricsOf(one!.origin);
        return /^levity_request_log_dropped_total 7$/m.test(text) && text;
      });
      expect(metrics).toContain("levity_request_log_dropped_total 7\n");
      expect(metrics).toContain("levity_request_log_buffered 5\n");
      expect((await admin(one!.origin, "/levity/status")).body.requestLog).toMatchObject({
        up: false,
        pending: 5,
        dropped: 7,
        bufferLimit: 5,
      });
      expect(one!.output()).toContain("the buffer is full");
      await expectMonitorCard(one!.origin, "PostgreSQL away · 5 waiting · 7 dropped");
      restartAfter = undefined;
      await pg.start();
      await waitUntil(
        "the five buffered records written",
        async () => (await storedIds(small).catch(() => [])).length === 6,
        15_000,
      );
      // The first five of the outage were held and written; the other seven were dropped.
      const stored = new Set(await storedIds(small));
      expect(ids.filter((id) => stored.has(id))).toEqual(ids.slice(0, 5));
    } finally {
      await small.close({ timeout: 0 });
      await instances.stop();
    }
  }, 60_000);
});

describe.skipIf(!READY)("what is stored", () => {
  test("bodies with quotes, backslashes, line breaks and non-ASCII text are stored exactly", async () => {
    const url = databaseUrl("bodies");
    await sql`CREATE DATABASE bodies`;
    const bodies = new SQL(url, { max: 1 });
    const instances = await startInstances(1, { gateway: gatewayYaml(url, ", log_bodies: true") });
    try {
      const text = 'say "hi" \\ back\nslash\t\u2028 ünïcödé 日本語 🙂 {"json": [1, 2]}';
      const id = await chat(instances.all[0]!.origin, text);
      // The table is made with the first write.
      await waitUntil(
        "the record in PostgreSQL",
        async () => (await storedIds(bodies).catch(() => [])).length === 1,
      );
      const [row] =
        await bodies`SELECT request_id, request_body, response_body, stream, latency_ms FROM levity_requests`;
      expect(row.request_id).toBe(id);
      expect(JSON.parse(row.request_body).messages[0].content).toBe(text);
      expect(row.response_body).toContain("ünïcödé 日本語 🙂");
      expect(row.stream).toBe(false);
      expect(typeof row.latency_ms).toBe("number");
    } finally {
      await instances.stop();
      await bodies.close({ timeout: 0 });
    }
  }, 60_000);
});

describe.skipIf(!READY)("what a client sends cannot stop the log", () => {
  test("a model name with NUL, or with half an emoji, is stored with a replacement character; the log stays up", async () => {
    const url = databaseUrl("oddtext");
    await sql`CREATE DATABASE oddtext`;
    const odd = new SQL(url, { max: 1 });
    const instances = await startInstances(1, { gateway: gatewayYaml(url) });
    try {
      const origin = instances.all[0]!.origin;
      // Raw JSON: the escapes are what a client can send; the SDKs would refuse to make them.
      const send = (model: string) =>
        fetch(`${origin}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
          body: `{"model": ${model}, "messages": [{"role": "user", "content": "hi"}]}`,
        }).then((r) => r.headers.get("x-request-id")!);
      const ids = [
        await send('"nul\\u0000model"'),
        await send('"half\\ud83dmodel"'),
        // 199 letters and an emoji: the record's 200-character cut falls inside the emoji.
        await send(`"${"a".repeat(199)}\\ud83d\\ude00"`),
        await chat(origin, "after them"),
      ];
      await waitUntil(
        "all four records in PostgreSQL",
        async () =>
          (await odd`SELECT count(*) AS n FROM levity_requests`.catch(() => [{ n: 0 }]))[0].n >= 4,
      );
      const rows = await odd`SELECT request_id, requested_model FROM levity_requests`;
      const model = (id: string) =>
        rows.find((r: { request_id: string }) => r.request_id === id)?.requested_model;
      expect(model(ids[0]!)).toBe("nul\uFFFDmodel");
      expect(model(ids[1]!)).toBe("half\uFFFDmodel");
      expect(model(ids[2]!)).toBe("a".repeat(199));
      expect(model(ids[3]!)).toBe("echo");
      expect((await health(origin)).requestLog).toMatchObject({ up: true, buffered: 0 });
    } finally {
      await instances.stop();
      await odd.close({ timeout: 0 });
    }
  }, 60_000);
});

describe.skipIf(!READY)("a record PostgreSQL refuses", () => {
  test("is dropped and said; the others of its batch are stored and the log stays up", async () => {
    const url = databaseUrl("refused");
    await sql`CREATE DATABASE refused`;
    const errors: string[] = [];
    const log = openPostgresRequestLog({
      url,
      flushMs: 20,
      retentionMs: 86_400_000,
      timeoutMs: 2000,
      bufferRecords: 1000,
      instance: () => "test",
      log: { info() {}, warn() {}, error: (m: string) => errors.push(m) },
    });
    const record = (id: string, status: number): RequestRecord => requestRecord(id, { status });
    try {
      // NaN travels as JSON null into a NOT NULL column: the server refuses that record alone.
      log.add(record("req_good_1", 200));
      log.add(record("req_refused", Number.NaN));
      log.add(record("req_good_2", 200));
      await waitUntil("the good records stored", async () => {
        const rows = await log.query({});
        return rows.length === 2;
      });
      expect((await log.query({})).map((r) => r.requestId).sort()).toEqual([
        "req_good_1",
        "req_good_2",
      ]);
      expect(errors.join("\n")).toContain("record req_refused could not be stored");
      expect(log.stats()).toMatchObject({ up: true, pending: 0 });
    } finally {
      await log.close();
    }
  }, 30_000);
});

describe.skipIf(!READY)("stopping, and a newer schema", () => {
  test("a stop writes what the buffer holds; a schema newer than levity's is written to, with a warning", async () => {
    const url = databaseUrl("later");
    await sql`CREATE DATABASE later`;
    const later = new SQL(url, { max: 1 });
    try {
      await migrate(later);
      await later`UPDATE levity_schema SET version = 99`;
      // flush_ms at its largest: the records are still in the buffer when the stop comes.
      const instances = await startInstances(1, {
        gateway: gatewayYaml(url).replace("flush_ms: 20", "flush_ms: 60000"),
      });
      const [one] = instances.all;
      const ids = [await chat(one!.origin, "one"), await chat(one!.origin, "two")];
      expect((await health(one!.origin)).requestLog.buffered).toBe(2);
      expect(await storedIds(later)).toEqual([]);
      await instances.stop();
      expect((await storedIds(later)).sort()).toEqual(ids.sort());
      // Written after the server stopped listening, they still name the port it listened on.
      const served = await later`SELECT DISTINCT instance FROM levity_requests`;
      expect(served).toEqual([{ instance: `${hostname()}:${portOf(one!.origin)}` }]);
      expect(one!.output()).toContain(
        `has schema version 99, newer than this levity's ${SCHEMA_VERSION}`,
      );
    } finally {
      await later.close({ timeout: 0 });
    }
  }, 60_000);
});

describe.skipIf(!READY)("the schema", () => {
  test("a database at version 1 is migrated to the current version, its records kept, the aged ones trimmed", async () => {
    const url = databaseUrl("old");
    const old = new SQL(url, { max: 1 });
    try {
      expect(await migrate(old, 1)).toBe(0);
      await old`INSERT INTO levity_requests (request_id, time, method, route, unmatched, attempts, status, stream,
          latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
        VALUES ('req_from_version_1', ${Date.now()}, 'POST', '/v1/chat/completions', false, 1, 200, false,
          5, 3, 10, 2, 0, 0)`;
      // Three days old: past retention_days 1, so the first instance to start deletes it.
      await old`INSERT INTO levity_requests (request_id, time, method, route, unmatched, attempts, status, stream,
          latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
        VALUES ('req_three_days_old', ${Date.now() - 3 * 86_400_000}, 'POST', '/v1/chat/completions', false, 1, 200, false,
          5, 3, 10, 2, 0, 0)`;
      expect((await old`SELECT version FROM levity_schema`)[0].version).toBe(1);

      // With a password (trust authentication ignores it): it never appears in what levity says.
      const withPassword = url.replace("levity@", "levity:pw-not-for-logs-4711@");
      const instances = await startInstances(1, {
        gateway: gatewayYaml(withPassword, ", retention_days: 1"),
      });
      try {
        const [one] = instances.all;
        const id = await chat(one!.origin, "after the migration");
        await waitUntil("the new record", async () => (await storedIds(old)).includes(id));
        // Trimmed beside the first write, not before it.
        await waitUntil(
          "the aged record deleted",
          async () => !(await storedIds(old)).includes("req_three_days_old"),
        );
        expect((await old`SELECT version FROM levity_schema`)[0].version).toBe(SCHEMA_VERSION);
        const logs = await admin(one!.origin, "/levity/logs");
        const byId = new Map(
          logs.body.requests.map((r: { requestId: string }) => [r.requestId, r]),
        );
        expect(byId.get("req_from_version_1")).not.toHaveProperty("instance");
        expect(byId.get(id)).toMatchObject({ instance: `${hostname()}:${portOf(one!.origin)}` });
        expect(one!.output()).toContain(`schema migrated from version 1 to ${SCHEMA_VERSION}`);
        expect(byId.has("req_three_days_old")).toBe(false);
        expect(one!.output()).toContain("levity:***@");
        expect(one!.output()).not.toContain("pw-not-for-logs-4711");
      } finally {
        await instances.stop();
      }
    } finally {
      await old.close({ timeout: 0 });
    }
  }, 60_000);
});

describe.skipIf(!READY)("a replay on a shared log", () => {
  test("levity replay on one instance finds a request another served; its record carries replay_of", async () => {
    const url = databaseUrl("replays");
    const instances = await startInstances(2, {
      gateway: gatewayYaml(url, ", log_bodies: true"),
    });
    const replays = new SQL(url, { max: 1 });
    try {
      const [one, two] = instances.all;
      const id = await chat(one!.origin, "replay me");
      // The table is made with the first write: until then the query finds no table.
      await waitUntil("the original stored", async () =>
        (await storedIds(replays).catch((): string[] => [])).includes(id),
      );
      const run = await runLevity([
        "replay",
        id,
        "--config",
        two!.dir,
        "--port",
        portOf(two!.origin),
      ]);
      expect(run.code).toBe(0);
      const replayId = /as (req_\w+): 200 from echo/.exec(run.stdout)![1]!;
      const row = await waitUntil("the replay stored", async () => {
        const rows =
          await replays`SELECT replay_of, client_key, instance FROM levity_requests WHERE request_id = ${replayId}`;
        return rows[0] as
          | { replay_of: string; client_key: string | null; instance: string }
          | undefined;
      });
      expect(row).toEqual({
        replay_of: id,
        client_key: null,
        instance: `${hostname()}:${portOf(two!.origin)}`,
      });
      const listed = await runLevity(["logs", "--config", one!.dir, "--port", portOf(one!.origin)]);
      expect(listed.stdout).toContain(`replay of ${id}`);
    } finally {
      await replays.close({ timeout: 0 });
      await instances.stop();
    }
  }, 60_000);
});

describe("proxy.request_log in gateway.yaml", () => {
  const load = (requestLog: string) => {
    const dir = tempDir();
    try {
      writeConfig(dir, { gateway: `proxy:\n  request_log: ${requestLog}\n` });
      return loadConfig({ dir, env: {} }).proxy.requestLog;
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.map(formatProblem).join("\n");
      throw error;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("a postgres:// URL is short for { url }, with every other setting at its default", () => {
    expect(load("postgres://levity@db.internal:5432/levity")).toMatchObject({
      url: "postgres://levity@db.internal:5432/levity",
      enabled: true,
      flushMs: 1000,
      retentionMs: 30 * 86_400_000,
      timeoutMs: 5000,
      bufferRecords: 50_000,
    });
  });

  test("the long form takes url, timeout_ms and buffer_records beside the settings it had", () => {
    expect(
      load("{ url: postgresql://l@h/db, timeout_ms: 800, buffer_records: 1000, flush_ms: 50 }"),
    ).toMatchObject({
      url: "postgresql://l@h/db",
      timeoutMs: 800,
      bufferRecords: 1000,
      flushMs: 50,
    });
    // Without a url, requests.db as before.
    expect(load("{ retention_days: 7 }")).toMatchObject({
      url: undefined,
      retentionMs: 7 * 86_400_000,
    });
  });

  test("gateway.example.yaml's request_log lines, uncommented, are a valid configuration", () => {
    const example = readFileSync(join(REPO, "gateway.example.yaml"), "utf8");
    const uncommented = example.replace(
      /^ {4}# (url|timeout_ms|buffer_records): /gm,
      (_, key: string) => `    ${key}: `,
    );
    expect(uncommented).not.toBe(example);
    const dir = tempDir();
    try {
      writeConfig(dir, { gateway: uncommented });
      const env = {
        LEVITY_API_KEY: "sk-example-1234",
        LEVITY_LAPTOP_KEY: "sk-example-5678",
        GEMINI_KEY_ALICE: "g",
        GEMINI_KEY_BOB: "b",
        OPENAI_API_KEY: "o",
        ANTHROPIC_API_KEY: "a",
        PGPASSWORD: "pg-example",
      };
      expect(loadConfig({ dir, env }).proxy.requestLog).toMatchObject({
        url: "postgres://levity:pg-example@db.internal:5432/levity",
        timeoutMs: 5000,
        bufferRecords: 50_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a wrong URL or setting is named, with what it must be", () => {
    expect(load("mysql://x@y/z")).toContain("proxy.request_log.url: must be a postgres:// URL");
    expect(load("{ url: http://x }")).toContain("proxy.request_log.url: must be a postgres:// URL");
    expect(load("{ buffer_records: 0 }")).toContain(
      "proxy.request_log.buffer_records: must be at least 1",
    );
    expect(load("{ timeout_ms: 5 }")).toContain(
      "proxy.request_log.timeout_ms: must be at least 100",
    );
    expect(load("3")).toContain("proxy.request_log: must be a postgres:// URL, or a map");
  });
});
