import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { BUN, REPO, tempDir } from "./support/gateway.ts";
import { LineReader } from "./support/process.ts";
import { postgresAvailable, TestPostgres } from "./support/postgres.ts";
import { histogramSeries, parseMetrics, sample } from "./support/prometheus.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * bench/floor-proxy.ts, the floor levity's benchmark is held to, must really do the work it
 * stands for, or the floor it measures is too low: each mode's answer in the client's shape, the
 * request log in SQLite and the metrics holding every request. In front of the bench's own fake
 * upstream, both as the bench runs them (child processes on ports the OS chose).
 */

const KEY = "sk-floor-test-client";
const dir = tempDir("levity-floor-");
const logPath = join(dir, "requests.db");
const children: ReturnType<typeof Bun.spawn>[] = [];
let origin = "";

async function start(script: string, env: Record<string, string>): Promise<number> {
  const proc = Bun.spawn([BUN, join(REPO, "bench", script)], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(proc);
  const stdout = new LineReader(proc.stdout);
  void new LineReader(proc.stderr);
  return Number((await stdout.waitFor(/listening (\d+)/))[1]);
}

beforeAll(async () => {
  const upstream = await start("fake-upstream.ts", { PORT: "0" });
  const port = await start("floor-proxy.ts", {
    PORT: "0",
    UPSTREAM_URL: `http://127.0.0.1:${upstream}`,
    CLIENT_KEY: KEY,
    REQUEST_LOG: logPath,
  });
  origin = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  rmSync(dir, { recursive: true, force: true });
});

const prompt = [{ role: "user", content: "Say hello to the benchmark, briefly." }];
const post = (path: string, headers: Record<string, string>, body: unknown) =>
  fetch(origin + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
const openai = { authorization: `Bearer ${KEY}` };

interface Row {
  request_id: string;
  route: string;
  client_key: string | null;
  requested_model: string | null;
  model: string | null;
  upstream: string | null;
  status: number;
  duration_ms: number;
  input_tokens: number;
  output_tokens: number;
}

/** A log's rows, read by `sql`, once it holds `count` of them (the worker writes a batch a second). */
function logRows<T>(path: string, sql: string, count: number): Promise<T[]> {
  return waitUntil(`${count} rows in ${path}`, () => {
    let db: Database | undefined;
    try {
      db = new Database(path, { readonly: true });
      const found = db.query<T, []>(sql).all();
      return found.length >= count ? found : undefined;
    } catch {
      return undefined; // not created yet
    } finally {
      db?.close();
    }
  });
}

const rows = (count: number) => logRows<Row>(logPath, "SELECT * FROM requests ORDER BY seq", count);

test("each mode answers in the client's shape, and the log and metrics hold every request", async () => {
  const passThrough = await post("/v1/chat/completions", openai, {
    model: "bench-model",
    messages: prompt,
    max_tokens: 64,
  });
  expect(passThrough.status).toBe(200);
  expect(passThrough.headers.get("content-type")).toStartWith("application/json");
  const chat = (await passThrough.json()) as Record<string, any>;
  expect(chat.object).toBe("chat.completion");
  expect(chat.choices[0].message.content).toBe("The quick brown fox jumps over the lazy dog.");
  expect(chat.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 10 });

  const toGemini = await post("/v1/chat/completions", openai, {
    model: "gem-model",
    messages: [{ role: "system", content: "Be brief." }, ...prompt],
    max_tokens: 64,
  });
  expect(toGemini.status).toBe(200);
  expect(toGemini.headers.get("content-type")).toStartWith("application/json");
  const translated = (await toGemini.json()) as Record<string, any>;
  expect(translated).toMatchObject({
    object: "chat.completion",
    model: "gemini-bench",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "The quick brown fox jumps over the lazy dog." },
        finish_reason: "stop",
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 10, total_tokens: 22 },
  });
  expect(translated.id).toStartWith("chatcmpl-");
  expect(translated.created).toBeNumber();

  const fromAnthropic = await post(
    "/v1/messages",
    { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
    {
      model: "claude-bench",
      max_tokens: 64,
      system: "Be brief.",
      messages: [{ role: "user", content: [{ type: "text", text: prompt[0]!.content }] }],
    },
  );
  expect(fromAnthropic.status).toBe(200);
  expect(fromAnthropic.headers.get("content-type")).toStartWith("application/json");
  const message = (await fromAnthropic.json()) as Record<string, any>;
  expect(message).toMatchObject({
    type: "message",
    role: "assistant",
    model: "bench-model",
    content: [{ type: "text", text: "The quick brown fox jumps over the lazy dog." }],
    stop_reason: "end_turn",
    usage: { input_tokens: 12, output_tokens: 10 },
  });
  expect(message.id).toStartWith("msg_");

  const stream = await post("/v1/chat/completions", openai, {
    model: "bench-model",
    messages: prompt,
    stream: true,
  });
  expect(stream.status).toBe(200);
  expect(stream.headers.get("content-type")).toStartWith("text/event-stream");
  const events = (await stream.text()).split("\n\n").filter((event) => event !== "");
  // The fake upstream's 20 content chunks in order, its finish and usage chunks, and [DONE].
  expect(events).toHaveLength(23);
  expect(events.at(-1)).toBe("data: [DONE]");
  for (let i = 0; i < 20; i++)
    expect(JSON.parse(events[i]!.slice(6)).choices[0].delta.content).toBe(`t${i} `);

  const refused = await post("/v1/chat/completions", { authorization: "Bearer wrong" }, {});
  expect(refused.status).toBe(401);
  expect(((await refused.json()) as Record<string, any>).error.message).toBeString();

  const answers = [passThrough, toGemini, fromAnthropic, stream, refused];
  const ids = answers.map((answer) => answer.headers.get("x-request-id"));
  for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Set(ids).size).toBe(answers.length);

  const logged = await rows(answers.length);
  expect(logged.map((row) => row.request_id)).toEqual(ids as string[]);
  const pick = (row: Row) => [
    row.route,
    row.client_key,
    row.requested_model,
    row.model,
    row.upstream,
    row.status,
    row.input_tokens,
    row.output_tokens,
  ];
  expect(logged.map(pick)).toEqual([
    ["/v1/chat/completions", "bench", "bench-model", "bench-model", "oa", 200, 12, 10],
    ["/v1/chat/completions", "bench", "gem-model", "gemini-bench", "gm", 200, 12, 10],
    ["/v1/messages", "bench", "claude-bench", "bench-model", "oa", 200, 12, 10],
    ["/v1/chat/completions", "bench", "bench-model", "bench-model", "oa", 200, 12, 20],
    ["/v1/chat/completions", null, null, null, null, 401, 0, 0],
  ]);
  for (const row of logged) expect(row.duration_ms).toBeGreaterThan(0);

  expect((await fetch(`${origin}/metrics`)).status).toBe(401);
  const metrics = await (await fetch(`${origin}/metrics`, { headers: openai })).text();
  const families = parseMetrics(metrics);
  const requests = (labels: Record<string, string>) =>
    sample(families, "floor_requests_total", labels);
  expect(requests({})).toBe(5);
  expect(
    requests({
      route: "/v1/chat/completions",
      upstream: "oa",
      model: "bench-model",
      status: "200",
    }),
  ).toBe(2);
  expect(requests({ upstream: "gm", model: "gemini-bench", status: "200" })).toBe(1);
  expect(requests({ route: "/v1/messages", upstream: "oa", status: "200" })).toBe(1);
  expect(requests({ status: "401" })).toBe(1);
  // Every token of the four answers, counted for the client key as levity counts it.
  expect(sample(families, "floor_key_tokens_total", { kind: "input" })).toBe(48);
  expect(sample(families, "floor_key_tokens_total", { kind: "output" })).toBe(50);
  const durations = histogramSeries(
    metrics,
    "floor_request_duration_seconds",
    'route="/v1/chat/completions",upstream="oa",model="bench-model",status="200"',
  );
  expect(durations.count).toBe(2);
  expect(durations.buckets.get("+Inf")).toBe(2);
  expect(durations.sum).toBeGreaterThan(0);
}, 20_000);

test("a Host the floor does not answer to is refused before the key or the body, as levity refuses it", async () => {
  const refused = await fetch(`${origin}/v1/chat/completions`, {
    method: "POST",
    headers: { ...openai, host: "evil.example", "content-type": "application/json" },
    body: JSON.stringify({ model: "bench-model", messages: prompt }),
  });
  expect(refused.status).toBe(421);
});

test("an upstream call ends when its client goes, as levity's calls do (the floor pays for the time limits' watch)", async () => {
  // An upstream that takes the request and never answers: only the floor can end the call.
  let requested = false;
  let closed = false;
  const hanging = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {
        requested = true;
      },
      close() {
        closed = true;
      },
    },
  });
  try {
    const port = await start("floor-proxy.ts", {
      PORT: "0",
      UPSTREAM_URL: `http://127.0.0.1:${hanging.port}`,
      CLIENT_KEY: KEY,
      REQUEST_LOG: join(dir, "hanging.db"),
    });
    const leaving = new AbortController();
    const call = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { ...openai, "content-type": "application/json" },
      body: JSON.stringify({ model: "bench-model", messages: prompt }),
      signal: leaving.signal,
    }).catch((error: unknown) => error);
    await waitUntil("the upstream to be asked", () => requested);
    expect(closed).toBe(false);
    leaving.abort();
    await call;
    // Within the interval's visit (100 ms) the floor sees the client gone and cuts the call.
    await waitUntil("the floor to cut the upstream call", () => closed, 3_000);
  } finally {
    hanging.stop(true);
  }
});

test("with FLOOR_FEATURES the floor also does what levity's features do for a whole answer", async () => {
  const upstream = await start("fake-upstream.ts", { PORT: "0" });
  const featuredLog = join(dir, "features.db");
  const port = await start("floor-proxy.ts", {
    PORT: "0",
    UPSTREAM_URL: `http://127.0.0.1:${upstream}`,
    CLIENT_KEY: KEY,
    REQUEST_LOG: featuredLog,
    FLOOR_FEATURES: "1",
  });
  const ask = (body: string | Uint8Array) =>
    fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { ...openai, "content-type": "application/json", origin: "http://app.example" },
      body,
    });
  const answer = await ask(JSON.stringify({ model: "bench-model", messages: prompt }));
  expect(answer.status).toBe(200);
  // levity's routing headers and request id, in one set of headers.
  expect(answer.headers.get("x-mapped-model")).toBe("bench-model");
  expect(answer.headers.get("x-upstream")).toBe("oa");
  expect(answer.headers.get("x-account")).toBe("bench");
  expect(answer.headers.get("x-attempts")).toBe("1");
  // An Origin the configuration does not allow gets no CORS headers (levity's rule; none allowed here).
  expect(answer.headers.get("access-control-allow-origin")).toBeNull();
  expect(answer.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{24}$/);
  expect(((await answer.json()) as Record<string, any>).usage.prompt_tokens).toBe(12);

  // What levity refuses in a body: a stream flag that is not a boolean, a broken UTF-8 byte.
  const flag = await ask(JSON.stringify({ model: "bench-model", stream: "yes", messages: prompt }));
  expect(flag.status).toBe(400);
  expect(((await flag.json()) as Record<string, any>).error.message).toContain("stream");
  const broken = await ask(
    new Uint8Array([...new TextEncoder().encode('{"model":"bench-model","x":"'), 0xff, 0x22, 0x7d]),
  );
  expect(broken.status).toBe(400);
  expect(((await broken.json()) as Record<string, any>).error.message).toContain("UTF-8");

  // The log's further columns, the account's tokens in the metrics, the key's saved counters.
  const logged = await logRows<Record<string, unknown>>(
    featuredLog,
    "SELECT status, account, attempts, dialect, ttfb_ms, error FROM requests ORDER BY seq",
    3,
  );
  expect(logged.map((row) => [row.status, row.account, row.attempts, row.dialect])).toEqual([
    [200, "bench", 1, "openai-chat"],
    [400, null, 0, "openai-chat"],
    [400, null, 0, "openai-chat"],
  ]);
  expect(logged[0]!.ttfb_ms as number).toBeGreaterThan(0);
  expect(logged.map((row) => row.error)).toEqual([
    null,
    "stream must be true or false.",
    "The body is not valid UTF-8.",
  ]);
  const metrics = parseMetrics(
    await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: openai })).text(),
  );
  expect(sample(metrics, "floor_account_tokens_total", { account: "bench", kind: "input" })).toBe(
    12,
  );
  // Saved once a second: read until the save after the last request (an earlier one may hold less).
  interface Counters {
    requests: number[];
    dayTokens: number;
  }
  const counted = (counters: Counters) => counters.requests.reduce((a, b) => a + b, 0);
  const saved = await waitUntil("the key's counters saved", () => {
    let db: Database | undefined;
    try {
      db = new Database(`${featuredLog}-keys`, { readonly: true });
      const row = db.query<{ state: string }, []>("SELECT state FROM key_counters").get();
      const counters = row ? (JSON.parse(row.state) as Counters) : undefined;
      // Counted once the body is read as an object, as levity counts: the broken body never was.
      return counters && counted(counters) >= 2 ? counters : undefined;
    } catch {
      return undefined;
    } finally {
      db?.close();
    }
  });
  expect(counted(saved)).toBe(2);
  expect(saved.dayTokens).toBe(22);
}, 20_000);

test("with FLOOR_FEATURES the translated paths get levity's features too: the checks before any account, the usage by kind, the routing headers, refusals in the client's shape", async () => {
  // An upstream whose answers carry what levity reads beyond the plain usage (cached and
  // reasoning tokens, a rate-limit header) and that says nothing when asked to; it keeps the
  // headers each request came with.
  const seen: Headers[] = [];
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      seen.push(request.headers);
      const silent = (await request.text()).includes("say nothing");
      const limits = { headers: { "x-ratelimit-remaining-requests": "99" } };
      if (new URL(request.url).pathname.endsWith(":generateContent"))
        return Response.json(
          {
            responseId: "gem-1",
            candidates: [
              {
                content: { role: "model", parts: silent ? [] : [{ text: "Hi." }] },
                finishReason: "STOP",
              },
            ],
            usageMetadata: {
              promptTokenCount: 30,
              candidatesTokenCount: 4,
              thoughtsTokenCount: 6,
              cachedContentTokenCount: 20,
            },
          },
          limits,
        );
      return Response.json(
        {
          id: "chatcmpl-1",
          object: "chat.completion",
          model: "bench-model",
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: silent ? "" : "Hi." },
              finish_reason: "stop",
            },
          ],
          usage: {
            prompt_tokens: 40,
            completion_tokens: silent ? 0 : 2,
            prompt_tokens_details: { cached_tokens: 32 },
          },
        },
        limits,
      );
    },
  });
  try {
    const featuredLog = join(dir, "translated.db");
    const port = await start("floor-proxy.ts", {
      PORT: "0",
      UPSTREAM_URL: `http://127.0.0.1:${upstream.port}`,
      CLIENT_KEY: KEY,
      REQUEST_LOG: featuredLog,
      FLOOR_FEATURES: "1",
    });
    const base = `http://127.0.0.1:${port}`;
    const json = { "content-type": "application/json", "user-agent": "floor-test/1" };
    const anthropic = {
      ...json,
      "x-api-key": KEY,
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "test-beta",
    };
    const toGemini = (content: string) =>
      fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { ...json, ...openai, "openai-beta": "assistants=v2" },
        body: JSON.stringify({ model: "gem-model", messages: [{ role: "user", content }] }),
      });
    const toOpenAI = (messages: unknown) =>
      fetch(`${base}/v1/messages`, {
        method: "POST",
        headers: anthropic,
        body: JSON.stringify({ model: "claude-bench", max_tokens: 16, messages }),
      });
    const routing = (answer: Response) =>
      [
        "x-mapped-model",
        "x-upstream",
        "x-account",
        "x-attempts",
        "x-ratelimit-remaining-requests",
      ].map((name) => answer.headers.get(name));

    const gemini = await toGemini("Hello.");
    expect(gemini.status).toBe(200);
    // A translated answer gets the routing headers, not the upstream's own (levity's pass-through alone passes those).
    expect(routing(gemini)).toEqual(["gemini-bench", "gm", "bench", "1", null]);
    expect(((await gemini.json()) as Record<string, any>).usage).toMatchObject({
      prompt_tokens: 30,
      completion_tokens: 10,
      prompt_tokens_details: { cached_tokens: 20 },
      completion_tokens_details: { reasoning_tokens: 6 },
    });
    // To an upstream of another dialect only the client's user-agent goes, as levity sends it.
    expect(seen.at(-1)!.get("user-agent")).toBe("floor-test/1");
    expect(seen.at(-1)!.get("openai-beta")).toBeNull();

    // A message levity cannot translate is the client's 400, before any account is asked: the
    // account is not cooled, and the next request is served.
    const asked = seen.length;
    const malformed = await toOpenAI([{ role: "user", content: 5 }]);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as Record<string, any>).type).toBe("error");
    expect(seen.length).toBe(asked);
    const message = await toOpenAI(prompt);
    expect(message.status).toBe(200);
    expect(routing(message)).toEqual(["bench-model", "oa", "bench", "1", null]);
    expect(((await message.json()) as Record<string, any>).usage).toMatchObject({
      input_tokens: 8,
      cache_read_input_tokens: 32,
      output_tokens: 2,
    });
    expect(seen.at(-1)!.get("user-agent")).toBe("floor-test/1");
    expect(seen.at(-1)!.get("anthropic-version")).toBeNull();
    expect(seen.at(-1)!.get("anthropic-beta")).toBeNull();
    expect((await toOpenAI([])).status).toBe(400);

    // Answers that say nothing and ended: levity's 502, in each client's own shape.
    const silentGemini = await toGemini("Please say nothing.");
    expect(silentGemini.status).toBe(502);
    expect(await silentGemini.json()).toMatchObject({
      error: { message: "The upstream answered with nothing." },
    });
    const silentChat = await toOpenAI([{ role: "user", content: "Please say nothing." }]);
    expect(silentChat.status).toBe(502);
    expect(await silentChat.json()).toMatchObject({
      type: "error",
      error: { message: "The upstream answered with nothing." },
    });

    const logged = await logRows<Record<string, unknown>>(
      featuredLog,
      "SELECT status, dialect, account, attempts, input_tokens, output_tokens, cached_tokens, reasoning_tokens, error FROM requests ORDER BY seq",
      6,
    );
    const row = (
      status: number,
      dialect: string,
      leased: boolean,
      tokens: [number, number, number, number],
      error: string | null,
    ) => ({
      status,
      dialect,
      account: leased ? "bench" : null,
      attempts: leased ? 1 : 0,
      input_tokens: tokens[0],
      output_tokens: tokens[1],
      cached_tokens: tokens[2],
      reasoning_tokens: tokens[3],
      error,
    });
    const nothing = "The upstream answered with nothing.";
    const badContent = "A message's content must be text or a list of blocks.";
    const noMessages = "messages must be a list of at least one message.";
    expect(logged).toEqual([
      row(200, "openai-chat", true, [30, 10, 20, 6], null),
      row(400, "anthropic-messages", false, [0, 0, 0, 0], badContent),
      row(200, "anthropic-messages", true, [40, 2, 32, 0], null),
      row(400, "anthropic-messages", false, [0, 0, 0, 0], noMessages),
      row(502, "openai-chat", true, [30, 10, 20, 6], nothing),
      row(502, "anthropic-messages", true, [40, 0, 32, 0], nothing),
    ]);
  } finally {
    upstream.stop(true);
  }
}, 20_000);

test("with FLOOR_KEYS each of a team's keys is counted apart, and with FLOOR_KEY_LIMITS its limits refuse as levity's do", async () => {
  const upstream = await start("fake-upstream.ts", { PORT: "0" });
  const keysFile = join(dir, "team-keys.txt");
  const team = ["sk-floor-team-0", "sk-floor-team-1", "sk-floor-team-2"];
  await Bun.write(keysFile, `${team.join("\n")}\n`);
  const floors = new Map<string, { port: number; log: string }>();
  for (const limited of [false, true]) {
    const log = join(dir, `team-${limited ? "limited" : "open"}.db`);
    const port = await start("floor-proxy.ts", {
      PORT: "0",
      UPSTREAM_URL: `http://127.0.0.1:${upstream}`,
      REQUEST_LOG: log,
      FLOOR_FEATURES: "1",
      FLOOR_KEYS: keysFile,
      ...(limited ? { FLOOR_KEY_LIMITS: "1" } : {}),
    });
    floors.set(limited ? "limited" : "open", { port, log });
  }
  const ask = (port: number, key: string, model: string) =>
    fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: prompt }),
    });
  // The bench's limits let its models through (bench-*, gem-*) and nothing else.
  const cases: [string, string, number, number][] = [
    [team[0]!, "bench-model", 200, 200],
    [team[1]!, "gem-model", 200, 200],
    [team[2]!, "claude-bench", 200, 403],
    [team[2]!, "nobody-maps-this", 404, 403],
    [KEY, "bench-model", 401, 401],
  ];
  for (const [key, model, open, limited] of cases) {
    const statuses: number[] = [];
    for (const name of ["open", "limited"]) {
      const answer = await ask(floors.get(name)!.port, key, model);
      statuses.push(answer.status);
      await answer.arrayBuffer();
    }
    expect([key, model, ...statuses]).toEqual([key, model, open, limited]);
  }

  // Each key's counters saved under its own name; a refused model is not counted, the estimate
  // of the body stands in for tokens only where a limit needs it (levity's rule), until settled.
  interface Counters {
    requests: number[];
    dayTokens: number;
    monthUsd: number;
  }
  /** Each key's saved [name, requests, day's tokens], once they are what is expected: saved once a second, an earlier save may hold less. */
  const savedCounters = async (log: string, expected: [string, number, number][]) => {
    let last: unknown;
    const read = () => {
      let db: Database | undefined;
      try {
        db = new Database(`${log}-keys`, { readonly: true });
        return db
          .query<{ key: string; state: string }, []>(
            "SELECT key, state FROM key_counters ORDER BY key",
          )
          .all()
          .map((row) => {
            const state = JSON.parse(row.state) as Counters;
            return [row.key, state.requests.reduce((a, b) => a + b, 0), state.dayTokens];
          });
      } catch {
        return undefined;
      } finally {
        db?.close();
      }
    };
    await waitUntil(`the keys' counters saved in ${log}-keys`, () => {
      last = read();
      return Bun.deepEquals(last, expected) || undefined;
    }).catch(() => {});
    return last;
  };
  // Without limits every request whose body was read is counted, the 404 too (counted before the
  // model is mapped); with them, a model outside the key's globs is refused before it is counted.
  const open: [string, number, number][] = [
    ["member-0", 1, 22],
    ["member-1", 1, 22],
    ["member-2", 2, 22],
  ];
  expect(await savedCounters(floors.get("open")!.log, open)).toEqual(open);
  const limited: [string, number, number][] = [
    ["member-0", 1, 22],
    ["member-1", 1, 22],
  ];
  expect(await savedCounters(floors.get("limited")!.log, limited)).toEqual(limited);
}, 20_000);

test("with REQUEST_LOG a postgres:// URL, the floor writes its log to PostgreSQL as levity's shared log is written", async () => {
  if (!postgresAvailable("test/floor-proxy.test.ts")) return;
  const pg = new TestPostgres();
  await pg.start();
  try {
    const upstream = await start("fake-upstream.ts", { PORT: "0" });
    const port = await start("floor-proxy.ts", {
      PORT: "0",
      UPSTREAM_URL: `http://127.0.0.1:${upstream}`,
      CLIENT_KEY: KEY,
      REQUEST_LOG: pg.url,
      FLOOR_FEATURES: "1",
    });
    const models = ["bench-model", "gem-model", "nobody-maps-this"];
    for (const model of models) {
      const answer = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { ...openai, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: prompt }),
      });
      await answer.arrayBuffer();
    }
    const sql = new SQL(pg.url, { max: 1 });
    try {
      const rows = await waitUntil("three records in PostgreSQL", async () => {
        const found = await sql<
          {
            requestedModel: string;
            status: number;
            upstream: string | null;
            account: string | null;
          }[]
        >`SELECT "requestedModel", status, upstream, account FROM floor_requests ORDER BY seq`.catch(
          () => [],
        );
        return found.length >= 3 ? found : undefined;
      });
      expect(
        rows.map((row) => [row.requestedModel, row.status, row.upstream, row.account]),
      ).toEqual([
        ["bench-model", 200, "oa", "bench"],
        ["gem-model", 200, "gm", "bench"],
        ["nobody-maps-this", 404, null, null],
      ]);
      // Its request id is unique, as levity's is: a batch written twice writes nothing twice.
      const unique = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'floor_requests' AND indexdef LIKE 'CREATE UNIQUE INDEX%requestId%'`;
      expect(unique[0]!.n).toBe(1);
    } finally {
      await sql.close({ timeout: 0 });
    }
  } finally {
    await pg.stop();
  }
}, 60_000);
