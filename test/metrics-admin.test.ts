import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { Counter, MAX_SERIES } from "../src/observe/prometheus.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import { startGateway, upstreamsYaml } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { histogramSeries, parseMetrics, sample } from "./support/prometheus.ts";
import { runLevity } from "./support/process.ts";

// GET /metrics, checked with an independent parser against the traffic the test sent, and the
// admin surface under /levity/ with its auth.

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});

const CLIENT_KEY = "sk-client-metrics-0123456789";
const ADMIN_KEY = "sk-admin-metrics-0123456789";
const KEYS = { a: "sk-account-a-metrics-11111", b: "sk-account-b-metrics-22222" };

function setup(proxyExtra = "") {
  const oa = fakeOpenAI([KEYS.a, KEYS.b]);
  const gw = startGateway({
    gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: ci, key: ${CLIENT_KEY} }]
  admin_key: ${ADMIN_KEY}
  cooldown_wait: 0
${proxyExtra}${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    accounts: [
      { name: "a", key: KEYS.a },
      { name: "b", key: KEYS.b },
    ],
  },
])}`,
    mappings: "exact:\n  fast: oa/gpt-4o-real\n",
  });
  cleanup.push(
    () => oa.stop(),
    () => gw.stop(),
  );
  const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  const adminCall = async (path: string, init: RequestInit = {}, key = ADMIN_KEY) => {
    const response = await fetch(`${gw.origin}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${key}`,
        ...(init.body ? { "content-type": "application/json" } : {}),
      },
    });
    return { status: response.status, body: await bodyOf(response) };
  };
  const scrape = async (key = CLIENT_KEY) => {
    const response = await fetch(`${gw.origin}/metrics`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
    return { text: await response.clone().text(), families: parseMetrics(await response.text()) };
  };
  return { oa, gw, openai, adminCall, scrape };
}

const openaiError = (message: string) =>
  JSON.stringify({ error: { message, type: "server_error", param: null, code: null } });

describe("GET /metrics", () => {
  test("counts, latencies, tokens, retries, cooldowns and account states match the traffic sent", async () => {
    const { oa, gw, openai, scrape } = setup();
    // One retried request (a: 503 then b), three plain ones, two streams, one client error.
    oa.replyOnce({ status: 503, body: openaiError("overloaded") }, KEYS.a);
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "retry me" }],
    });
    for (let i = 0; i < 3; i++)
      await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `plain ${i}` }],
      });
    for (let i = 0; i < 2; i++) {
      const stream = await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `s${i}` }],
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _ of stream);
    }
    const bad = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: "{}",
    });
    expect(bad.status).toBe(400);

    const logged = (
      await bodyOf(
        await fetch(`${gw.origin}/levity/logs?limit=100`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).requests as any[];
    const { families, text } = await scrape();
    const route = "/v1/chat/completions";
    const ok = {
      route,
      dialect: "openai-chat",
      model: "gpt-4o-real",
      upstream: "oa",
      account: "b",
      status: "200",
    };
    // a cools down after its 503, so b serves everything.
    expect(sample(families, "levity_requests_total", ok)).toBe(6);
    expect(sample(families, "levity_requests_total", { route, status: "400" })).toBe(1);
    expect(sample(families, "levity_requests_total")).toBe(7);
    expect(families.get("levity_requests_total")!.type).toBe("COUNTER");

    // Histograms: one observation per request; the sum is the log's latencies, in seconds.
    expect(families.get("levity_request_duration_seconds")!.type).toBe("HISTOGRAM");
    const served = histogramSeries(text, "levity_request_duration_seconds", 'model="gpt-4o-real"');
    expect(served.count).toBe(6);
    expect(served.buckets.get("+Inf")).toBe(6);
    const counts = [...served.buckets.values()];
    expect(counts).toEqual([...counts].sort((x, y) => x - y));
    const loggedSeconds = logged
      .filter((r) => r.status === 200)
      .reduce((t, r) => t + r.latencyMs / 1000, 0);
    expect(served.sum).toBeCloseTo(loggedSeconds, 3);
    const ttfb = histogramSeries(text, "levity_time_to_first_byte_seconds", 'model="gpt-4o-real"');
    expect(ttfb.count).toBe(6);
    expect(ttfb.sum).toBeLessThanOrEqual(served.sum);

    // Tokens: the same totals as the log.
    const tokens = (kind: string) =>
      sample(families, "levity_tokens_total", { model: "gpt-4o-real", kind });
    expect(tokens("input")).toBe(logged.reduce((t, r) => t + r.inputTokens, 0));
    expect(tokens("output")).toBe(logged.reduce((t, r) => t + r.outputTokens, 0));
    expect(tokens("input")).toBeGreaterThan(0);

    expect(sample(families, "levity_retries_total", { upstream: "oa", model: "gpt-4o-real" })).toBe(
      1,
    );
    expect(
      sample(families, "levity_cooldowns_total", {
        upstream: "oa",
        account: "a",
        reason: "server",
      }),
    ).toBe(1);
    expect(sample(families, "levity_accounts", { upstream: "oa", state: "cooling" })).toBe(1);
    expect(sample(families, "levity_accounts", { upstream: "oa", state: "healthy" })).toBe(1);
    expect(sample(families, "levity_accounts", { upstream: "oa", state: "disabled" })).toBe(0);
    expect(sample(families, "levity_requests_in_flight")).toBe(0);
    expect(sample(families, "levity_build_info")).toBe(1);

    for (const secret of [CLIENT_KEY, ADMIN_KEY, KEYS.a, KEYS.b])
      expect(text).not.toContain(secret);
  });

  test("an open stream is in flight until its last byte", async () => {
    const { oa, openai, scrape } = setup();
    const held = oa.holdOnce(
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-real", choices: [{ index: 0, delta: { role: "assistant", content: "partial" }, finish_reason: null }] })}\n\n`,
    );
    const stream = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hold" }],
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value.choices[0].delta.content).toBe("partial");
    expect(sample((await scrape()).families, "levity_requests_in_flight")).toBe(1);
    held.release(
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-real", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`,
    );
    while (!(await iterator.next()).done);
    const { families } = await scrape();
    expect(sample(families, "levity_requests_in_flight")).toBe(0);
    expect(sample(families, "levity_requests_total", { status: "200" })).toBe(1);
  });

  test("protected like the API: a client key or the admin key; none is 401; metrics_public opens it", async () => {
    const { gw, scrape } = setup();
    expect((await fetch(`${gw.origin}/metrics`)).status).toBe(401);
    expect(
      (
        await fetch(`${gw.origin}/metrics`, {
          headers: { authorization: "Bearer sk-not-a-key-000000" },
        })
      ).status,
    ).toBe(401);
    await scrape(CLIENT_KEY);
    await scrape(ADMIN_KEY);

    const open = setup("  metrics_public: true\n");
    const response = await fetch(`${open.gw.origin}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("# TYPE levity_requests_total counter");
  });

  test("metrics: false collects nothing and /metrics says it is off", async () => {
    const { gw, openai } = setup("  metrics: false\n");
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
    });
    const response = await fetch(`${gw.origin}/metrics`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
    });
    expect(response.status).toBe(404);
    expect((await bodyOf(response)).error.message).toContain("proxy.metrics: false");
    // The request log still records: the chat request, and the refused scrape.
    const logged = await bodyOf(
      await fetch(`${gw.origin}/levity/logs`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      }),
    );
    expect(logged.requests).toHaveLength(2);
  });

  test("with metrics off, /levity/status still counts a stream in flight until its end", async () => {
    const { oa, gw, openai } = setup("  metrics: false\n");
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-real", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const held = oa.holdOnce(chunk({ role: "assistant", content: "partial" }, null));
    const stream = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hold" }],
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const status = async () =>
      (
        await bodyOf(
          await fetch(`${gw.origin}/levity/status`, {
            headers: { authorization: `Bearer ${ADMIN_KEY}` },
          }),
        )
      ).inFlight;
    expect(await status()).toBe(1);
    held.release(`${chunk({}, "stop")}data: [DONE]\n\n`);
    while (!(await iterator.next()).done);
    expect(await status()).toBe(0);
  });

  test("label sets beyond the cap fold into one 'other' series, so client-chosen model names cannot grow memory", () => {
    const counter = new Counter("t_total", "test", ["model"]);
    for (let i = 0; i < MAX_SERIES + 500; i++) counter.inc([`model-${i}`]);
    const family = parseMetrics(counter.render()).get("t_total")!;
    expect(family.metrics).toHaveLength(MAX_SERIES + 1);
    expect(family.metrics.find((m) => m.labels?.model === "other")!.value).toBe("500");
    expect(family.metrics.reduce((t, m) => t + Number(m.value), 0)).toBe(MAX_SERIES + 500);
  });

  test("requests on paths no route knows share one 'unmatched' series; the log keeps each path", async () => {
    const { gw, scrape } = setup();
    for (const path of ["/wp-admin", "/.env", "/phpmyadmin/index.php"])
      expect(
        (await fetch(`${gw.origin}${path}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } }))
          .status,
      ).toBe(404);
    const { families } = await scrape();
    expect(sample(families, "levity_requests_total", { route: "unmatched", status: "404" })).toBe(
      3,
    );
    expect(
      families.get("levity_requests_total")!.metrics.some((m) => m.labels?.route === "/wp-admin"),
    ).toBe(false);
    const logged = (
      await bodyOf(
        await fetch(`${gw.origin}/levity/logs`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }),
      )
    ).requests as any[];
    expect(logged.map((r) => [r.route, r.unmatched])).toEqual([
      ["/phpmyadmin/index.php", true],
      ["/.env", true],
      ["/wp-admin", true],
    ]);
  });

  test("label values are escaped: a model name with quotes and backslashes still parses", async () => {
    const { gw, scrape } = setup();
    // (A name with a newline or another control character is refused before it is counted.)
    const weird = 'evil"model\\name{x="1"}';
    await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ model: weird, messages: [] }),
    }).then((r) => r.text());
    // Every request resolves to the first upstream (no default mapping); levity forwards the unknown name.
    const families = (await scrape()).families;
    expect(
      families.get("levity_requests_total")!.metrics.some((m) => m.labels?.model === weird),
    ).toBe(true);
  });
});

describe("admin endpoints under /levity/", () => {
  test("each needs the admin key: none, a client key and a wrong key are 401; the admin key in any header works", async () => {
    const { gw } = setup();
    const paths: [string, string][] = [
      ["GET", "/levity/status"],
      ["GET", "/levity/accounts"],
      ["POST", "/levity/accounts/reset"],
      ["POST", "/levity/accounts/enable"],
      ["POST", "/levity/accounts/disable"],
      ["GET", "/levity/logs"],
      ["GET", "/levity/usage"],
      ["POST", "/levity/reload"],
    ];
    for (const [method, path] of paths) {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${CLIENT_KEY}` },
        { "x-api-key": "sk-wrong-admin-000000" },
      ];
      for (const headers of attempts) {
        const response = await fetch(`${gw.origin}${path}`, { method, headers });
        expect({ path, status: response.status }).toEqual({ path, status: 401 });
        const body = await bodyOf(response);
        expect(JSON.stringify(body)).not.toContain(ADMIN_KEY);
      }
    }
    const admitted: Record<string, string>[] = [
      { authorization: `Bearer ${ADMIN_KEY}` },
      { "x-api-key": ADMIN_KEY },
      { "x-goog-api-key": ADMIN_KEY },
    ];
    for (const headers of admitted) {
      expect((await fetch(`${gw.origin}/levity/status`, { headers })).status).toBe(200);
    }
  });

  test("status says what the gateway is and does", async () => {
    const { openai, adminCall } = setup();
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "hi" }],
    });
    const { status, body } = await adminCall("/levity/status");
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: "ok",
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      auth: "strict",
      upstreams: [{ name: "oa", protocol: "openai", strategy: "round_robin", accounts: 2 }],
      accounts: { healthy: 2, cooling: 0, disabled: 0 },
      inFlight: 0,
      requestLog: { enabled: true, bodies: false },
    });
    expect(body.config).toContain("oa (openai, 2 accounts)");
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(body.requestLog.records + body.requestLog.pending).toBe(1);
  });

  test("disable takes an account out of rotation until enable puts it back; unknown accounts are 404", async () => {
    const { oa, openai, adminCall } = setup();
    const disabled = await adminCall("/levity/accounts/disable", {
      method: "POST",
      body: JSON.stringify({ upstream: "oa", account: "a" }),
    });
    expect(disabled).toEqual({ status: 200, body: { disabled: ["oa/a"] } });
    const accounts = (await adminCall("/levity/accounts")).body.accounts as any[];
    expect(accounts.find((a) => a.account === "a")).toMatchObject({
      state: "disabled",
      disabledReason: expect.stringContaining("disabled by an admin"),
    });
    for (let i = 0; i < 4; i++)
      await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `${i}` }],
      });
    expect(oa.keysSeen()).toEqual([KEYS.b, KEYS.b, KEYS.b, KEYS.b]);

    expect(
      await adminCall("/levity/accounts/enable", {
        method: "POST",
        body: JSON.stringify({ upstream: "oa", account: "a" }),
      }),
    ).toEqual({ status: 200, body: { enabled: ["oa/a"] } });
    for (let i = 0; i < 2; i++)
      await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `${i}` }],
      });
    expect(oa.keysSeen().slice(4).sort()).toEqual([KEYS.a, KEYS.b]);

    const unknown = await adminCall("/levity/accounts/disable", {
      method: "POST",
      body: JSON.stringify({ upstream: "oa", account: "zed" }),
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain("No account matches oa/zed");
    const unnamed = await adminCall("/levity/accounts/disable", { method: "POST" });
    expect(unnamed.status).toBe(400);
  });

  test("reset ends a cooldown", async () => {
    const { oa, openai, adminCall } = setup();
    oa.replyOnce({ status: 503, body: openaiError("overloaded") }, KEYS.a);
    await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "x" }],
    });
    expect(
      ((await adminCall("/levity/accounts")).body.accounts as any[]).find((a) => a.account === "a")
        .state,
    ).toBe("cooling");
    expect(
      await adminCall("/levity/accounts/reset", {
        method: "POST",
        body: JSON.stringify({ upstream: "oa", account: "a" }),
      }),
    ).toEqual({ status: 200, body: { reset: ["oa/a"] } });
    expect(
      ((await adminCall("/levity/accounts")).body.accounts as any[]).find((a) => a.account === "a")
        .state,
    ).toBe("healthy");
  });

  test("usage: token totals by day, model and account, equal to what the upstream reported", async () => {
    const { openai, adminCall } = setup();
    let input = 0;
    let output = 0;
    for (let i = 0; i < 3; i++) {
      const answer = await openai.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: `count ${i}` }],
      });
      input += answer.usage!.prompt_tokens;
      output += answer.usage!.completion_tokens;
    }
    const { status, body } = await adminCall("/levity/usage?days=7");
    expect(status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const rows = (body.usage as any[]).filter((r) => r.model === "gpt-4o-real");
    expect(rows.every((r) => r.day === today)).toBe(true);
    expect(rows.reduce((t, r) => t + r.requests, 0)).toBe(3);
    expect(rows.reduce((t, r) => t + r.inputTokens, 0)).toBe(input);
    expect(rows.reduce((t, r) => t + r.outputTokens, 0)).toBe(output);
    expect(new Set(rows.map((r) => `${r.upstream}/${r.account}`))).toEqual(
      new Set(["oa/a", "oa/b"]),
    );
    expect((await adminCall("/levity/usage?days=zero")).status).toBe(400);
  });

  test("reload applies the files on disk, and refuses a broken one while the old configuration keeps serving", async () => {
    const { gw, openai, adminCall } = setup();
    writeFileSync(join(gw.dir, "mappings.yaml"), "exact:\n  fast: oa/o3-real\n");
    const reloaded = await adminCall("/levity/reload", { method: "POST" });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.reloaded).toBe(true);
    const answer = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "x" }],
    });
    expect(answer.model).toBe("o3-real");

    writeFileSync(join(gw.dir, "mappings.yaml"), "exact:\n  fast: nowhere/o3-real\n");
    const refused = await adminCall("/levity/reload", { method: "POST" });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain("previous one keeps serving");
    const still = await openai.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "x" }],
    });
    expect(still.model).toBe("o3-real");
  });

  test("levity accounts disable/enable drive the same endpoints", async () => {
    const { gw } = setup();
    const port = new URL(gw.origin).port;
    const off = await runLevity([
      "accounts",
      "disable",
      "oa/b",
      "--config",
      gw.dir,
      "--port",
      port,
    ]);
    expect(off).toMatchObject({ code: 0, stdout: "disabled: oa/b\n" });
    const table = await runLevity(["accounts", "--config", gw.dir, "--port", port]);
    expect(table.stdout).toMatch(/oa\s+b\s+disabled/);
    const on = await runLevity(["accounts", "enable", "oa/b", "--config", gw.dir, "--port", port]);
    expect(on).toMatchObject({ code: 0, stdout: "enabled: oa/b\n" });
    const missing = await runLevity(["accounts", "disable", "--config", gw.dir, "--port", port]);
    expect(missing.code).toBe(2);
  });
});
