/*
 * The floor for levity as `npm run bench` runs it: the reference proxy (reference-proxy.ts) doing
 * the work levity cannot skip with auth on, the request log and metrics on, the model mapped and
 * the usage counted, and nothing more, as lean as Bun allows. Where levity is slower than this,
 * the difference is levity's own; where this is slower than the reference proxy, it is the price
 * of the features themselves (issue 20: "the measurement that proves the floor").
 *
 * Per request, and why each piece cannot be skipped:
 * - The Host header is checked against the names levity answers to (DNS rebinding; levity checks
 *   every request), remembered once admitted as levity remembers it.
 * - The body's declared length is checked against the limit (32 MB), and its read is held to the
 *   body timeout, by one deadline in a set that one interval visits, as levity's are.
 * - The client key is checked (levity refuses a request without it). A Map from the header's
 *   value, as levity's cache of proven keys answers once a key has been seen: no hashing here.
 * - A random request id, sent back as x-request-id: levity's answers and log records carry one.
 * - The body is parsed: the model names the mapping target, and the log and metrics name the
 *   model. The mapped body is re-serialised only when the model's name changes, as levity does
 *   (pipeline/passthrough.ts forwards the client's text when it does not).
 * - The upstream call is held to levity's default time limits and ended when its client goes: an
 *   AbortController a call, its deadline on the set one interval visits, the client's signal read
 *   there (levity's src/upstream/forward.ts watch list). A call with no limit would hold its
 *   request as long as a dead upstream keeps the connection open; the fourth session found the
 *   floor without it flattered by about 4-5 µs a request.
 * - The upstream is called with its own key, never the client's: a whole answer through levity's
 *   own HTTP/1.1 client (src/upstream/http1.ts) while fewer than two calls wait and at most two
 *   requests are being served, as levity calls
 *   (on the serving thread, without fetch's crossing to its thread and back), otherwise fetch.
 * - The answer is read whole and parsed, because the usage is logged and charged; a same-dialect
 *   client gets the answer's bytes, another dialect's client a translation of it (minimal, but
 *   right for the bench's request and answer: text messages, no tools).
 * - A stream is piped through, and its usage read from its last events, which are kept as they
 *   pass (a reference per chunk, no scan) and parsed once at the end.
 * - A record per request (request id, time, method, route, client key name, models, upstream,
 *   status, duration, tokens) handed to a worker thread as one JSON string every 1,000 records or
 *   once a second, as levity's request log does (observe/request-log-thread.ts), which writes it
 *   to SQLite.
 * - A request counter, a duration and a time-to-first-byte histogram per (route, upstream,
 *   model, status), and token counters per (upstream, model) and per client key, in memory,
 *   rendered as Prometheus text only when /metrics is asked.
 * - The record is logged and counted after the answer is handed over (one setImmediate a turn
 *   for the turn's records), as levity does (observe/after-answer.ts).
 *
 * Bun's own router matches the paths (no URL is parsed in JavaScript), and the upstream headers
 * are built once. Everything levity adds beyond this (retries across accounts, the commit point,
 * time limits, request caps, CORS, rate limits, the IR) is a feature, not the floor.
 *
 * With FLOOR_FEATURES=1, the requests also get what levity's features do for a whole answer in
 * this configuration, each as leanly (issue 20's fourteenth and fifteenth sessions; the
 * features, not the floor): a request id in levity's form; the body read as strict UTF-8 and
 * refused unless a JSON object; the model's name and the stream flag checked; the Origin read;
 * the client key's usage counted in per-second windows over a minute, its requests in flight
 * and its day's tokens, saved once a second to SQLite; the account leased (its cooldown read,
 * its requests in flight and token totals kept, its health settled); the SDK's protocol headers
 * and levity's accept-encoding sent upstream; the answer read for cached and reasoning tokens,
 * an error inside a 200 and an empty answer; the upstream's rate-limit and retry headers passed
 * on and the routing headers set (x-mapped-model, x-upstream, x-account, x-attempts); the price
 * looked up; the metrics by account too, with tokens by kind and the prompt cache's totals; the
 * log record with levity's further columns (dialect, account, attempts, stream, time to first
 * byte, cached, cache-write and reasoning tokens, cost, error); and the connection's idle limit
 * lifted for the request, as levity's server does. Where levity translates (an OpenAI client's
 * request to Gemini, an Anthropic client's to OpenAI), the request is also held to levity's caps
 * and message checks and translated before any account is leased, only user-agent goes to the
 * upstream of the other dialect, the answer is read with levity's own finish reasons and usage,
 * its refusals come in the client's shape, and the upstream's own headers do not pass.
 *
 * With FLOOR_KEYS (a file of client keys, one a line), the floor takes a team's 1,000 keys, as
 * the bench's team gateways do, and counts each key's usage apart; with FLOOR_KEY_LIMITS=1 as
 * well, every key has the team's limits (bench/run.ts: models, network, rates, requests in flight,
 * budgets), checked as levity checks them, each key's model and address verdicts remembered as
 * levity remembers them. The pair is the floor of what client-key enforcement costs.
 *
 * Environment as the reference proxy's: UPSTREAM_URL, PORT; CLIENT_KEY (the bench's by
 * default), REQUEST_LOG (a temporary SQLite file by default, or a postgres:// URL), FLOOR_FEATURES, FLOOR_KEYS,
 * FLOOR_KEY_LIMITS. Prints "listening PORT".
 */
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import picomatch from "picomatch";
import { TO_ANTHROPIC_STOP, toAnthropicUsage } from "../src/codecs/anthropic-messages/wire.ts";
import { fromGeminiFinish } from "../src/codecs/gemini/wire.ts";
import {
  fromOpenAIFinish,
  TO_OPENAI_FINISH,
  toOpenAIUsage,
} from "../src/codecs/openai-chat/wire.ts";
import { cidrMatches, parseAddress, parseCidr } from "../src/config/address-policy.ts";
import { estimateBodyTokens } from "../src/keys/estimate.ts";
import { utcDay, utcMonth } from "../src/keys/windows.ts";
import { Http1Client } from "../src/upstream/http1.ts";

/** One request as the log keeps it. */
interface LogRecord {
  requestId: string;
  time: number;
  method: string;
  route: string;
  clientKey: string | undefined;
  requestedModel: string | undefined;
  model: string | undefined;
  upstream: string | undefined;
  status: number;
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  /** levity's further columns: written with FLOOR_FEATURES only. */
  dialect?: string;
  account?: string;
  attempts?: number;
  stream?: boolean;
  ttfbMs?: number;
  cachedTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  costUsd?: number;
  error?: string;
  /** The second the client key's usage counted it in (FLOOR_FEATURES; not a column). */
  admittedSecond?: number;
  /** The tokens its key counted it for until its answer's own count (FLOOR_KEY_LIMITS; not a column). */
  estimatedTokens?: number;
}

/** The further columns, in the table's order. */
const FEATURE_COLUMNS = [
  "dialect",
  "account",
  "attempts",
  "stream",
  "ttfb_ms",
  "cached_tokens",
  "cache_write_tokens",
  "reasoning_tokens",
  "cost_usd",
  "error",
] as const;

const COLUMNS = [
  "request_id",
  "time",
  "method",
  "route",
  "client_key",
  "requested_model",
  "model",
  "upstream",
  "status",
  "duration_ms",
  "input_tokens",
  "output_tokens",
] as const;

/** REQUEST_LOG names a PostgreSQL server rather than a file (levity's own test: config/schema.ts). */
const isPostgresUrl = (text: string) => /^postgres(ql)?:\/\//.test(text);

if (Bun.isMainThread) serve();
else writeLog();

// ---------------------------------------------------------------------------------------------
// The log's thread: the inserts run here, so the serving thread never waits for the disk.

function writeLog(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<string | { path: string; features: boolean }>) => void) | null;
  };
  let write: ((batch: string) => void) | undefined;
  scope.onmessage = ({ data }) => {
    if (typeof data !== "string" && isPostgresUrl(data.path)) {
      write = postgresWriter(data.path, data.features === true);
      return;
    }
    if (typeof data !== "string") {
      const db = new Database(data.path, { create: true, strict: true });
      const features = data.features === true;
      // The busy timeout first, as levity's: a reader holding the file (its test polls it from the
      // start) made the switch to WAL fail at once, and the log was never written.
      db.exec(
        "PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
      );
      // The time index is what reading a log by period (and trimming it) needs; levity has one too.
      db.exec(
        `CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time INTEGER NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, client_key TEXT, requested_model TEXT, model TEXT, upstream TEXT, status INTEGER NOT NULL, duration_ms REAL NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS requests_time ON requests (time);`,
      );
      const columns: readonly string[] = features ? [...COLUMNS, ...FEATURE_COLUMNS] : COLUMNS;
      if (features) {
        // Only those missing: a log file written before (by this mode or the plain one) keeps its rows.
        const present = new Set(
          db
            .query<{ name: string }, []>("PRAGMA table_info(requests)")
            .all()
            .map((column) => column.name),
        );
        for (const column of FEATURE_COLUMNS)
          if (!present.has(column)) db.exec(`ALTER TABLE requests ADD COLUMN ${column}`);
      }
      const insert = db.prepare(
        `INSERT INTO requests (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      const transaction = db.transaction((records: LogRecord[]) => {
        for (const r of records) insert.run(...rowOf(r, features));
      });
      write = (batch) => transaction(JSON.parse(batch) as LogRecord[]);
      return;
    }
    write?.(data);
  };
}

/** The record's fields that are columns, in the table's order (the further ones with FLOOR_FEATURES). */
const PG_COLUMNS: readonly [string, string][] = [
  ["requestId", "TEXT NOT NULL UNIQUE"],
  ["time", "BIGINT NOT NULL"],
  ["method", "TEXT NOT NULL"],
  ["route", "TEXT NOT NULL"],
  ["clientKey", "TEXT"],
  ["requestedModel", "TEXT"],
  ["model", "TEXT"],
  ["upstream", "TEXT"],
  ["status", "INTEGER NOT NULL"],
  ["durationMs", "DOUBLE PRECISION NOT NULL"],
  ["inputTokens", "BIGINT NOT NULL"],
  ["outputTokens", "BIGINT NOT NULL"],
];
/** NOT NULL where levity's columns are; a record without the field stores levity's default. */
const PG_FEATURE_COLUMNS: readonly [string, string][] = [
  ["dialect", "TEXT"],
  ["account", "TEXT"],
  ["attempts", "INTEGER NOT NULL"],
  ["stream", "BOOLEAN NOT NULL"],
  ["ttfbMs", "DOUBLE PRECISION NOT NULL"],
  ["cachedTokens", "BIGINT NOT NULL"],
  ["cacheWriteTokens", "BIGINT NOT NULL"],
  ["reasoningTokens", "BIGINT NOT NULL"],
  ["costUsd", "DOUBLE PRECISION"],
  ["error", "TEXT"],
];
/** What a record's missing field is stored as, in the INSERT's SELECT. */
const PG_DEFAULTS: Readonly<Record<string, string>> = {
  attempts: "0",
  stream: "false",
  ttfbMs: "0",
  cachedTokens: "0",
  cacheWriteTokens: "0",
  reasoningTokens: "0",
};

/**
 * With REQUEST_LOG set to a postgres:// URL, the log is written to PostgreSQL as levity's shared
 * request log is (observe/postgres-request-log.ts): a table with a unique request id and an
 * index on time, and one INSERT a batch that PostgreSQL unpacks from one JSON text. Leaner than
 * levity's: the batch's JSON as the serving thread handed it over is the parameter (the columns
 * are named as the record's fields), on this thread, so nothing is encoded again.
 */
function postgresWriter(url: string, features: boolean): (batch: string) => void {
  const sql = new SQL(url);
  // levity's table also says whether the route was one it serves and which instance served it.
  const columns: [string, string][] = [
    ...(features ? [...PG_COLUMNS, ...PG_FEATURE_COLUMNS] : PG_COLUMNS),
    ["unmatched", "BOOLEAN NOT NULL"],
    ["instance", "TEXT"],
  ];
  const names = columns.map(([name]) => `"${name}"`).join(", ");
  const values = columns
    .map(([name]) =>
      name === "unmatched"
        ? "false"
        : name === "instance"
          ? "$2"
          : PG_DEFAULTS[name] !== undefined
            ? `COALESCE("${name}", ${PG_DEFAULTS[name]})`
            : `"${name}"`,
    )
    .join(", ");
  const instance = `${hostname()}:${process.pid}`;
  // Each start begins with an empty table: the bench's database outlives no run.
  let chain: Promise<unknown> = sql
    .unsafe(
      `DROP TABLE IF EXISTS floor_requests;
       CREATE TABLE floor_requests (seq BIGSERIAL PRIMARY KEY, ${columns.map(([name, type]) => `"${name}" ${type}`).join(", ")});
       CREATE INDEX floor_requests_time ON floor_requests (time);`,
    )
    .simple();
  const failed = (error: unknown) =>
    console.error(`floor: PostgreSQL: ${(error as Error).message}`);
  chain = chain.catch(failed);
  return (batch) => {
    chain = chain
      .then(() =>
        sql.unsafe(
          `INSERT INTO floor_requests (${names}) SELECT ${values} FROM json_populate_recordset(NULL::floor_requests, $1::text::json) ON CONFLICT ("requestId") DO NOTHING`,
          [batch, instance],
        ),
      )
      .catch(failed);
  };
}

/** A record's values in the table's column order: the further columns too with FLOOR_FEATURES. */
function rowOf(r: LogRecord, features: boolean): (string | number | null)[] {
  const row: (string | number | null)[] = [
    r.requestId,
    r.time,
    r.method,
    r.route,
    r.clientKey ?? null,
    r.requestedModel ?? null,
    r.model ?? null,
    r.upstream ?? null,
    r.status,
    r.durationMs,
    r.inputTokens,
    r.outputTokens,
  ];
  if (features)
    row.push(
      r.dialect ?? null,
      r.account ?? null,
      r.attempts ?? null,
      r.stream === undefined ? null : Number(r.stream),
      r.ttfbMs ?? null,
      r.cachedTokens ?? 0,
      r.cacheWriteTokens ?? 0,
      r.reasoningTokens ?? 0,
      r.costUsd ?? null,
      r.error ?? null,
    );
  return row;
}

// ---------------------------------------------------------------------------------------------
// The serving thread.

function serve(): void {
  const UPSTREAM = process.env.UPSTREAM_URL!;
  const CLIENT_KEY = process.env.CLIENT_KEY ?? "sk-bench-client-key-0001";
  const LOG_PATH =
    process.env.REQUEST_LOG ?? join(mkdtempSync(join(tmpdir(), "levity-floor-")), "requests.db");
  const JSON_TYPE = "application/json";
  const FEATURES = process.env.FLOOR_FEATURES === "1";

  interface Target {
    upstream: "oa" | "gm";
    model: string;
    url: string;
    headers: Record<string, string>;
  }
  // The bench's gateway.yaml and mappings.yaml, as levity holds them once loaded.
  const OPENAI_HEADERS = {
    "content-type": JSON_TYPE,
    authorization: "Bearer sk-upstream-bench-0001",
  };
  const GEMINI_HEADERS = { "content-type": JSON_TYPE, "x-goog-api-key": "gm-upstream-bench-0001" };
  const chatTarget: Target = {
    upstream: "oa",
    model: "bench-model",
    url: `${UPSTREAM}/v1/chat/completions`,
    headers: OPENAI_HEADERS,
  };
  const MAPPING = new Map<string, Target>([
    ["bench-model", chatTarget],
    [
      "gem-model",
      {
        upstream: "gm",
        model: "gemini-bench",
        url: `${UPSTREAM}/v1beta/models/gemini-bench:generateContent`,
        headers: GEMINI_HEADERS,
      },
    ],
    ["claude-bench", chatTarget],
  ]);
  // The client keys: the bench's one, or with FLOOR_KEYS a team's (a file of keys, one a line,
  // named member-0, member-1, ... as the bench's team gateway.yaml names them).
  const KEYS_FILE = process.env.FLOOR_KEYS;
  const secrets: [string, string][] = KEYS_FILE
    ? readFileSync(KEYS_FILE, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((secret, i) => [secret, `member-${i}`])
    : [[CLIENT_KEY, "bench"]];
  // The header's whole value, as each dialect's SDK sends it, to the key's name.
  const OPENAI_KEYS = new Map(secrets.map(([secret, name]) => [`Bearer ${secret}`, name]));
  const ANTHROPIC_KEYS = new Map(secrets);

  // --- metrics ---------------------------------------------------------------------------------

  // levity's buckets (observe/gateway-metrics.ts), in seconds.
  const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
  interface Series {
    count: number;
    sum: number;
    buckets: number[];
    /** Time to the answer's first byte: as long as the whole for an answer sent whole. */
    ttfbSum: number;
    ttfbBuckets: number[];
    inputTokens: number;
    outputTokens: number;
  }
  /** Tokens per client key, as levity's metrics keep them (one pair a key of FLOOR_KEYS). */
  const keyTokens = new Map<string, { input: number; output: number }>();
  interface Route {
    path: string;
    /** Series by target (its upstream and model; undefined when refused before one), then status: found without building a key string. */
    series: Map<Target | undefined, Map<number, Series>>;
  }
  const CHAT: Route = { path: "/v1/chat/completions", series: new Map() };
  const MESSAGES: Route = { path: "/v1/messages", series: new Map() };

  function observe(
    route: Route,
    target: Target | undefined,
    status: number,
    seconds: number,
    record: LogRecord,
  ) {
    let byStatus = route.series.get(target);
    if (!byStatus) {
      byStatus = new Map();
      route.series.set(target, byStatus);
    }
    let series = byStatus.get(status);
    if (!series) {
      series = {
        count: 0,
        sum: 0,
        buckets: new Array<number>(BUCKETS.length).fill(0),
        ttfbSum: 0,
        ttfbBuckets: new Array<number>(BUCKETS.length).fill(0),
        inputTokens: 0,
        outputTokens: 0,
      };
      byStatus.set(status, series);
    }
    series.count++;
    series.sum += seconds;
    series.ttfbSum += seconds;
    for (let i = 0; i < BUCKETS.length; i++)
      if (seconds <= BUCKETS[i]!) {
        series.buckets[i]!++;
        series.ttfbBuckets[i]!++;
        break;
      }
    series.inputTokens += record.inputTokens;
    series.outputTokens += record.outputTokens;
    if (record.clientKey !== undefined) {
      let own = keyTokens.get(record.clientKey);
      if (!own) {
        own = { input: 0, output: 0 };
        keyTokens.set(record.clientKey, own);
      }
      own.input += record.inputTokens;
      own.output += record.outputTokens;
    }
  }

  function renderMetrics(): string {
    let requests =
      "# HELP floor_requests_total Requests served.\n# TYPE floor_requests_total counter\n";
    let durations =
      "# HELP floor_request_duration_seconds Time from request to the answer's last byte.\n# TYPE floor_request_duration_seconds histogram\n";
    // The time to the first byte, kept as levity keeps it (its buckets are counted in observe).
    let ttfb =
      "# HELP floor_ttfb_seconds Time to the answer's first byte.\n# TYPE floor_ttfb_seconds summary\n";
    let tokens =
      "# HELP floor_tokens_total Tokens by route, upstream, model and status.\n# TYPE floor_tokens_total counter\n";
    for (const route of [CHAT, MESSAGES])
      for (const [target, byStatus] of route.series)
        for (const [status, s] of byStatus) {
          const labels = `route="${route.path}",upstream="${target?.upstream ?? ""}",model="${target?.model ?? ""}",status="${status}"`;
          requests += `floor_requests_total{${labels}} ${s.count}\n`;
          let cumulative = 0;
          BUCKETS.forEach((bound, i) => {
            cumulative += s.buckets[i]!;
            durations += `floor_request_duration_seconds_bucket{${labels},le="${bound}"} ${cumulative}\n`;
          });
          durations += `floor_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}\n`;
          durations += `floor_request_duration_seconds_sum{${labels}} ${s.sum}\n`;
          durations += `floor_request_duration_seconds_count{${labels}} ${s.count}\n`;
          ttfb += `floor_ttfb_seconds_sum{${labels}} ${s.ttfbSum}\n`;
          ttfb += `floor_ttfb_seconds_count{${labels}} ${s.count}\n`;
          tokens += `floor_tokens_total{${labels},kind="input"} ${s.inputTokens}\n`;
          tokens += `floor_tokens_total{${labels},kind="output"} ${s.outputTokens}\n`;
        }
    tokens +=
      "# HELP floor_key_tokens_total Tokens by client key.\n# TYPE floor_key_tokens_total counter\n";
    for (const [key, own] of keyTokens) {
      tokens += `floor_key_tokens_total{key="${key}",kind="input"} ${own.input}\n`;
      tokens += `floor_key_tokens_total{key="${key}",kind="output"} ${own.output}\n`;
    }
    return requests + durations + ttfb + tokens + (FEATURES ? renderFeatureMetrics() : "");
  }

  // --- the request log -------------------------------------------------------------------------

  const writer = new Worker(import.meta.url, { smol: true } as WorkerOptions);
  writer.postMessage({ path: LOG_PATH, features: FEATURES });
  writer.unref();
  let pending: LogRecord[] = [];
  const handOff = () => {
    if (pending.length === 0) return;
    writer.postMessage(JSON.stringify(pending));
    pending = [];
  };
  // As levity: every 1,000 records (500 to PostgreSQL, levity's batch there), and what is left
  // once a second.
  const HANDOFF_RECORDS = isPostgresUrl(LOG_PATH) ? 500 : 1000;
  setInterval(handOff, 1000).unref();

  /**
   * A request's record, made as it arrives: it is the request's state until it is logged. With
   * FLOOR_FEATURES, levity's request id form and its further columns; without, those stay
   * undefined (JSON leaves them out of the batches) and the object keeps one shape either way.
   */
  const arrived = (route: Route, clientKey: string | undefined): LogRecord => ({
    requestId: FEATURES
      ? `req_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`
      : crypto.randomUUID(),
    time: Date.now(),
    method: "POST",
    route: route.path,
    clientKey,
    requestedModel: undefined,
    model: undefined,
    upstream: undefined,
    status: 0,
    durationMs: 0,
    inputTokens: 0,
    outputTokens: 0,
    dialect: FEATURES ? (route === MESSAGES ? "anthropic-messages" : "openai-chat") : undefined,
    account: undefined,
    attempts: FEATURES ? 0 : undefined,
    stream: FEATURES ? false : undefined,
    ttfbMs: FEATURES ? 0 : undefined,
    cachedTokens: FEATURES ? 0 : undefined,
    cacheWriteTokens: FEATURES ? 0 : undefined,
    reasoningTokens: FEATURES ? 0 : undefined,
    costUsd: undefined,
    error: undefined,
    admittedSecond: undefined,
    estimatedTokens: undefined,
  });

  /** The request is answered (a stream: its last byte is sent): to the log and the metrics. */
  function finished(
    route: Route,
    record: LogRecord,
    target: Target | undefined,
    started: number,
    status: number,
  ): void {
    record.model = target?.model;
    record.upstream = target?.upstream;
    record.status = status;
    record.durationMs = performance.now() - started;
    if (FEATURES) answeredWithFeatures(record, target);
    // As levity (observe/after-answer.ts): logged and counted once the answer is handed over,
    // the turn's records in one setImmediate.
    if (laterRecords.push(record) === 1) setImmediate(takeLater);
    laterRoutes.push(route);
    laterTargets.push(target);
  }

  const laterRecords: LogRecord[] = [];
  const laterRoutes: Route[] = [];
  const laterTargets: (Target | undefined)[] = [];
  function takeLater(): void {
    for (let i = 0; i < laterRecords.length; i++) {
      const record = laterRecords[i]!;
      if (FEATURES) {
        record.costUsd = priceOf(record);
        // Spent by the key, as levity settles a key's month with the record's cost.
        if (record.clientKey !== undefined && record.costUsd !== undefined)
          keyUsageOf(record.clientKey).monthUsd += record.costUsd;
      }
      // Priced first: the record that fills a batch is handed over with its cost.
      pending.push(record);
      if (pending.length >= HANDOFF_RECORDS) handOff();
      observe(laterRoutes[i]!, laterTargets[i], record.status, record.durationMs / 1000, record);
      if (FEATURES) observeFeatures(laterTargets[i], record);
    }
    laterRecords.length = 0;
    laterRoutes.length = 0;
    laterTargets.length = 0;
  }

  // --- levity's features, with FLOOR_FEATURES -------------------------------------------------

  /**
   * A client key's usage as levity counts it (keys/windows.ts): per-second buckets over a minute,
   * with the minute's totals kept as buckets change (what a limit is checked against), the day's
   * tokens and the month's spend.
   */
  class KeyUsage {
    inFlight = 0;
    second = 0;
    readonly requests = new Array<number>(60).fill(0);
    readonly tokens = new Array<number>(60).fill(0);
    requestsInMinute = 0;
    tokensInMinute = 0;
    day = 0;
    dayTokens = 0;
    month = "";
    monthUsd = 0;

    constructor(readonly name: string) {}

    /** Empties the buckets a minute old, the day's total at midnight UTC and the month's spend at its first. */
    roll(now: number): number {
      const second = Math.floor(now / 1000);
      for (let s = this.second + 1; s <= Math.min(second, this.second + 60); s++) {
        this.requestsInMinute -= this.requests[s % 60]!;
        this.tokensInMinute -= this.tokens[s % 60]!;
        this.requests[s % 60] = 0;
        this.tokens[s % 60] = 0;
      }
      if (second > this.second) this.second = second;
      const day = utcDay(now);
      if (day !== this.day) {
        this.day = day;
        this.dayTokens = 0;
        // The month is worked out only when the day changes, as levity's rollOver does.
        const month = utcMonth(now);
        if (month !== this.month) {
          this.month = month;
          this.monthUsd = 0;
        }
      }
      return second;
    }

    /** Counted in this second, with its estimated tokens; the record keeps the second, as levity's ticket does. */
    admit(record: LogRecord, estimate: number): void {
      const second = this.roll(Date.now());
      this.requests[second % 60]!++;
      this.requestsInMinute++;
      this.tokens[second % 60]! += estimate;
      this.tokensInMinute += estimate;
      this.dayTokens += estimate;
      this.inFlight++;
      record.admittedSecond = second;
      record.estimatedTokens = estimate;
      dirtyKeys.add(this);
    }

    /** Once answered: its tokens replace its estimate in the second it was admitted in, if still in the window. */
    settle(record: LogRecord, tokens: number): void {
      const admitted = record.admittedSecond;
      if (admitted === undefined) return;
      record.admittedSecond = undefined;
      const admittedDay = utcDay(admitted * 1000);
      const second = this.roll(Date.now());
      this.inFlight--;
      const change = tokens - (record.estimatedTokens ?? 0);
      // As levity's settle (keys/admission.ts): the estimate corrected in the second it was
      // counted in while that is in the minute, else the tokens counted now; the day's likewise.
      if (second - admitted < 60) {
        this.tokens[admitted % 60]! += change;
        this.tokensInMinute += change;
      } else {
        this.tokens[second % 60]! += tokens;
        this.tokensInMinute += tokens;
      }
      this.dayTokens = Math.max(0, this.dayTokens + (admittedDay === this.day ? change : tokens));
      dirtyKeys.add(this);
    }
  }
  /** Each key's usage, made at its first request, as levity's counters are. */
  const usages = new Map<string, KeyUsage>();
  const keyUsageOf = (name: string): KeyUsage => {
    let usage = usages.get(name);
    if (!usage) {
      usage = new KeyUsage(name);
      usages.set(name, usage);
    }
    return usage;
  };
  /** The keys counted since the last save. */
  const dirtyKeys = new Set<KeyUsage>();
  if (FEATURES) {
    // Saved once a second on the serving thread, the keys that changed in one transaction, as
    // levity saves its keys' counters.
    // Beside the log's file; with the log in PostgreSQL, in a file of its own, as levity keeps
    // its keys' counters in levity.db whatever holds its request log.
    const countersPath = isPostgresUrl(LOG_PATH)
      ? join(mkdtempSync(join(tmpdir(), "levity-floor-")), "keys.db")
      : `${LOG_PATH}-keys`;
    const counters = new Database(countersPath, { create: true, strict: true });
    counters.exec(
      "PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE IF NOT EXISTS key_counters (key TEXT PRIMARY KEY, state TEXT NOT NULL);",
    );
    const save = counters.prepare(
      "INSERT INTO key_counters (key, state) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET state = excluded.state",
    );
    const saveAll = counters.transaction((changed: KeyUsage[]) => {
      for (const { name, second, requests, tokens, day, dayTokens, month, monthUsd } of changed)
        save.run(
          name,
          JSON.stringify({ second, requests, tokens, day, dayTokens, month, monthUsd }),
        );
    });
    setInterval(() => {
      if (dirtyKeys.size === 0) return;
      const changed = [...dirtyKeys];
      dirtyKeys.clear();
      saveAll(changed);
    }, 1000).unref();
  }

  /**
   * The models and networks a key may use, with the verdicts already reached: one for every key
   * that names the same globs and networks, as levity keeps them (keys/service.ts).
   */
  interface KeyRules {
    matches: (model: string) => boolean;
    modelVerdicts: Map<string, boolean>;
    addressVerdicts: Map<string, boolean>;
  }
  /**
   * With FLOOR_KEY_LIMITS, every key has the bench's team limits (bench/run.ts), each key its own
   * record as levity holds them: the models it may name and the network it may send from (the
   * same rules for every key here), its rates, its requests in flight and its budgets.
   */
  interface KeyLimits {
    rules: KeyRules;
    rpm: number;
    tpm: number;
    concurrency: number;
    dailyTokens: number;
    monthlyUsd: number;
  }
  const KEY_LIMITS = process.env.FLOOR_KEY_LIMITS === "1";
  const TEAM_RULES: KeyRules = {
    matches: picomatch(["bench-*", "gem-*"], { dot: true }),
    modelVerdicts: new Map(),
    addressVerdicts: new Map(),
  };
  const limitsByKey = new Map<string, KeyLimits>(
    KEY_LIMITS
      ? secrets.map(([, name]) => [
          name,
          {
            rules: TEAM_RULES,
            rpm: 1_000_000,
            tpm: 1_000_000_000,
            concurrency: 1000,
            dailyTokens: 1_000_000_000_000,
            monthlyUsd: 1_000_000,
          },
        ])
      : [],
  );
  /** The bench's keys' network (`ips`), parsed as levity parses a key's. */
  const TEAM_NETWORK = parseCidr("127.0.0.0/8")!;
  const inTeamNetwork = (address: string): boolean => {
    const parsed = parseAddress(address);
    return parsed !== undefined && cidrMatches(TEAM_NETWORK, parsed);
  };

  /**
   * A key's limits, checked in levity's order (http/middleware/enforce-key.ts, keys/admission.ts):
   * its network, its models, then its budgets, rates and requests in flight against the body's
   * estimated tokens. Returns the estimate, or the refusal.
   */
  function keyVerdict(
    limits: KeyLimits,
    usage: KeyUsage,
    model: unknown,
    request: Request,
    text: string,
  ): number | Refused {
    const address = server.requestIP(request)?.address;
    if (address === undefined) return new Refused(403, "This key may not be used from here.");
    const { rules } = limits;
    let allowed = rules.addressVerdicts.get(address);
    if (allowed === undefined) {
      allowed = inTeamNetwork(address);
      rules.addressVerdicts.set(address, allowed);
    }
    if (!allowed) return new Refused(403, "This key may not be used from this address.");
    if (typeof model === "string") {
      let verdict = rules.modelVerdicts.get(model);
      if (verdict === undefined) {
        verdict = rules.matches(model);
        if (model.length <= 256) rules.modelVerdicts.set(model, verdict);
      }
      if (!verdict) return new Refused(403, "This key may not use this model.");
    }
    const estimate = estimateBodyTokens(text);
    const second = usage.roll(Date.now());
    if (usage.monthUsd >= limits.monthlyUsd)
      return new Refused(429, "This key's monthly budget is spent.");
    if (usage.dayTokens > 0 && usage.dayTokens + estimate > limits.dailyTokens)
      return new Refused(429, "This key's daily tokens are spent.");
    if (usage.requestsInMinute + 1 > limits.rpm)
      return new Refused(429, `This key sent too many requests (second ${second}).`);
    if (usage.tokensInMinute > 0 && usage.tokensInMinute + estimate > limits.tpm)
      return new Refused(429, "This key sent too many tokens this minute.");
    if (usage.inFlight >= limits.concurrency)
      return new Refused(429, "This key has too many requests in flight.");
    return estimate;
  }

  /** An account as levity's pool keeps it: requests in flight, token totals, its health. */
  interface Account {
    name: string;
    inFlight: number;
    requests: number;
    input: number;
    output: number;
    cached: number;
    coolUntil: number;
    failures: number;
    lastOk: number;
    disabled: boolean;
    probes: number;
    /** Requests waiting for this account to come out of its cooldown, woken when a lease ends. */
    waiters: (() => void)[];
    serves(model: string): boolean;
  }
  const newAccount = (name: string): Account => ({
    name,
    inFlight: 0,
    requests: 0,
    input: 0,
    output: 0,
    cached: 0,
    coolUntil: 0,
    failures: 0,
    lastOk: 0,
    disabled: false,
    probes: 0,
    waiters: [],
    // An account may be limited to models by glob; the bench's serve every model.
    serves: () => true,
  });
  const ACCOUNTS = new Map<Target["upstream"], Account>([
    ["oa", newAccount("bench")],
    ["gm", newAccount("bench")],
  ]);

  /** The account of the target's upstream, unless it is cooling down; counted as leased. */
  function lease(record: LogRecord, target: Target, stream: boolean): Account | undefined {
    const account = ACCOUNTS.get(target.upstream)!;
    const now = Date.now();
    if (account.disabled || account.coolUntil > now || !account.serves(target.model))
      return undefined;
    // A host quiet for 30 s is probed by levity before the call (the bench's never is).
    if (now - (lastAnswered.get(target.upstream) ?? now) >= 30_000) account.probes++;
    account.inFlight++;
    account.requests++;
    record.account = account.name;
    record.attempts = 1;
    record.stream = stream;
    return account;
  }

  /** At the answer: the key's and the account's counts settled, as levity's lease and key service do. */
  function answeredWithFeatures(record: LogRecord, target: Target | undefined): void {
    record.ttfbMs = record.durationMs;
    const tokens = record.inputTokens + record.outputTokens;
    if (record.clientKey !== undefined) keyUsageOf(record.clientKey).settle(record, tokens);
    if (!target || record.account === undefined) return;
    const account = ACCOUNTS.get(target.upstream)!;
    account.inFlight--;
    if (account.waiters.length > 0) for (const wake of account.waiters.splice(0)) wake();
    const now = Date.now();
    if (record.status < 400) {
      account.input += record.inputTokens;
      account.output += record.outputTokens;
      account.cached += record.cachedTokens ?? 0;
      account.failures = 0;
      account.lastOk = now;
    } else if (record.status === 429 || record.status >= 500) {
      account.failures++;
      account.coolUntil = now + 1000 * 2 ** Math.min(account.failures, 6);
    }
  }

  /** levity's limit on a whole answer (proxy.upstream_limits.body_mb). */
  const ANSWER_MAX_BYTES = 64 * 1024 * 1024;
  /** When each upstream last answered: levity probes one that has been quiet before calling it. */
  const lastAnswered = new Map<Target["upstream"], number>();
  /**
   * A whole answer as levity reads it from its own client: its encoding read (gzip decoded,
   * since levity asks for it), its size held to the limit, and its upstream noted as answering.
   */
  function featuredAnswer(
    target: Target,
    head: { ok: boolean; status: number; headers: Headers },
    bytes: Uint8Array | null,
  ): WholeAnswer {
    lastAnswered.set(target.upstream, Date.now());
    const encoding = head.headers.get("content-encoding")?.trim().toLowerCase() ?? "identity";
    let body = bytes ?? new Uint8Array(0);
    if (encoding === "gzip") body = Bun.gunzipSync(body as Uint8Array<ArrayBuffer>);
    if (body.byteLength > ANSWER_MAX_BYTES) throw new Refused(502, "The answer is too large.");
    return { ok: head.ok, status: head.status, text: utf8.decode(body), headers: head.headers };
  }

  /** gateway.yaml's key is never revoked and never expires; levity asks anyway (keys made with `levity keys add` can). */
  const KEY_EXPIRES: number | undefined = undefined;
  const keyUsable = (now: number) => KEY_EXPIRES === undefined || now < KEY_EXPIRES;
  /** Origins whose web pages may call (proxy.cors): none in the bench's configuration. */
  const ALLOWED_ORIGINS: ReadonlySet<string> = new Set();
  const PRINTABLE = /^[\x20-\x7e]*$/;

  /** Context windows levity knows by model family (a few of its table's rows); the bench's models are not among them. */
  const CONTEXT_WINDOWS: ReadonlyMap<string, number> = new Map([
    ["gpt-4o", 128_000],
    ["gpt-4.1", 1_047_576],
    ["claude-sonnet-4", 200_000],
    ["gemini-2.5-pro", 1_048_576],
  ]);
  const DATED = /-\d{4}-?\d{2}-?\d{2}$/;
  /** Whether a prompt of this many characters fits the model's window (about 4 characters a token); unknown models fit. */
  function fits(model: string, characters: number): boolean {
    const name = model.toLowerCase();
    const slash = name.lastIndexOf("/");
    const bare = slash >= 0 ? name.slice(slash + 1) : name;
    const window = CONTEXT_WINDOWS.get(DATED.test(bare) ? bare.replace(DATED, "") : bare);
    return window === undefined || characters / 4 <= window;
  }

  /**
   * What levity would change for an OpenAI-compatible provider's profile: developer messages,
   * the max-tokens field's name, stream_options. The bench's upstream takes the body as it is,
   * so nothing changes; what is paid is the look.
   */
  function adaptations(body: ChatBody & { stream_options?: unknown }): number {
    let found = 0;
    for (const message of body.messages ?? []) if (message.role === "developer") found++;
    if (body.max_completion_tokens !== undefined && body.max_tokens === undefined) found++;
    if (body.stream_options !== undefined && body.stream !== true) found++;
    return found;
  }

  /** The SDKs' protocol headers levity forwards to an upstream of their own dialect. */
  const FORWARDED = ["openai-beta", "anthropic-version", "anthropic-beta", "user-agent", "accept"];
  /** What it forwards to an upstream of another dialect (src/upstream/protocol.ts). */
  const TRANSLATED_FORWARDED = ["user-agent"];
  function upstreamHeaders(
    target: Target,
    request: Request,
    sameDialect: boolean,
  ): Record<string, string> {
    const headers: Record<string, string> = { ...target.headers, "accept-encoding": "gzip" };
    for (const name of sameDialect ? FORWARDED : TRANSLATED_FORWARDED) {
      const value = request.headers.get(name);
      if (value) headers[name] = value;
    }
    return headers;
  }

  /** The upstream's headers a client may read: its rate limits and retry hints (levity's list, in short). */
  const PASSED: ReadonlySet<string> = new Set([
    "cache-control",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "openai-processing-ms",
    "openai-version",
    "request-id",
  ]);
  function copyPassed(this: Record<string, string>, value: string, name: string): void {
    if (
      PASSED.has(name) ||
      name.startsWith("x-ratelimit-") ||
      name.startsWith("anthropic-ratelimit-")
    )
      this[name] = value;
  }

  /** The answer's headers: the upstream's that pass, the routing headers and the request id. */
  function routedHeaders(
    upstream: Headers | undefined,
    record: LogRecord,
    target: Target,
    origin: string | null,
  ): Record<string, string> {
    const headers: Record<string, string> = { "content-type": JSON_TYPE };
    // A web page's request: the answer varies with its Origin (levity's CORS rules, in short).
    if (origin !== null && ALLOWED_ORIGINS.has(origin)) {
      headers["access-control-allow-origin"] = origin;
      headers.vary = "Origin";
    }
    upstream?.forEach(copyPassed, headers);
    headers["x-mapped-model"] = PRINTABLE.test(target.model)
      ? target.model
      : encodeURIComponent(target.model);
    headers["x-upstream"] = target.upstream;
    headers["x-account"] = record.account ?? "-";
    headers["x-attempts"] = String(record.attempts ?? 1);
    headers["x-request-id"] = record.requestId;
    return headers;
  }

  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  const CONTROL = /[\u0000-\u001f\u007f]/;
  /** What levity refuses in a chat body before it maps the model; undefined for a body it takes. */
  function bodyProblem(body: ChatBody): string | undefined {
    const { model, stream } = body;
    if (typeof model !== "string" || model.trim() === "") return "model is missing.";
    if (model.length > 256 || CONTROL.test(model) || !model.isWellFormed())
      return "model must be a name of at most 256 printable characters.";
    // null is read as absent, as levity reads it.
    if (stream !== undefined && stream !== null && typeof stream !== "boolean")
      return "stream must be true or false.";
    return undefined;
  }

  // levity's request caps (proxy.limits' defaults), checked where it translates a request.
  const MAX_MESSAGES = 50_000;
  const MAX_PARTS = 200_000;
  const MAX_TOOLS = 2_000;
  const CHAT_ROLES: ReadonlySet<string> = new Set([
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
  ]);
  const ANTHROPIC_ROLES: ReadonlySet<string> = new Set(["user", "assistant", "system"]);
  /**
   * What levity refuses in a body it translates, before any account is asked (pass-through
   * leaves the messages to the upstream): the caps, and each message an object with a role of
   * the dialect's and content that is text or a list of blocks.
   */
  function translationProblem(body: ChatBody, roles: ReadonlySet<string>): string | undefined {
    const messages: unknown = body.messages;
    if (!Array.isArray(messages) || messages.length === 0)
      return "messages must be a list of at least one message.";
    if (messages.length > MAX_MESSAGES) return `messages: at most ${MAX_MESSAGES}.`;
    let parts = 0;
    for (const message of messages) {
      if (typeof message !== "object" || message === null) return "Each message must be an object.";
      const { role, content } = message as { role?: unknown; content?: unknown };
      if (typeof role !== "string" || !roles.has(role))
        return "A message's role is not this API's.";
      if (Array.isArray(content)) {
        parts += content.length;
        for (const block of content)
          if (typeof block !== "object" || block === null) return "Each block must be an object.";
      } else if (content !== undefined && content !== null && typeof content !== "string")
        return "A message's content must be text or a list of blocks.";
    }
    if (parts > MAX_PARTS) return `content parts: at most ${MAX_PARTS}.`;
    const tools: unknown = (body as { tools?: unknown }).tools;
    if (Array.isArray(tools) && tools.length > MAX_TOOLS) return `tools: at most ${MAX_TOOLS}.`;
    return undefined;
  }

  interface ChatUsage {
    prompt_tokens?: number;
    completion_tokens?: number;
    total_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number };
    completion_tokens_details?: { reasoning_tokens?: number };
    prompt_cache_hit_tokens?: number;
    cached_tokens?: number;
  }
  interface FullChatAnswer {
    error?: unknown;
    choices?: {
      message?: {
        content?: unknown;
        refusal?: unknown;
        reasoning_content?: unknown;
        tool_calls?: unknown[];
      };
      finish_reason?: string;
    }[];
    usage?: ChatUsage;
  }
  /**
   * The usage levity reads of a chat completion (cached and reasoning tokens, xAI's reasoning
   * outside completion_tokens), and why it is not an answer: an error inside a 200, or nothing.
   */
  function readChatAnswer(answer: FullChatAnswer, record: LogRecord): string | undefined {
    if (typeof answer.error === "object" && answer.error !== null)
      return "The upstream answered 200 with an error.";
    const usage = answer.usage;
    const input = usage?.prompt_tokens ?? 0;
    const reasoning = usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    let output = usage?.completion_tokens ?? 0;
    if (reasoning > 0 && usage?.total_tokens === input + output + reasoning) output += reasoning;
    record.inputTokens = input;
    record.outputTokens = output;
    record.reasoningTokens = reasoning;
    record.cachedTokens =
      usage?.prompt_tokens_details?.cached_tokens ??
      usage?.prompt_cache_hit_tokens ??
      usage?.cached_tokens ??
      0;
    const choice = answer.choices?.[0];
    const message = choice?.message;
    const said =
      (typeof message?.content === "string" && message.content !== "") ||
      (typeof message?.refusal === "string" && message.refusal !== "") ||
      (typeof message?.reasoning_content === "string" && message.reasoning_content !== "") ||
      (Array.isArray(message?.tool_calls) && message.tool_calls.length > 0);
    // As levity: only an answer that ended, having said nothing, is empty (one cut at its
    // length limit, filtered or calling tools is the client's to read).
    return said || fromOpenAIFinish(choice?.finish_reason) !== "end"
      ? undefined
      : "The upstream answered with nothing.";
  }

  /**
   * The usage levity reads of a Gemini answer (tool-use prompt tokens as input, thoughts as output
   * and reasoning, cached tokens), and why it is not an answer: an error inside a 200, or nothing
   * said where the answer ended normally.
   */
  function readGeminiAnswer(answer: GeminiAnswer, record: LogRecord): string | undefined {
    const usage = answer.usageMetadata;
    const thoughts = usage?.thoughtsTokenCount ?? 0;
    record.inputTokens = (usage?.promptTokenCount ?? 0) + (usage?.toolUsePromptTokenCount ?? 0);
    record.outputTokens = (usage?.candidatesTokenCount ?? 0) + thoughts;
    record.reasoningTokens = thoughts;
    record.cachedTokens = usage?.cachedContentTokenCount ?? 0;
    const candidate = answer.candidates?.[0];
    if (!candidate) {
      // A blocked prompt is the client's content filter; without one, an error or nothing.
      if (answer.promptFeedback?.blockReason) return undefined;
      if (typeof answer.error === "object" && answer.error !== null)
        return "The upstream answered 200 with an error.";
      return "The upstream answered with nothing.";
    }
    // What levity counts as said (src/pipeline/first-content.ts): text, a thought, a call, media.
    for (const part of candidate.content?.parts ?? [])
      if (
        (typeof part.text === "string" && part.text !== "") ||
        part.thought === true ||
        part.functionCall !== undefined ||
        part.inlineData !== undefined ||
        part.fileData !== undefined
      )
        return undefined;
    const reason = candidate.finishReason;
    return fromGeminiFinish(reason, false) === "end"
      ? "The upstream answered with nothing."
      : undefined;
  }

  /** Prices by upstream, then model, looked up once each (the bench's models have none). */
  const prices = new Map<string, Map<string, number | null>>();
  function priceOf(record: LogRecord): number | undefined {
    if (!record.upstream || !record.model) return record.upstream ? undefined : 0;
    let byModel = prices.get(record.upstream);
    if (!byModel) {
      byModel = new Map();
      prices.set(record.upstream, byModel);
    }
    let perToken = byModel.get(record.model);
    if (perToken === undefined) {
      perToken = null;
      byModel.set(record.model, perToken);
    }
    return perToken === null ? undefined : perToken * (record.inputTokens + record.outputTokens);
  }

  /** Tokens by kind, per target and account, per client key, and the prompt cache's totals. */
  interface KindCounts {
    input: number;
    output: number;
    cached: number;
    cache_write: number;
    reasoning: number;
  }
  const zeroKinds = (): KindCounts => ({
    input: 0,
    output: 0,
    cached: 0,
    cache_write: 0,
    reasoning: 0,
  });
  const tokensByAccount = new Map<Target, Map<string, KindCounts>>();
  const keyKinds = zeroKinds();
  const cacheTotals = new Map<Target, { input: number; cached: number }>();
  function observeFeatures(target: Target | undefined, record: LogRecord): void {
    if (!target || record.account === undefined) return;
    let byAccount = tokensByAccount.get(target);
    if (!byAccount) {
      byAccount = new Map();
      tokensByAccount.set(target, byAccount);
    }
    let kinds = byAccount.get(record.account);
    if (!kinds) {
      kinds = zeroKinds();
      byAccount.set(record.account, kinds);
    }
    addKinds(kinds, record);
    addKinds(keyKinds, record);
    if (record.inputTokens > 0) {
      let totals = cacheTotals.get(target);
      if (!totals) {
        totals = { input: 0, cached: 0 };
        cacheTotals.set(target, totals);
      }
      totals.input += record.inputTokens;
      totals.cached += record.cachedTokens ?? 0;
    }
  }
  function addKinds(kinds: KindCounts, record: LogRecord): void {
    kinds.input += record.inputTokens;
    kinds.output += record.outputTokens;
    kinds.cached += record.cachedTokens ?? 0;
    kinds.cache_write += record.cacheWriteTokens ?? 0;
    kinds.reasoning += record.reasoningTokens ?? 0;
  }
  function renderFeatureMetrics(): string {
    let text =
      "# HELP floor_account_tokens_total Tokens by upstream, model, account and kind.\n# TYPE floor_account_tokens_total counter\n";
    for (const [target, byAccount] of tokensByAccount)
      for (const [account, kinds] of byAccount)
        for (const [kind, count] of Object.entries(kinds))
          text += `floor_account_tokens_total{upstream="${target.upstream}",model="${target.model}",account="${account}",kind="${kind}"} ${count}\n`;
    for (const [target, totals] of cacheTotals)
      text += `floor_prompt_cache_hit_ratio{upstream="${target.upstream}",model="${target.model}"} ${totals.input ? totals.cached / totals.input : 0}\n`;
    return text;
  }

  // --- the answers -----------------------------------------------------------------------------

  interface ChatMessage {
    role: string;
    content: string | { type: string; text?: string }[];
  }
  interface ChatBody {
    model?: unknown;
    messages?: ChatMessage[];
    max_tokens?: number;
    max_completion_tokens?: number;
    stream?: boolean;
  }
  interface AnthropicBody extends ChatBody {
    system?: ChatMessage["content"];
  }
  interface ChatAnswer {
    id?: string;
    model?: string;
    choices?: { message?: { content?: string | null }; finish_reason?: string }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number };
  }
  interface GeminiAnswer {
    error?: unknown;
    responseId?: string;
    candidates?: {
      content?: {
        parts?: {
          text?: string;
          thought?: boolean;
          functionCall?: unknown;
          inlineData?: unknown;
          fileData?: unknown;
        }[];
      };
      finishReason?: string;
    }[];
    promptFeedback?: { blockReason?: string };
    usageMetadata?: {
      promptTokenCount?: number;
      toolUsePromptTokenCount?: number;
      candidatesTokenCount?: number;
      thoughtsTokenCount?: number;
      cachedContentTokenCount?: number;
    };
  }

  /** A message's text: a string, or its text blocks joined (what the bench's clients send). */
  function textOf(content: ChatMessage["content"] | undefined): string {
    if (typeof content === "string") return content;
    let text = "";
    for (const block of content ?? []) if (typeof block.text === "string") text += block.text;
    return text;
  }

  const json = (body: string, status: number, requestId: string) =>
    new Response(body, {
      status,
      headers: { "content-type": JSON_TYPE, "x-request-id": requestId },
    });

  /** levity's refusals are logged and counted too, in the client's own error shape. */
  function refuse(
    route: Route,
    record: LogRecord,
    target: Target | undefined,
    started: number,
    status: number,
    message: string,
  ): Response {
    if (FEATURES) record.error = message;
    finished(route, record, target, started, status);
    return json(
      JSON.stringify(
        route === MESSAGES
          ? { type: "error", error: { type: "invalid_request_error", message } }
          : { error: { message, type: "invalid_request_error", code: null } },
      ),
      status,
      record.requestId,
    );
  }

  /** The mapping's target for the model the body names, which the record keeps. */
  function mapped(record: LogRecord, body: ChatBody | null): Target | undefined {
    if (typeof body?.model !== "string") return undefined;
    record.requestedModel = body.model;
    return MAPPING.get(body.model);
  }

  /** An OpenAI chat body as Gemini's generateContent. */
  function toGemini(body: ChatBody): string {
    const contents: { role: string; parts: { text: string }[] }[] = [];
    let system: string | undefined;
    for (const message of body.messages ?? []) {
      const text = textOf(message.content);
      if (message.role === "system" || message.role === "developer")
        system = system === undefined ? text : `${system}\n${text}`;
      else
        contents.push({ role: message.role === "assistant" ? "model" : "user", parts: [{ text }] });
    }
    const gemini: Record<string, unknown> = { contents };
    if (system !== undefined) gemini.systemInstruction = { parts: [{ text: system }] };
    const max = body.max_completion_tokens ?? body.max_tokens;
    if (max !== undefined) gemini.generationConfig = { maxOutputTokens: max };
    return JSON.stringify(gemini);
  }

  /** An Anthropic messages body as an OpenAI chat body. */
  function toChat(body: AnthropicBody, model: string): string {
    const messages: { role: string; content: string }[] = [];
    if (body.system !== undefined) messages.push({ role: "system", content: textOf(body.system) });
    for (const message of body.messages ?? [])
      messages.push({ role: message.role, content: textOf(message.content) });
    return JSON.stringify({ model, messages, max_tokens: body.max_tokens });
  }

  // --- what every request is checked for before its body is used ------------------------------

  /** Host headers already admitted (loopback names, the address the floor listens on). */
  const admittedHosts = new Set<string>();
  function hostAdmitted(host: string | null): boolean {
    if (host === null || admittedHosts.has(host)) return true;
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
    if (name !== "127.0.0.1" && name !== "localhost" && name !== "[::1]") return false;
    admittedHosts.add(host);
    return true;
  }

  // levity's defaults: proxy.max_body_mb and proxy.body_timeout.
  const MAX_BODY_BYTES = 32 * 1024 * 1024;
  const BODY_TIMEOUT_MS = 60_000;
  /**
   * Deadlines of bodies being read and of upstream calls, visited by one interval (no timer per
   * request); a call is also ended when its client has gone, as levity's watch list does.
   */
  interface Deadline {
    at: number;
    fire: () => void;
    client?: AbortSignal;
  }
  const deadlines = new Set<Deadline>();
  setInterval(() => {
    const now = performance.now();
    for (const deadline of deadlines)
      if (now >= deadline.at || deadline.client?.aborted) {
        deadlines.delete(deadline);
        deadline.fire();
      }
  }, 100).unref();

  class Refused extends Error {
    constructor(
      readonly status: number,
      message: string,
    ) {
      super(message);
    }
  }

  /** Strict UTF-8, as levity reads a body: a broken byte is refused, not replaced. */
  const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
  /** The body's text, under the size limit and within the body timeout (strict with FLOOR_FEATURES). */
  function readBody(request: Request, strict: boolean): Promise<string> {
    if (Number(request.headers.get("content-length")) > MAX_BODY_BYTES)
      return Promise.reject(new Refused(413, "The body is larger than the limit."));
    return new Promise((resolve, reject) => {
      const deadline = {
        at: performance.now() + BODY_TIMEOUT_MS,
        fire: () => reject(new Refused(408, "The body did not arrive in time.")),
      };
      deadlines.add(deadline);
      if (strict)
        request.arrayBuffer().then(
          (bytes) => {
            deadlines.delete(deadline);
            try {
              resolve(strictUtf8.decode(bytes));
            } catch {
              reject(new Refused(400, "The body is not valid UTF-8."));
            }
          },
          (error) => {
            deadlines.delete(deadline);
            reject(error);
          },
        );
      else
        request.text().then(
          (text) => {
            deadlines.delete(deadline);
            resolve(text);
          },
          (error) => {
            deadlines.delete(deadline);
            reject(error);
          },
        );
    });
  }

  // A whole answer comes through levity's own HTTP/1.1 client while fewer than two calls wait
  // for theirs and at most two requests are being served, as levity's do (src/upstream/forward.ts): on the serving thread, without fetch's
  // crossing to its own thread and back, which is the leaner way when that thread has time.
  // Streams and busier moments go through fetch, as in levity.
  interface WholeAnswer {
    ok: boolean;
    status: number;
    text: string;
    /** The upstream's headers, asked for with FLOOR_FEATURES (levity passes some on). */
    headers?: Headers;
  }
  const http1 = new Http1Client();
  const utf8 = new TextDecoder();
  let waiting = 0;

  // levity's default upstream limits (proxy.request_timeout, timeouts.total): a call without them
  // would hold its request for as long as a dead upstream keeps the connection open.
  const FIRST_BYTE_MS = 300_000;
  const TOTAL_MS = 3_600_000;
  /**
   * An upstream call's signal: aborted at its time limit or when the client goes, as levity's
   * calls are (an AbortController and a place on the watch list a call; the client's signal read).
   */
  function limitedCall(request: Request, limitMs: number): Deadline & { abort: AbortController } {
    const abort = new AbortController();
    const client = request.signal;
    const call = {
      at: performance.now() + limitMs,
      // A client that left is levity's 499 (no fault of the account's); the time limit its 504.
      fire: () =>
        abort.abort(
          client.aborted
            ? new Refused(499, "The client closed the request.")
            : new Refused(504, "The upstream did not answer in time."),
        ),
      client,
      abort,
    };
    deadlines.add(call);
    return call;
  }

  /** Requests being served: levity's own client only while at most two are (as levity). */
  let serving = 0;
  async function counted(
    handler: (request: Request) => Promise<Response>,
    request: Request,
  ): Promise<Response> {
    serving++;
    try {
      return await handler(request);
    } finally {
      serving--;
    }
  }

  async function wholeAnswer(
    target: Target,
    body: string,
    signal: AbortSignal,
    headers: Record<string, string>,
  ): Promise<WholeAnswer> {
    const inline = waiting < 2 && serving <= 2;
    waiting++;
    try {
      if (!inline) {
        if (FEATURES) {
          // levity undoes an answer's encoding itself, under its limit (fetch would, with none).
          const answer = await fetch(target.url, {
            method: "POST",
            headers,
            body,
            signal,
            decompress: false,
          } as RequestInit);
          return featuredAnswer(target, answer, await answer.bytes());
        }
        const answer = await fetch(target.url, {
          method: "POST",
          headers,
          body,
          signal,
        });
        return { ok: answer.ok, status: answer.status, text: await answer.text() };
      }
      const {
        head,
        bytes,
        body: rest,
      } = await http1.request(target.url, {
        method: "POST",
        headers,
        body,
        signal,
      });
      if (FEATURES)
        return featuredAnswer(target, head, bytes ?? (await new Response(rest).bytes()));
      const text =
        bytes === undefined ? await new Response(rest).text() : bytes ? utf8.decode(bytes) : "";
      return { ok: head.ok, status: head.status, text };
    } finally {
      waiting--;
    }
  }

  const UNREACHABLE = "The upstream could not be reached.";
  // What the floor does not translate: levity would; the bench never asks.
  const NOT_THE_BENCHS = "The messages are not the bench's kind.";
  const WHOLE_FROM_OPENAI = "The floor serves these whole, from OpenAI.";

  /** What levity refuses before it reads a body: a foreign Host, no usable key, a form upload. */
  function refusedBeforeBody(
    route: Route,
    request: Request,
    record: LogRecord,
    started: number,
  ): Response | undefined {
    if (!hostAdmitted(request.headers.get("host")))
      return refuse(route, record, undefined, started, 421, "Not a name the floor answers to.");
    if (record.clientKey === undefined || (FEATURES && !keyUsable(Date.now())))
      return refuse(route, record, undefined, started, 401, "A client key is needed.");
    // levity refuses a form upload on a JSON route with 415.
    if (FEATURES && request.headers.get("content-type")?.toLowerCase().startsWith("multipart/"))
      return refuse(route, record, undefined, started, 415, "This route takes JSON.");
    return undefined;
  }

  /** With FLOOR_FEATURES, what levity checks before a call: the model's context, an account. */
  function refusedBeforeCall(
    route: Route,
    record: LogRecord,
    target: Target,
    started: number,
    characters: number,
    stream: boolean,
  ): Response | undefined {
    if (!fits(target.model, characters))
      return refuse(
        route,
        record,
        target,
        started,
        400,
        "The prompt is longer than the model's context.",
      );
    if (!lease(record, target, stream))
      return refuse(route, record, target, started, 429, "Every account is cooling down.");
    return undefined;
  }

  /** A body that did not come whole, in time and as JSON. */
  function unreadable(route: Route, record: LogRecord, started: number, error: unknown): Response {
    if (error instanceof Refused)
      return refuse(route, record, undefined, started, error.status, error.message);
    return refuse(route, record, undefined, started, 400, "The body is not JSON.");
  }

  /**
   * With FLOOR_FEATURES, in levity's order: the body must be an object, then the key's limits are
   * checked (FLOOR_KEY_LIMITS) and its usage counted, then the model and the stream flag are checked.
   */
  function featuredBodyProblem(
    record: LogRecord,
    body: unknown,
    request: Request,
    text: string,
  ): Refused | undefined {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return new Refused(400, "The body must be a JSON object.");
    const usage = keyUsageOf(record.clientKey!);
    const limits = KEY_LIMITS ? limitsByKey.get(record.clientKey!) : undefined;
    let estimate = 0;
    if (limits) {
      const verdict = keyVerdict(limits, usage, (body as ChatBody).model, request, text);
      if (verdict instanceof Refused) return verdict;
      estimate = verdict;
    }
    usage.admit(record, estimate);
    const problem = bodyProblem(body as ChatBody);
    return problem === undefined ? undefined : new Refused(400, problem);
  }

  /** An upstream's refusal of a translated request, in the client's shape with its words. */
  function upstreamRefused(
    route: Route,
    record: LogRecord,
    target: Target,
    started: number,
    status: number,
    text: string,
  ): Response {
    let message = `The upstream answered ${status}.`;
    try {
      const said = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
      if (typeof said === "string") message = said;
    } catch {
      // Not JSON: the status says it.
    }
    return refuse(route, record, target, started, status, message);
  }

  /** A call that failed: 504 when its time limit ended it (as levity answers), else 502. */
  function callFailed(
    route: Route,
    record: LogRecord,
    target: Target,
    started: number,
    call: { abort: AbortController },
  ): Response {
    const reason: unknown = call.abort.signal.reason;
    if (reason instanceof Refused)
      return refuse(route, record, target, started, reason.status, reason.message);
    return refuse(route, record, target, started, 502, UNREACHABLE);
  }
  const NOT_JSON = "The upstream's answer is not JSON.";

  async function chat(request: Request): Promise<Response> {
    const started = performance.now();
    // levity's server lifts its connections' idle limit (120 s) for a request being served.
    if (FEATURES) server.timeout(request, 0);
    const record = arrived(CHAT, OPENAI_KEYS.get(request.headers.get("authorization") ?? ""));
    // levity reads every request's Origin for its CORS rules; the bench's client sends none.
    const origin = FEATURES ? request.headers.get("origin") : null;
    const refused = refusedBeforeBody(CHAT, request, record, started);
    if (refused) return refused;
    let text: string;
    let body: ChatBody;
    try {
      text = await readBody(request, FEATURES);
      body = JSON.parse(text) as ChatBody;
    } catch (error) {
      return unreadable(CHAT, record, started, error);
    }
    const problem = FEATURES ? featuredBodyProblem(record, body, request, text) : undefined;
    if (problem) return refuse(CHAT, record, undefined, started, problem.status, problem.message);
    const target = mapped(record, body);
    if (!target) return refuse(CHAT, record, undefined, started, 404, "No mapping for this model.");
    const stream = body.stream === true;
    if (target.upstream === "gm" && stream)
      return refuse(CHAT, record, target, started, 400, "The floor streams only to OpenAI.");
    let forwarded = text;
    // A translated request is refused before any account is asked, as levity refuses it.
    if (target.upstream === "gm") {
      const untranslatable = FEATURES ? translationProblem(body, CHAT_ROLES) : undefined;
      if (untranslatable) return refuse(CHAT, record, target, started, 400, untranslatable);
      try {
        forwarded = toGemini(body);
      } catch {
        return refuse(CHAT, record, target, started, 400, NOT_THE_BENCHS);
      }
    } else if (body.model !== target.model) {
      body.model = target.model;
      forwarded = JSON.stringify(body);
    }
    if (FEATURES) {
      // levity adapts a chat body only where it forwards it (pipeline/passthrough.ts).
      if (target.upstream === "oa") adaptations(body);
      const unserved = refusedBeforeCall(CHAT, record, target, started, text.length, stream);
      if (unserved) return unserved;
    }
    let answer: Response | WholeAnswer;
    // A stream is held to its first byte; a whole answer to its whole (levity's idle limit between
    // a stream's chunks is left out: it needs a clock read a chunk, which the floor does not pay).
    const call = limitedCall(request, stream ? FIRST_BYTE_MS : TOTAL_MS);
    try {
      answer = stream
        ? await fetch(target.url, {
            method: "POST",
            headers: target.headers,
            body: forwarded,
            signal: call.abort.signal,
          })
        : await wholeAnswer(
            target,
            forwarded,
            call.abort.signal,
            FEATURES ? upstreamHeaders(target, request, target.upstream === "oa") : target.headers,
          );
    } catch {
      deadlines.delete(call);
      return callFailed(CHAT, record, target, started, call);
    }
    if (answer instanceof Response && answer.ok && answer.body) {
      deadlines.delete(call);
      return piped(answer.body, record, target, started);
    }
    let answerText: string;
    try {
      // A stream's error body is read under the same limit: it may never end either.
      answerText = answer instanceof Response ? await answer.text() : answer.text;
    } catch {
      return callFailed(CHAT, record, target, started, call);
    } finally {
      deadlines.delete(call);
    }
    if (!answer.ok) {
      // A translated request's refusal is put in the client's shape, as levity puts it.
      if (FEATURES && target.upstream === "gm")
        return upstreamRefused(CHAT, record, target, started, answer.status, answerText);
      finished(CHAT, record, target, started, answer.status);
      return json(answerText, answer.status, record.requestId);
    }
    let reply = answerText;
    try {
      if (target.upstream === "gm") {
        const gemini = JSON.parse(answerText) as GeminiAnswer;
        if (FEATURES) {
          const unusable = readGeminiAnswer(gemini, record);
          if (unusable) return refuse(CHAT, record, target, started, 502, unusable);
        }
        reply = fromGemini(gemini, record, target);
      } else if (FEATURES) {
        const unusable = readChatAnswer(JSON.parse(answerText) as FullChatAnswer, record);
        if (unusable) return refuse(CHAT, record, target, started, 502, unusable);
      } else {
        const usage = (JSON.parse(answerText) as ChatAnswer).usage;
        record.inputTokens = usage?.prompt_tokens ?? 0;
        record.outputTokens = usage?.completion_tokens ?? 0;
      }
    } catch {
      return refuse(CHAT, record, target, started, 502, NOT_JSON);
    }
    finished(CHAT, record, target, started, 200);
    if (FEATURES && !(answer instanceof Response))
      return new Response(reply, {
        status: 200,
        // The upstream's rate-limit headers pass only where its answer does (levity's pass-through).
        headers: routedHeaders(
          target.upstream === "oa" ? answer.headers : undefined,
          record,
          target,
          origin,
        ),
      });
    return json(reply, 200, record.requestId);
  }

  /** A Gemini answer as an OpenAI chat completion; its usage goes on the record. */
  function fromGemini(gemini: GeminiAnswer, record: LogRecord, target: Target): string {
    const candidate = gemini.candidates?.[0];
    let content = "";
    for (const part of candidate?.content?.parts ?? [])
      if (part.thought !== true && typeof part.text === "string") content += part.text;
    if (!FEATURES) {
      const usage = gemini.usageMetadata;
      record.inputTokens = usage?.promptTokenCount ?? 0;
      record.outputTokens = (usage?.candidatesTokenCount ?? 0) + (usage?.thoughtsTokenCount ?? 0);
    }
    const input = record.inputTokens;
    const output = record.outputTokens;
    // A prompt Gemini blocked has no candidate; its client reads that as a content filter.
    const finish = gemini.promptFeedback?.blockReason
      ? "content_filter"
      : TO_OPENAI_FINISH[fromGeminiFinish(candidate?.finishReason, false)];
    return JSON.stringify({
      id: `chatcmpl-${gemini.responseId ?? record.requestId}`,
      object: "chat.completion",
      created: Math.floor(record.time / 1000),
      model: target.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content },
          finish_reason: finish,
        },
      ],
      // With FLOOR_FEATURES, levity's usage (its own function): cached and reasoning tokens too.
      usage: FEATURES
        ? toOpenAIUsage(usageOf(record))
        : { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
    });
  }

  /** Bytes of the stream's end kept for its usage: far more than a usage event and [DONE]. */
  const TAIL_BYTES = 4096;

  /**
   * The upstream's SSE to the client as it comes. The last chunks are kept as they pass (a
   * reference each, no scan) and only they are read, once, at the end, for the usage event.
   */
  function piped(
    upstream: ReadableStream<Uint8Array>,
    record: LogRecord,
    target: Target,
    started: number,
  ): Response {
    const reader = upstream.getReader();
    const tail: Uint8Array[] = [];
    let tailBytes = 0;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const usage = streamUsage(tail);
      record.inputTokens = usage?.prompt_tokens ?? 0;
      record.outputTokens = usage?.completion_tokens ?? 0;
      finished(CHAT, record, target, started, 200);
    };
    const body = new ReadableStream<Uint8Array>({
      type: "direct",
      async pull(controller: ReadableStreamDirectController) {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            tail.push(value);
            tailBytes += value.length;
            while (tailBytes - tail[0]!.length >= TAIL_BYTES) tailBytes -= tail.shift()!.length;
            // A number when the client took it (0: it has gone, and so can the upstream's
            // answer); a promise only when its buffer is full.
            const written = controller.write(value);
            if (written === 0 && value.length > 0) {
              await reader.cancel();
              break;
            }
            if (typeof written !== "number") await written;
          }
        } finally {
          end();
        }
        controller.close();
      },
      cancel(reason?: unknown) {
        end();
        return reader.cancel(reason);
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "x-request-id": record.requestId },
    });
  }

  /** The last data event that carries a usage object, among the stream's last bytes. */
  function streamUsage(tail: Uint8Array[]): ChatAnswer["usage"] | undefined {
    const text = Buffer.concat(tail).toString("utf8");
    for (let at = text.lastIndexOf('"usage"'); at >= 0; at = text.lastIndexOf('"usage"', at - 1)) {
      let value = text.indexOf(":", at + 7) + 1;
      while (text.charCodeAt(value) === 32) value++;
      if (text.charCodeAt(value) !== 123) {
        // "usage": null, as OpenAI sends before its last; at 0 there is nothing before it.
        if (at === 0) break;
        continue;
      }
      const start = text.lastIndexOf("data:", at);
      const stop = text.indexOf("\n", at);
      try {
        return (JSON.parse(text.slice(start + 5, stop < 0 ? undefined : stop)) as ChatAnswer).usage;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  async function messages(request: Request): Promise<Response> {
    const started = performance.now();
    if (FEATURES) server.timeout(request, 0);
    const record = arrived(MESSAGES, ANTHROPIC_KEYS.get(request.headers.get("x-api-key") ?? ""));
    const origin = FEATURES ? request.headers.get("origin") : null;
    const refused = refusedBeforeBody(MESSAGES, request, record, started);
    if (refused) return refused;
    let text: string;
    let body: AnthropicBody;
    try {
      text = await readBody(request, FEATURES);
      body = JSON.parse(text) as AnthropicBody;
    } catch (error) {
      return unreadable(MESSAGES, record, started, error);
    }
    const problem = FEATURES ? featuredBodyProblem(record, body, request, text) : undefined;
    if (problem)
      return refuse(MESSAGES, record, undefined, started, problem.status, problem.message);
    const target = mapped(record, body);
    if (!target)
      return refuse(MESSAGES, record, undefined, started, 404, "No mapping for this model.");
    if (target.upstream !== "oa" || body.stream === true)
      return refuse(MESSAGES, record, target, started, 400, WHOLE_FROM_OPENAI);
    // Translated before any account is asked: a body levity cannot translate is the client's 400.
    const untranslatable = FEATURES ? translationProblem(body, ANTHROPIC_ROLES) : undefined;
    if (untranslatable) return refuse(MESSAGES, record, target, started, 400, untranslatable);
    let forwarded: string;
    try {
      forwarded = toChat(body, target.model);
    } catch {
      return refuse(MESSAGES, record, target, started, 400, NOT_THE_BENCHS);
    }
    if (FEATURES) {
      const unserved = refusedBeforeCall(MESSAGES, record, target, started, text.length, false);
      if (unserved) return unserved;
    }
    let answer: WholeAnswer;
    const call = limitedCall(request, TOTAL_MS);
    try {
      answer = await wholeAnswer(
        target,
        forwarded,
        call.abort.signal,
        FEATURES ? upstreamHeaders(target, request, false) : target.headers,
      );
    } catch {
      deadlines.delete(call);
      return callFailed(MESSAGES, record, target, started, call);
    }
    deadlines.delete(call);
    const answerText = answer.text;
    if (!answer.ok) {
      if (FEATURES)
        return upstreamRefused(MESSAGES, record, target, started, answer.status, answerText);
      finished(MESSAGES, record, target, started, answer.status);
      return json(answerText, answer.status, record.requestId);
    }
    let reply: string;
    try {
      const chat = JSON.parse(answerText) as FullChatAnswer & ChatAnswer;
      if (FEATURES) {
        const unusable = readChatAnswer(chat, record);
        if (unusable) return refuse(MESSAGES, record, target, started, 502, unusable);
      }
      reply = fromChat(chat, record, target);
    } catch {
      return refuse(MESSAGES, record, target, started, 502, NOT_JSON);
    }
    finished(MESSAGES, record, target, started, 200);
    if (FEATURES)
      return new Response(reply, {
        status: 200,
        // A translated answer: the upstream's own headers do not pass (levity's translated runner).
        headers: routedHeaders(undefined, record, target, origin),
      });
    return json(reply, 200, record.requestId);
  }

  /** The record's tokens as levity's IR counts them, for levity's own usage renderers. */
  const usageOf = (record: LogRecord) => ({
    input: record.inputTokens,
    output: record.outputTokens,
    cached: record.cachedTokens,
    cacheWrite: record.cacheWriteTokens,
    reasoning: record.reasoningTokens,
  });

  /** An Anthropic answer's usage as levity writes it: service_tier on toAnthropicUsage's object. */
  function anthropicUsage(record: LogRecord): Record<string, unknown> {
    const usage: Record<string, unknown> = toAnthropicUsage(usageOf(record));
    usage.service_tier = "standard";
    return usage;
  }

  /** An OpenAI chat completion as an Anthropic message; its usage goes on the record. */
  function fromChat(answer: ChatAnswer, record: LogRecord, target: Target): string {
    const choice = answer.choices?.[0];
    // With FLOOR_FEATURES, readChatAnswer has read the usage as levity does.
    if (!FEATURES) {
      record.inputTokens = answer.usage?.prompt_tokens ?? 0;
      record.outputTokens = answer.usage?.completion_tokens ?? 0;
    }
    return JSON.stringify({
      id: `msg_${answer.id ?? record.requestId}`,
      type: "message",
      role: "assistant",
      model: answer.model ?? target.model,
      content: [{ type: "text", text: choice?.message?.content ?? "" }],
      stop_reason: TO_ANTHROPIC_STOP[fromOpenAIFinish(choice?.finish_reason)],
      stop_sequence: null,
      // With FLOOR_FEATURES, levity's usage (its own function): the cache's reads apart.
      usage: FEATURES
        ? anthropicUsage(record)
        : { input_tokens: record.inputTokens, output_tokens: record.outputTokens },
    });
  }

  const server = Bun.serve({
    port: Number(process.env.PORT ?? 0),
    hostname: "127.0.0.1",
    // levity's server closes a connection idle for 120 s (and lifts it for a request in progress).
    idleTimeout: FEATURES ? 120 : 0,
    routes: {
      "/v1/chat/completions": { POST: (request) => counted(chat, request) },
      "/v1/messages": { POST: (request) => counted(messages, request) },
      "/metrics": {
        GET: (request) =>
          OPENAI_KEYS.has(request.headers.get("authorization") ?? "")
            ? new Response(renderMetrics(), {
                headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
              })
            : new Response("A client key is needed.\n", { status: 401 }),
      },
    },
    fetch: () => new Response("Not found.\n", { status: 404 }),
  });
  console.log(`listening ${server.port}`);
}
