/*
 * bun bench/variants.ts VARIANTS.json [--rounds N] [--seconds S] [--binary PATH] [--streams N] [--rate R]
 *
 * One levity binary, several configurations side by side, in front of bench/fake-upstream.ts:
 * each variant is a gateway.yaml `proxy:` extra (and optionally 1,000 client keys sent in turn),
 * measured at c=64 and c=1 with wrk, alternating the variants in every round so that drift in the
 * machine falls on all of them. Prints, per variant, the median requests/s, p50/p99 at c=1 and the
 * CPU time the gateway spent per request (from /proc, what a busy machine disturbs least), and
 * that CPU at c=64 thread by thread. For finding which setting costs what; `npm run bench` is the
 * report.
 *
 * VARIANTS.json: [{"name": "open", "proxy": "", "keys": ""}, {"name": "limited", "proxy": "",
 * "keys": ", rpm: 1000000"}]: `keys` (when present) gives every one of 1,000 client keys those
 * extra YAML fields; without it the variant has one key. `binary` runs that variant on another
 * executable (an earlier build), to compare two versions with the same configuration. Every
 * variant starts with the environment the service files set (src/cli/service.ts); `env` adds to
 * it or overrides it (`{"MIMALLOC_PURGE_HOLES": "1"}` is Bun's default allocator).
 *
 * With --streams N, each round instead sends N streams of 20 chunks through each variant
 * (bench/stream-load.ts, as `npm run bench` does): paced (started over 1 s, chunks 50 ms apart,
 * each its own read) and burst (all at once, chunks unspaced), and prints the CPU a delivered
 * chunk, the chunks per second and the TTFT p99.
 *
 * With --rate R, each round instead sends R requests a second (h2load, 32 connections; Debian's
 * nghttp2-client; one client key, the first of the 1,000 where a variant has them, so its limits
 * must let the whole rate through) to each variant and prints the CPU a request of the gateway's serving thread and
 * of the whole process, with each variant's difference from the first, paired round by round.
 * At the highest rate wrk can drive, a cheaper variant serves more requests a second and so
 * more of them per wake-up of its threads, which reads as less CPU a request on its own (the
 * floor proxy: 60 µs a request at wrk's 10,000 a second, 75 at a fixed 4,000); at one fixed rate
 * every variant does the same work in the same time, and a pair of neighbouring runs shares the
 * machine's drift. This tells differences of 3-4 µs apart that medians of wrk's rounds could not.
 */
import { execSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  cpuSeconds,
  cpuSecondsByThread,
  startProcess,
  threadCpuSeconds,
  warmUntilCompiled,
} from "./processes.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

interface Variant {
  name: string;
  proxy?: string;
  keys?: string;
  /** Top-level YAML added before `proxy:` (for example `state: redis://…`). */
  top?: string;
  /** Another levity executable for this variant (an earlier build, to compare versions). */
  binary?: string;
  /** Environment variables for this variant's process (for example a `MIMALLOC_*` option). */
  env?: Record<string, string>;
  /**
   * Another program in levity's place: its argv, run from the repository with `{config}` replaced
   * by the variant's configuration directory and `{bun}` by this Bun, told the upstream and the
   * client key as the floor proxy reads them (UPSTREAM_URL, CLIENT_KEY). For the floor proxy
   * beside levity (`["{bun}", "bench/floor-proxy.ts"]`, with `env` `{"FLOOR_FEATURES": "1"}`), or
   * levity from source (`["{bun}", "src/main.ts", "serve", "--config", "{config}"]`).
   */
  command?: string[];
}

const BUN = process.execPath;
const ROOT = resolve(import.meta.dir, "..");
const { values: flags, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "4" },
    seconds: { type: "string", default: "3" },
    binary: { type: "string" },
    streams: { type: "string" },
    rate: { type: "string" },
  },
});
if (!positionals[0]) {
  console.error(
    "usage: bun bench/variants.ts VARIANTS.json [--rounds N] [--seconds S] [--binary PATH] [--streams N | --rate R]",
  );
  process.exit(2);
}
const variants = JSON.parse(readFileSync(positionals[0], "utf8")) as Variant[];
if (flags.streams && flags.rate) {
  console.error("--streams and --rate are two ways to measure: give one");
  process.exit(2);
}
const ROUNDS = Number(flags.rounds);
const SECONDS = Number(flags.seconds);
const CLIENT_KEY = "sk-bench-variants-client";
const FETCH_ENV = { BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" };
const platform = `${process.platform}-${process.arch}`;
const binary = flags.binary ?? join(ROOT, "dist", `levity-${platform}`);
if (!flags.binary && variants.some((variant) => !variant.command && !variant.binary))
  execSync(`${BUN} build.ts ${platform}`, { cwd: ROOT, stdio: "inherit" });

interface Measure {
  rps: number;
  p50us: number;
  p99us: number;
  cpuUs: number;
  /** CPU a request by thread (cpuSecondsByThread's names), µs. */
  threadsUs: Map<string, number>;
}

function wrk(url: string, connections: number, seconds: number, keysFile: string, pid: number) {
  const dir = mkdtempSync(join(tmpdir(), "levity-variants-wrk-"));
  writeFileSync(join(dir, "body.json"), chatBody);
  const before = cpuSeconds(pid);
  const threadsBefore = cpuSecondsByThread(pid);
  const out = spawnSync(
    "wrk",
    ["-t1", `-c${connections}`, `-d${seconds}s`, "-s", join(import.meta.dir, "wrk-post.lua"), url],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        WRK_BODY: join(dir, "body.json"),
        WRK_KEYS: keysFile,
        WRK_HEADERS: keysFile ? "" : `authorization: Bearer ${CLIENT_KEY}`,
      },
    },
  );
  const cpu = cpuSeconds(pid) - before;
  const threadsAfter = cpuSecondsByThread(pid);
  if (!out.stdout.trim()) throw new Error(`wrk failed: ${out.stderr}`);
  rmSync(dir, { recursive: true, force: true });
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as {
    requests: number;
    seconds: number;
    non2xx: number;
    p50us: number;
    p99us: number;
  };
  if (parsed.non2xx > 0) throw new Error(`${url}: ${parsed.non2xx} answers were not 2xx`);
  return {
    rps: parsed.requests / parsed.seconds,
    p50us: parsed.p50us,
    p99us: parsed.p99us,
    cpuUs: (cpu * 1e6) / Math.max(1, parsed.requests),
    threadsUs: new Map(
      [...threadsAfter].map(([name, seconds]) => [
        name,
        ((seconds - (threadsBefore.get(name) ?? 0)) * 1e6) / Math.max(1, parsed.requests),
      ]),
    ),
  };
}

const chatBody = JSON.stringify({
  model: "bench-model",
  messages: [{ role: "user", content: "Say hello to the benchmark, briefly." }],
  max_tokens: 64,
});
const upstream = await startProcess("fake upstream", [
  BUN,
  join(import.meta.dir, "fake-upstream.ts"),
]);
const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
const TEAM_KEYS = Array.from(
  { length: 1000 },
  (_, i) => `sk-bench-team-${String(i).padStart(4, "0")}-key`,
);
const keysFile = join(mkdtempSync(join(tmpdir(), "levity-variants-keys-")), "keys.txt");
writeFileSync(keysFile, `${TEAM_KEYS.join("\n")}\n`);

const running: { variant: Variant; port: number; pid: number; keys: string }[] = [];
for (const variant of variants) {
  const dir = mkdtempSync(join(tmpdir(), "levity-variants-"));
  const keys =
    variant.keys === undefined
      ? `  api_key: ${CLIENT_KEY}\n`
      : `  api_keys:\n${TEAM_KEYS.map((key, i) => `    - { name: member-${i}, key: ${key}${variant.keys} }`).join("\n")}\n`;
  writeFileSync(
    join(dir, "gateway.yaml"),
    `${variant.top ?? ""}proxy:\n  port: 0\n  auth_mode: strict\n${keys}${variant.proxy ?? ""}upstreams:\n` +
      `  - name: oa\n    protocol: openai\n    base_url: ${upstreamUrl}/v1\n    accounts:\n      - { name: bench, key: sk-upstream-bench-0001 }\n`,
  );
  writeFileSync(join(dir, "mappings.yaml"), "exact:\n  bench-model: oa/bench-model\n");
  const executable = variant.binary ?? binary;
  if (!variant.command && !existsSync(executable)) throw new Error(`no binary at ${executable}`);
  const argv = variant.command?.map((part) =>
    part.replaceAll("{config}", dir).replaceAll("{bun}", BUN),
  ) ?? [executable, "serve", "--config", dir];
  const gateway = await startProcess(
    variant.name,
    argv,
    {
      ...SERVICE_ENVIRONMENT,
      ...(variant.command ? { UPSTREAM_URL: upstreamUrl, CLIENT_KEY } : {}),
      ...variant.env,
    },
    undefined,
    ROOT,
  );
  running.push({ variant, ...gateway, keys: variant.keys === undefined ? "" : keysFile });
}

const url = (port: number) => `http://127.0.0.1:${port}/v1/chat/completions`;
console.log(`${running.length} gateways up; warming`);
if (flags.streams) await streamRounds(Number(flags.streams));
// Until each one's compiler is quiet, as npm run bench warms: a 2 s warm-up left the first c=1
// rounds measuring the JIT at work (BENCHMARKS.md, issue 20's sixth session).
for (const r of running)
  console.log(
    `${r.variant.name}: warmed ${warmUntilCompiled(r.pid, () => wrk(url(r.port), 8, 1, r.keys, r.pid))} s`,
  );
if (flags.rate) await rateRounds(Number(flags.rate));

const results = new Map<string, { c64: Measure[]; c1: Measure[] }>();
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? running : [...running].reverse();
  for (const r of order) {
    const entry = results.get(r.variant.name) ?? { c64: [], c1: [] };
    entry.c64.push(wrk(url(r.port), 64, SECONDS, r.keys, r.pid));
    entry.c1.push(wrk(url(r.port), 1, SECONDS, r.keys, r.pid));
    results.set(r.variant.name, entry);
  }
  console.log(`round ${round}/${ROUNDS}`);
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(
  "| variant | c=64 req/s | CPU µs/request c=64 | c=1 p50 µs | c=1 p99 µs | CPU µs/request c=1 |",
);
console.log("|---|---|---|---|---|---|");
for (const [name, { c64, c1 }] of results)
  console.log(
    `| ${name} | ${Math.round(median(c64.map((m) => m.rps)))} | ${median(c64.map((m) => m.cpuUs)).toFixed(0)} | ${median(c1.map((m) => m.p50us)).toFixed(0)} | ${median(c1.map((m) => m.p99us)).toFixed(0)} | ${median(c1.map((m) => m.cpuUs)).toFixed(0)} |`,
  );
for (const [name, { c64 }] of results)
  console.log(
    `${name} rounds: ${c64.map((m) => `${Math.round(m.rps)}/${m.cpuUs.toFixed(0)}µs`).join("  ")}`,
  );
// Where each one's CPU went at c=64, thread by thread: the serving thread's share is the
// gateway's own work; fetch's ("HTTP Client"), the log's ("Worker"), the collector's
// ("HeapHelper") and the compiler's ("JITWorker") are beside it.
console.log(
  "\nCPU µs a request at c=64, by thread (medians of the rounds; threads under 0.5 µs left out):",
);
for (const [name, { c64 }] of results) {
  const threads = new Set(c64.flatMap((m) => [...m.threadsUs.keys()]));
  const byThread = [...threads]
    .map((thread) => [thread, median(c64.map((m) => m.threadsUs.get(thread) ?? 0))] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((a, b) => b[1] - a[1]);
  console.log(
    `${name}: ${byThread.map(([thread, us]) => `${thread} ${us.toFixed(1)}`).join(", ")}`,
  );
}
// The gateways and the fake upstream would keep this process alive: leaving stops them all.
process.exit(0);

interface StreamMeasure {
  cpuUsPerChunk: number;
  chunksPerSecond: number;
  ttftP99ms: number;
}

/** One load of `streams` streams through a variant, with its CPU a delivered chunk from /proc. */
function streamLoad(port: number, pid: number, streams: number, paced: boolean): StreamMeasure {
  const before = cpuSeconds(pid);
  const out = spawnSync(
    BUN,
    [
      join(import.meta.dir, "stream-load.ts"),
      url(port),
      String(streams),
      "20",
      `authorization: Bearer ${CLIENT_KEY}`,
    ],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        ...FETCH_ENV,
        ...(paced ? { RAMP_MS: "1000", INTERVAL_MS: "50" } : {}),
      },
    },
  );
  const cpu = cpuSeconds(pid) - before;
  const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as StreamMeasure & {
    chunks: number;
    lost: number;
    reordered: number;
  };
  if (result.lost + result.reordered > 0)
    throw new Error(`${result.lost} streams lost, ${result.reordered} reordered`);
  return { ...result, cpuUsPerChunk: (cpu * 1e6) / Math.max(1, result.chunks) };
}

async function streamRounds(streams: number): Promise<never> {
  for (const r of running)
    console.log(
      `${r.variant.name}: warmed ${warmUntilCompiled(r.pid, () => streamLoad(r.port, r.pid, streams, false))} s`,
    );
  const measured = new Map<string, { paced: StreamMeasure[]; burst: StreamMeasure[] }>();
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? running : [...running].reverse();
    for (const r of order) {
      const entry = measured.get(r.variant.name) ?? { paced: [], burst: [] };
      entry.paced.push(streamLoad(r.port, r.pid, streams, true));
      entry.burst.push(streamLoad(r.port, r.pid, streams, false));
      measured.set(r.variant.name, entry);
    }
    console.log(`round ${round}/${ROUNDS}`);
  }
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(
    "| variant | paced CPU µs/chunk | paced TTFT p99 ms | burst chunks/s | burst CPU µs/chunk |",
  );
  console.log("|---|---|---|---|---|");
  for (const [name, { paced, burst }] of measured)
    console.log(
      `| ${name} | ${median(paced.map((m) => m.cpuUsPerChunk)).toFixed(1)} | ${median(paced.map((m) => m.ttftP99ms)).toFixed(1)} | ${Math.round(median(burst.map((m) => m.chunksPerSecond)))} | ${median(burst.map((m) => m.cpuUsPerChunk)).toFixed(1)} |`,
    );
  for (const [name, { paced, burst }] of measured)
    console.log(
      `${name} rounds (paced µs/chunk, burst µs/chunk): ${paced.map((m, i) => `${m.cpuUsPerChunk.toFixed(1)}/${burst[i]!.cpuUsPerChunk.toFixed(1)}`).join("  ")}`,
    );
  process.exit(0);
}

interface RateMeasure {
  /** CPU a request of the serving thread (the process's first), µs. */
  servingUs: number;
  /** CPU a request of the whole process, every thread, µs. */
  processUs: number;
}

/** `rate` requests a second for SECONDS through one gateway, and the CPU it spent a request. */
function rateLoad(port: number, pid: number, rate: number, key: string): RateMeasure {
  const connections = 32;
  const dir = mkdtempSync(join(tmpdir(), "levity-variants-rate-"));
  writeFileSync(join(dir, "body.json"), chatBody);
  const serving = threadCpuSeconds(pid, pid);
  const all = cpuSeconds(pid);
  const out = spawnSync(
    "h2load",
    [
      "--h1",
      `-c${connections}`,
      `--rps=${rate / connections}`,
      `-D${SECONDS}`,
      `-d${join(dir, "body.json")}`,
      `-Hauthorization: Bearer ${key}`,
      "-Hcontent-type: application/json",
      url(port),
    ],
    { encoding: "utf8" },
  );
  const servingSpent = threadCpuSeconds(pid, pid) - serving;
  const allSpent = cpuSeconds(pid) - all;
  rmSync(dir, { recursive: true, force: true });
  if (out.error)
    throw new Error(`--rate needs h2load (Debian: nghttp2-client): ${out.error.message}`);
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out.stdout);
  const statuses = /status codes: (\d+) 2xx/.exec(out.stdout);
  if (!done || !statuses) throw new Error(`h2load said:\n${out.stdout}${out.stderr}`);
  const requests = Number(done[1]);
  if (Number(done[2]) !== requests || Number(statuses[1]) !== requests)
    throw new Error(
      `${url(port)}: of ${requests} requests ${done[2]} succeeded and ${statuses[1]} were 2xx`,
    );
  // A gateway that cannot keep up is not at the rate the others are measured at.
  if (requests < 0.98 * rate * SECONDS)
    throw new Error(
      `${url(port)}: ${requests} requests in ${SECONDS} s, short of ${rate} a second: lower --rate`,
    );
  return {
    servingUs: (servingSpent * 1e6) / Math.max(1, requests),
    processUs: (allSpent * 1e6) / Math.max(1, requests),
  };
}

async function rateRounds(rate: number): Promise<never> {
  const measured = new Map<string, RateMeasure[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? running : [...running].reverse();
    for (const r of order) {
      const entry = measured.get(r.variant.name) ?? [];
      // h2load sends one key: a variant with the 1,000 keys is sent the first of them only.
      entry.push(
        rateLoad(r.port, r.pid, rate, r.variant.keys === undefined ? CLIENT_KEY : TEAM_KEYS[0]!),
      );
      measured.set(r.variant.name, entry);
    }
    console.log(`round ${round}/${ROUNDS}`);
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const signed = (value: number) => `${value >= 0 ? "+" : ""}${value.toFixed(1)}`;
  const [first, ...others] = [...measured.entries()];
  console.log(
    `| variant (${rate} requests/s) | serving thread µs/request | process µs/request | serving thread against ${first![0]}, paired | process against ${first![0]}, paired |`,
  );
  console.log("|---|---|---|---|---|");
  for (const [name, rounds] of measured) {
    const paired = (pick: (m: RateMeasure) => number) => {
      if (name === first![0]) return "";
      const differences = rounds.map((m, i) => pick(m) - pick(first![1][i]!));
      const lower = differences.filter((d) => d < 0).length;
      return `${signed(median(differences))} (lower in ${lower} of ${differences.length})`;
    };
    console.log(
      `| ${name} | ${median(rounds.map((m) => m.servingUs)).toFixed(1)} | ${median(rounds.map((m) => m.processUs)).toFixed(1)} | ${paired((m) => m.servingUs)} | ${paired((m) => m.processUs)} |`,
    );
  }
  for (const [name, rounds] of others.length ? measured : [])
    console.log(
      `${name} rounds (serving/process µs): ${rounds.map((m) => `${m.servingUs.toFixed(1)}/${m.processUs.toFixed(1)}`).join("  ")}`,
    );
  process.exit(0);
}
