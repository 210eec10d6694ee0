import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import OpenAI from "openai";
import { fakeOpenAI } from "./support/fake-openai.ts";
import {
  BUN,
  MAIN,
  restartGateway,
  startGateway,
  tempDir,
  upstreamsYaml,
  writeConfig,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { runLevity, serveLevity, spawnLevity } from "./support/process.ts";
import { readRequestDb, requestDbBytes } from "./support/request-db.ts";
import { waitUntil } from "./support/wait.ts";

// The request log: what each request records, when it reaches the disk, what survives a kill -9,
// how it is trimmed, and `levity logs`.

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});

const CLIENT_KEY = "sk-client-laptop-0123456789";
const ADMIN_KEY = "sk-admin-0123456789abcdef";
const ACCOUNT_A = "sk-account-a-secret-value-1";
const ACCOUNT_B = "sk-account-b-secret-value-2";

function openaiReply(
  text: string,
  usage: { prompt: number; completion: number; cached: number; reasoning: number },
) {
  return JSON.stringify({
    id: "chatcmpl-logged",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-real",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: text, refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion,
      prompt_tokens_details: { cached_tokens: usage.cached },
      completion_tokens_details: { reasoning_tokens: usage.reasoning },
    },
  });
}

function gatewayYaml(upstreamUrl: string, requestLog: string): string {
  return `proxy:
  auth_mode: strict
  api_keys: [{ name: laptop, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  cooldown_wait: 0
  request_log:
${requestLog}
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${upstreamUrl}/v1`,
    accounts: [
      { name: "a", key: ACCOUNT_A },
      { name: "b", key: ACCOUNT_B },
    ],
  },
])}`;
}

function setup(requestLog = "    flush_ms: 20\n") {
  const oa = fakeOpenAI([ACCOUNT_A, ACCOUNT_B]);
  const gw = startGateway({
    gateway: gatewayYaml(oa.url, requestLog),
    mappings: "exact:\n  fast: oa/gpt-4o-real\n",
  });
  cleanup.push(
    () => oa.stop(),
    () => gw.stop(),
  );
  const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  const logs = async (query = "") => {
    const response = await fetch(`${gw.origin}/levity/logs${query}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return { status: response.status, body: await bodyOf(response) };
  };
  return { oa, gw, openai, logs, dataDir: join(gw.dir, "data") };
}

describe("every request is recorded with what it did", () => {
  test("client, route, models, account, attempts, status, timing, the four token kinds, errors; never a key", async () => {
    const { oa, gw, openai, logs, dataDir } = setup();
    // Account a fails first (503); b answers with cached and reasoning tokens.
    oa.replyOnce(
      {
        status: 503,
        body: JSON.stringify({
          error: { message: "overloaded", type: "server_error", param: null, code: null },
        }),
      },
      ACCOUNT_A,
    );
    oa.replyOnce(
      {
        status: 200,
        body: openaiReply("hello", { prompt: 120, completion: 30, cached: 40, reasoning: 7 }),
        headers: { "content-type": "application/json" },
      },
      ACCOUNT_B,
    );
    const answer = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(answer.choices[0]!.message.content).toBe("hello");

    // A stream, with its usage in the last chunk.
    const stream = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "stream please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? "";
    expect(streamed.length).toBeGreaterThan(0);

    // A request levity refuses, and one with a wrong key.
    const bad = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ messages: [] }),
    });
    expect(bad.status).toBe(400);
    const refused = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": "sk-wrong-key-9999999" },
      body: "{}",
    });
    expect(refused.status).toBe(401);
    // Not traffic: a health check and the admin calls below.
    expect(
      (await fetch(`${gw.origin}/healthz`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } }))
        .status,
    ).toBe(200);

    const { status, body } = await logs();
    expect(status).toBe(200);
    const records = body.requests as any[];
    expect(records.map((r) => r.status)).toEqual([401, 400, 200, 200]);
    const [unauthorized, invalid, streamedRecord, first] = records;

    expect(first).toMatchObject({
      clientKey: "laptop",
      method: "POST",
      route: "/v1/chat/completions",
      dialect: "openai-chat",
      requestedModel: "fast",
      mappedModel: "gpt-4o-real",
      upstream: "oa",
      account: "b",
      attempts: 2,
      status: 200,
      stream: false,
      inputTokens: 120,
      outputTokens: 30,
      cachedTokens: 40,
      reasoningTokens: 7,
    });
    expect(first.error).toBeUndefined();
    expect(first.requestId).toMatch(/^req_/);
    expect(first.latencyMs).toBeGreaterThan(0);
    expect(first.ttfbMs).toBeLessThanOrEqual(first.latencyMs);
    expect(first.requestBody).toBeUndefined();

    // a is cooling after its 503, so b served the stream too; its usage came in the stream's last chunk.
    expect(streamedRecord).toMatchObject({
      stream: true,
      account: "b",
      attempts: 1,
      status: 200,
      requestedModel: "fast",
      mappedModel: "gpt-4o-real",
    });
    expect(streamedRecord.inputTokens).toBeGreaterThan(0);
    expect(streamedRecord.outputTokens).toBeGreaterThan(0);

    expect(invalid).toMatchObject({
      status: 400,
      clientKey: "laptop",
      attempts: 0,
      error: "model is required: name the model to use.",
    });
    expect(unauthorized).toMatchObject({
      status: 401,
      route: "/v1/messages",
      dialect: "anthropic-messages",
    });
    expect(unauthorized.clientKey).toBeUndefined();
    expect(unauthorized.error).toContain("not one of this levity gateway's client keys");

    // The same rows are on disk, and no key is anywhere in the files.
    const onDisk = readRequestDb(dataDir);
    expect(onDisk.rows.map((r) => r.request_id)).toEqual(records.map((r) => r.requestId).reverse());
    const bytes = requestDbBytes(dataDir);
    for (const secret of [CLIENT_KEY, ADMIN_KEY, ACCOUNT_A, ACCOUNT_B, "sk-wrong-key-9999999"])
      expect(bytes.includes(secret)).toBe(false);
  });

  test("a failure after every attempt records the upstream's reason; a key the upstream quotes is not recorded", async () => {
    const { oa, openai, logs } = setup();
    const quoting = (key: string) => ({
      status: 500,
      body: JSON.stringify({
        error: {
          message: `internal error for key ${key}`,
          type: "server_error",
          param: null,
          code: null,
        },
      }),
    });
    oa.replyOnce(quoting(ACCOUNT_A), ACCOUNT_A);
    oa.replyOnce(quoting(ACCOUNT_B), ACCOUNT_B);
    const failed = await openai.chat.completions
      .create({ model: "fast", messages: [{ role: "user", content: "hi" }] })
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({ status: 500 });
    const [record] = (await logs()).body.requests;
    expect(record).toMatchObject({ status: 500, attempts: 2, upstream: "oa" });
    expect(record.error).toContain("internal error for key [account key]");
    expect(JSON.stringify(record)).not.toContain(ACCOUNT_B);
  });

  test("filters: model (name or glob, requested or mapped), account, status, since; bad filters are 400", async () => {
    const { gw, openai, logs } = setup();
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "1" }],
    });
    await openai.chat.completions.create({
      model: "gpt-4o-real",
      messages: [{ role: "user", content: "2" }],
    });
    await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: "{not json",
    });

    const count = async (query: string) => (await logs(query)).body.requests.length;
    expect(await count("")).toBe(3);
    expect(await count("?model=fast")).toBe(1);
    expect(await count("?model=gpt-4o-*")).toBe(2);
    expect(await count("?account=oa/a")).toBe(1);
    expect(await count("?account=b")).toBe(1);
    expect(await count("?status=4xx")).toBe(1);
    expect(await count("?status=200")).toBe(2);
    expect(await count("?status=error")).toBe(1);
    expect(await count("?since=1m")).toBe(3);
    expect(await count("?since=2099-01-01T00:00:00Z")).toBe(0);
    expect(await count("?limit=2")).toBe(2);
    const newest = (await logs("?limit=1")).body.requests[0];
    expect(await count(`?after=${newest.seq}`)).toBe(0);
    expect(await count(`?after=${newest.seq - 2}`)).toBe(2);

    for (const query of ["?status=teapot", "?since=yesterday-ish", "?limit=-1"]) {
      const { status, body } = await logs(query);
      expect(status).toBe(400);
      expect(body.error.message).toMatch(/must be/);
    }
  });

  test("with log_bodies: true the request and the answer are kept, each cut at body_max_kb", async () => {
    const { openai, logs } = setup("    flush_ms: 20\n    log_bodies: true\n    body_max_kb: 1\n");
    const long = "x".repeat(3000);
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: long }],
    });
    const stream = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "short" }],
      stream: true,
    });
    for await (const _ of stream);
    const [streamed, plain] = (await logs()).body.requests;
    expect(plain.requestBody.startsWith('{"model":"fast"')).toBe(true);
    expect(plain.requestBody).toMatch(/… \[\d+ more characters\]$/);
    expect(plain.requestBody.length).toBeLessThan(1100);
    // The echo upstream repeats the 3,000 characters: the answer is cut too.
    expect(plain.responseBody.startsWith('{"id":"chatcmpl-')).toBe(true);
    expect(plain.responseBody).toMatch(/… \[\d+ more bytes\]$/);
    expect(streamed.requestBody).toContain('"short"');
    expect(streamed.responseBody).toMatch(
      /^data: \{"id":"chatcmpl-fake1","object":"chat.completion.chunk"/,
    );
    expect(streamed.responseBody).toMatch(/… \[\d+ more bytes\]$/);
  });
});

describe("writes are batched off the request path", () => {
  test("records wait in memory until their batch is due; a query writes them first", async () => {
    const { openai, logs, gw, dataDir } = setup("    flush_ms: 60000\n");
    for (let i = 0; i < 5; i++)
      await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `${i}` }],
      });
    // Answered, but nothing written yet: the batch is not due.
    expect(readRequestDb(dataDir).rows).toHaveLength(0);
    const status = await bodyOf(
      await fetch(`${gw.origin}/levity/status`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      }),
    );
    expect(status.requestLog).toMatchObject({ enabled: true, records: 0, pending: 5 });
    expect((await logs()).body.requests).toHaveLength(5);
    expect(readRequestDb(dataDir).rows).toHaveLength(5);
  });

  test("a SIGTERM loses nothing: what the log's thread still holds is written before the process exits", async () => {
    const oa = fakeOpenAI([ACCOUNT_A, ACCOUNT_B]);
    cleanup.push(() => oa.stop());
    const dir = tempDir();
    // A flush interval longer than the test: only the stop can write these records.
    writeConfig(dir, { gateway: gatewayYaml(oa.url, "    flush_ms: 60000\n") });
    const gateway = await serveLevity(["--config", dir]);
    cleanup.push(() => gateway.kill("SIGKILL"));
    // 250 records: more than one hand-over to the log's thread (100 each) and some left over.
    for (let batch = 0; batch < 25; batch++)
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fetch(`${gateway.origin}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${CLIENT_KEY}` },
            body: JSON.stringify({
              model: "gpt-4o-real",
              messages: [{ role: "user", content: `q${batch * 10 + i}` }],
            }),
          }).then((r) => r.text()),
        ),
      );
    gateway.kill("SIGTERM");
    expect(await gateway.exited).toBe(0);
    const after = readRequestDb(join(dir, "data"));
    expect(after.integrity).toBe("ok");
    expect(after.rows).toHaveLength(250);
  });

  test("a kill -9 loses at most the batch not yet written; the log opens cleanly and keeps recording", async () => {
    const oa = fakeOpenAI([ACCOUNT_A, ACCOUNT_B]);
    cleanup.push(() => oa.stop());
    const dir = tempDir();
    writeConfig(dir, { gateway: gatewayYaml(oa.url, "    flush_ms: 50\n") });
    const dataDir = join(dir, "data");
    const ask = (origin: string, n: number) =>
      fetch(`${origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify({
          model: "gpt-4o-real",
          messages: [{ role: "user", content: `q${n}` }],
        }),
      }).then((r) => r.text());

    const first = await serveLevity(["--config", dir]);
    cleanup.push(() => first.kill("SIGKILL"));
    for (let i = 0; i < 20; i++) await ask(first.origin, i);
    await waitUntil(
      "the first 20 records on disk",
      () => readRequestDb(dataDir).rows.length === 20,
    );
    // Five more, and the process dies before their batch is due.
    await Promise.all([0, 1, 2, 3, 4].map((i) => ask(first.origin, 100 + i)));
    first.kill("SIGKILL");
    expect(await first.exited).not.toBe(0);

    const after = readRequestDb(dataDir);
    expect(after.integrity).toBe("ok");
    expect(after.rows.length).toBeGreaterThanOrEqual(20);
    expect(after.rows.length).toBeLessThanOrEqual(25);

    const second = await serveLevity(["--config", dir]);
    cleanup.push(() => second.kill("SIGKILL"));
    await ask(second.origin, 200);
    const logged = await bodyOf(
      await fetch(`${second.origin}/levity/logs?limit=1`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      }),
    );
    expect(logged.requests[0].seq).toBeGreaterThan(after.rows.at(-1).seq);
    expect(readRequestDb(dataDir).rows.length).toBe(after.rows.length + 1);
  });
});

describe("retention", () => {
  test("records older than retention_days are deleted when levity starts", async () => {
    const { gw, openai, dataDir } = setup("    flush_ms: 20\n    retention_days: 30\n");
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "recent" }],
    });
    await gw.server.stop(1000);
    const db = new Database(join(dataDir, "requests.db"));
    const old = Date.now() - 40 * 86_400_000;
    db.prepare(
      "INSERT INTO requests (time, request_id, method, route, unmatched, attempts, status, stream, latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens) VALUES (?, 'req_old', 'POST', '/v1/chat/completions', 0, 1, 200, 0, 1, 1, 0, 0, 0, 0)",
    ).run(old);
    db.close();
    expect(readRequestDb(dataDir).rows.map((r) => r.request_id)).toContain("req_old");

    const restarted = await restartGateway(gw);
    cleanup.push(() => restarted.stop());
    const ids = readRequestDb(dataDir).rows.map((r) => r.request_id);
    expect(ids).not.toContain("req_old");
    expect(ids).toHaveLength(1);
  });

  test("past max_mb the oldest records go first, and the file stays near the limit", async () => {
    const { gw, dataDir } = setup(
      "    flush_ms: 20\n    log_bodies: true\n    body_max_kb: 4\n    max_mb: 0.2\n",
    );
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) {
      const response = await fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify({
          model: "fast",
          messages: [{ role: "user", content: `${i} ${"y".repeat(3500)}` }],
        }),
      });
      ids.push(response.headers.get("x-request-id")!);
      await response.text();
    }
    // A query writes what is buffered, so the disk holds every record the log keeps.
    await fetch(`${gw.origin}/levity/logs?limit=1`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const status = await bodyOf(
      await fetch(`${gw.origin}/levity/status`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      }),
    );
    const rows = readRequestDb(dataDir).rows.map((r) => r.request_id);
    // About 7 KB a record: 150 of them are 1 MB, five times the limit.
    expect(rows.length).toBeLessThan(100);
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.at(-1)).toBe(ids.at(-1));
    expect(rows).not.toContain(ids[0]);
    expect(rows).toEqual(ids.slice(ids.length - rows.length));
    expect(status.requestLog.bytes).toBeLessThanOrEqual(0.2 * 1024 * 1024 + 64 * 1024);
    // The trimmed pages go back to the disk rather than wait in the file for reuse.
    const file = new Database(join(dataDir, "requests.db"), { readonly: true });
    try {
      const vacuum = file.query<{ auto_vacuum: number }, []>("PRAGMA auto_vacuum").get()!;
      expect(vacuum.auto_vacuum).toBe(2);
      const free = file.query<{ freelist_count: number }, []>("PRAGMA freelist_count").get()!;
      expect(free.freelist_count).toBe(0);
    } finally {
      file.close();
    }
  });

  test("request_log.enabled: false records nothing", async () => {
    const { openai, logs, dataDir } = setup("    enabled: false\n");
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
    });
    expect((await logs()).body.requests).toHaveLength(0);
    expect(readRequestDb(dataDir).rows).toHaveLength(0);
  });
});

describe("levity logs", () => {
  test("--json into a slow pipe: every record arrives whole, none cut at exit", async () => {
    const { gw } = setup();
    const refused = () =>
      fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify({ messages: [] }),
      }).then((r) => r.text());
    for (let i = 0; i < 300; i++) await refused();
    const port = new URL(gw.origin).port;
    // The reader starts late, so levity's writes wait in the pipe (64 KB) when it is done: a
    // process that exits then loses them. The pause only makes the loss visible; it decides nothing.
    const piped = Bun.spawn(
      [
        "sh",
        "-c",
        '"$0" "$1" logs --config "$2" --port "$3" --json --limit 300 | { sleep 0.5; cat; }',
        BUN,
        MAIN,
        gw.dir,
        port,
      ],
      { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", HOME: gw.dir } },
    );
    const [out, code] = await Promise.all([new Response(piped.stdout).text(), piped.exited]);
    expect(code).toBe(0);
    expect(out.length).toBeGreaterThan(65_536);
    const records = out
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(records).toHaveLength(300);
  });

  test("prints recent requests with their fields, filters on the gateway, --json, and --follow", async () => {
    const { gw, openai } = setup();
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
    });
    await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ messages: [] }),
    });
    const port = new URL(gw.origin).port;

    const all = await runLevity(["logs", "--config", gw.dir, "--port", port]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\S+Z {2}200 {2}POST \/v1\/chat\/completions {2}fast -> gpt-4o-real {2}oa\/a {2}1 attempt {2}\d+ ms \(first byte \d+ ms\) {2}\d+ in, \d+ out {2}key laptop {2}req_/,
    );
    expect(lines[1]).toMatch(/ 400 {2}POST \/v1\/chat\/completions {2}- {2}- {2}0 attempts/);
    expect(lines[2]).toBe("    error: model is required: name the model to use.");

    const errorsOnly = await runLevity([
      "logs",
      "--config",
      gw.dir,
      "--port",
      port,
      "--status",
      "4xx",
      "--json",
    ]);
    const parsed = errorsOnly.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(parsed.map((r) => r.status)).toEqual([400]);

    const bad = await runLevity([
      "logs",
      "--config",
      gw.dir,
      "--port",
      port,
      "--since",
      "whenever",
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("since must be a duration");

    const follower = spawnLevity([
      "logs",
      "--config",
      gw.dir,
      "--port",
      port,
      "--follow",
      "--model",
      "fast",
    ]);
    cleanup.push(() => follower.kill("SIGKILL"));
    await follower.stdout.waitFor(/fast -> gpt-4o-real/);
    const from = follower.stdout.text.length;
    await openai.chat.completions.create({
      model: "gpt-4o-real",
      messages: [{ role: "user", content: "not followed" }],
    });
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "followed" }],
    });
    const line = await follower.stdout.waitFor(/\n?(.*fast -> gpt-4o-real.*)\n/, from);
    expect(line[1]).toContain("key laptop");
    expect(follower.stdout.text.slice(from)).not.toContain("  gpt-4o-real  ");
    follower.kill("SIGINT");
    expect(await follower.exited).toBe(0);
  });
});
