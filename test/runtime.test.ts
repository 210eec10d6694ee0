import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../src/config/problem.ts";
import { createRuntime, type Runtime } from "../src/runtime.ts";
import { captureLog, tempDir, writeConfig } from "./support/gateway.ts";

// createRuntime is what both hosts serve with (src/server.ts on Bun, src/deno.ts on Deno): its
// reload, and the warnings for what a reload cannot change, are the same on both.

const dirs: string[] = [];
const runtimes: Runtime[] = [];
afterEach(() => {
  for (const runtime of runtimes.splice(0)) runtime.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function gatewayYaml(proxy: string): string {
  return `proxy:\n${proxy}upstreams:\n  - name: e\n    protocol: echo\n`;
}

/** A runtime as the Deno host builds it: no SQLite, so state in memory. */
function start(proxy: string) {
  const dir = tempDir("levity-runtime-");
  dirs.push(dir);
  writeConfig(dir, { gateway: gatewayYaml(proxy) });
  const log = captureLog();
  const runtime = createRuntime({
    dir,
    env: {},
    log,
    host: { env: {}, listeningOn: () => "127.0.0.1:4242" },
  });
  runtimes.push(runtime);
  return { dir, log, runtime };
}

const BASE = "  port: 4242\n";

test.each([
  [
    "port",
    `  port: 4343\n`,
    "port and bind address changes need a restart; still listening on 127.0.0.1:4242",
  ],
  ["data_dir", `${BASE}  data_dir: ./elsewhere\n`, "a data_dir change needs a restart"],
  [
    "request_log flush_ms",
    `${BASE}  request_log: { flush_ms: 250 }\n`,
    "request_log retention_days, max_mb and flush_ms changes need a restart",
  ],
])(
  "a reload that changes %s applies the rest and says that needs a restart",
  (_, proxy, warning) => {
    const { dir, log, runtime } = start(BASE);
    writeConfig(dir, { gateway: gatewayYaml(proxy) });
    expect(runtime.reload("test")).toBe(true);
    expect(log.lines.filter((line) => line.startsWith("WARN"))).toEqual([
      expect.stringContaining(warning),
    ]);
    expect(log.lines.at(-1)).toStartWith("INFO config reloaded (test): ");
    expect(runtime.holder.snapshot.proxy.port).toBe(proxy.includes("4343") ? 4343 : 4242);
  },
);

test("a reload that changes nothing a restart needs warns of nothing", () => {
  const { dir, log, runtime } = start(BASE);
  writeConfig(dir, { gateway: gatewayYaml(`${BASE}  cooldown_wait: 0\n`) });
  expect(runtime.reload("test")).toBe(true);
  expect(log.lines.filter((line) => line.startsWith("WARN"))).toEqual([]);
});

test("a broken file keeps the previous configuration serving, and the log says what is wrong", () => {
  const { dir, log, runtime } = start(BASE);
  const before = runtime.holder.snapshot;
  writeConfig(dir, { gateway: "proxy: [\n", mappings: "exact:\n  fast: nowhere/model\n" });
  expect(runtime.reload("SIGHUP")).toBe(false);
  expect(runtime.holder.snapshot).toBe(before);
  // A line each, file and line first: nothing for the log to escape into one line.
  expect(log.lines).toEqual([
    "ERROR config reload (SIGHUP) failed; the previous configuration keeps serving. The problem:",
    `ERROR   ${join(dir, "gateway.yaml")}:2: Flow sequence in block collection must be sufficiently indented and end with a ] (column 1)`,
  ]);
  // The admin endpoint's reload is the same one.
  expect(runtime.services.reload?.("admin request")).toBeUndefined();
});

test("a problem written on several lines (an example to add) is logged as several lines", () => {
  const { dir, log, runtime } = start(BASE);
  writeConfig(dir, {
    gateway:
      "upstreams:\n  - name: oa\n    protocol: openai\n    base_url: http://127.0.0.1:9/v1\n    accounts: []\n",
  });
  expect(runtime.reload("SIGHUP")).toBe(false);
  expect(log.lines.slice(1)).toEqual([
    `ERROR   ${join(dir, "gateway.yaml")}:2: upstreams[0]: upstream "oa" has no accounts, so it cannot answer anything. Add one:`,
    "ERROR       accounts:",
    'ERROR         - { name: me, key: "${OA_API_KEY}" }',
  ]);
});

test("without a configuration directory there is nothing to reload", () => {
  const runtime = createRuntime({
    env: {},
    port: 0,
    log: captureLog(),
    host: { env: {}, listeningOn: () => "" },
  });
  runtimes.push(runtime);
  expect(runtime.services.reload).toBeUndefined();
});

test("a configuration with problems opens nothing", () => {
  const dir = tempDir("levity-runtime-");
  dirs.push(dir);
  writeConfig(dir, { gateway: "proxy: { port: -1 }\n" });
  let opened = 0;
  const sqlite = {
    store: () => {
      opened++;
      throw new Error("not expected");
    },
    requestLog: () => {
      opened++;
      throw new Error("not expected");
    },
    keys: () => {
      opened++;
      throw new Error("not expected");
    },
  };
  expect(() =>
    createRuntime({
      dir,
      env: {},
      log: captureLog(),
      host: { env: {}, sqlite, listeningOn: () => "" },
    }),
  ).toThrow(ConfigError);
  expect(opened).toBe(0);
});

test("with SQLite that cannot be opened, state and the request log live in memory and the log says so", async () => {
  const { dir } = start(BASE);
  const log = captureLog();
  const failing = () => {
    throw new Error("disk on fire");
  };
  const runtime = createRuntime({
    dir,
    env: {},
    log,
    host: {
      env: {},
      sqlite: { store: failing, requestLog: failing, keys: failing },
      listeningOn: () => "",
    },
  });
  runtimes.push(runtime);
  const dataDir = runtime.holder.snapshot.proxy.dataDir;
  expect(log.lines).toEqual([
    `WARN cannot open ${join(dataDir, "levity.db")} (disk on fire); stored responses and signatures will not survive a restart`,
    `WARN cannot open ${join(dataDir, "requests.db")} (disk on fire); the request log keeps only the last 10,000 requests, in memory`,
    `WARN cannot open ${join(dataDir, "levity.db")} (disk on fire); keys made with levity keys add, and every key's counters, will not survive a restart`,
  ]);
  const health = await runtime.gateway(new Request("http://127.0.0.1:4242/healthz"));
  expect(health.status).toBe(200);
});

test("each runtime has its own upstream client, token counter and deadlines", () => {
  const a = start(BASE).runtime.services;
  const b = start(BASE).runtime.services;
  expect(a.upstreamClient).not.toBe(b.upstreamClient);
  expect(a.tokens).not.toBe(b.tokens);
  expect(a.deadlines).not.toBe(b.deadlines);
});

test("an answer's bookkeeping is done after it is handed over, and close does what is still waiting first", async () => {
  const { runtime } = start(BASE);
  const counted = () =>
    /levity_requests_total\{[^}]*\} 1\b/.test(runtime.services.metrics.render([], []));
  const answer = await runtime.gateway(
    new Request("http://127.0.0.1:4242/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "e/any", messages: [{ role: "user", content: "hi" }] }),
    }),
  );
  expect(answer.status).toBe(200);
  // Handed over, not yet counted: the count waits for the turn's end (observe/after-answer.ts).
  expect(counted()).toBe(false);
  const closing = runtime.close();
  expect(counted()).toBe(true);
  await closing;
});
