/*
 * bun bench/ab.ts OLD_TREE [NEW_TREE] [--rounds N] [--seconds S]
 *
 * Two versions of levity, compiled the same way from two source trees (a `git worktree` of an
 * earlier commit, and this checkout by default), side by side on the same machine at the same
 * time, in front of the same fake upstream: translated requests at c=64 (wrk) and 1,000 streams
 * started at once, same-dialect (bench/stream-load.ts), alternating A and B in every round so
 * that drift in the machine falls on both. Prints the medians and each round, and the CPU time
 * each levity spent on each measure (from /proc: what a busy 2-core machine disturbs least). For a change whose
 * cost is smaller than the difference between two machines, which comparing with an earlier
 * BENCHMARKS.md cannot tell apart.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { builtInDefine, ENTRYPOINTS } from "../build.ts";
import { cpuSeconds, startProcess } from "./processes.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

const BUN = process.execPath;
const HERE = import.meta.dir;
const { values: flags, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { rounds: { type: "string", default: "5" }, seconds: { type: "string", default: "5" } },
});
if (!positionals[0]) {
  console.error("usage: bun bench/ab.ts OLD_TREE [NEW_TREE] [--rounds N] [--seconds S]");
  process.exit(2);
}
const trees = { A: resolve(positionals[0]), B: resolve(positionals[1] ?? join(HERE, "..")) };
const ROUNDS = Number(flags.rounds);
const SECONDS = Number(flags.seconds);
const STREAMS = 1000;
const CHUNKS = 20;
const KEY = "sk-bench-ab-client-0001";
const FETCH_ENV = { BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" };

/** The tree's src/main.ts as a standalone executable, compiled as build.ts compiles a release. */
async function compile(tree: string, out: string): Promise<void> {
  const result = await Bun.build({
    // build.ts's entry points, as a release is built; a tree from before the request log's
    // worker (issue 20) has no such file, and is built without it.
    entrypoints: ENTRYPOINTS.map((path) => join(tree, path)).filter((path) => existsSync(path)),
    minify: { whitespace: true, syntax: true, identifiers: false },
    bytecode: true,
    format: "esm",
    // The built-in files as values, as this tree's build.ts puts them in, checked against this
    // tree's schemas (a tree from before that reads no such value, and parses their YAML as it
    // always did; one from before 1d40ecc checks the already checked value again, which changes
    // nothing while the two files' schemas are the same).
    define: { LEVITY_BUILT_IN_JSON: builtInDefine(tree) },
    compile: { outfile: out, autoloadDotenv: false, autoloadBunfig: false },
  });
  if (!result.success) throw new Error(`compiling ${tree} failed: ${result.logs.join("\n")}`);
}

function wrkRps(url: string, body: string, headers: Record<string, string>): number {
  const dir = mkdtempSync(join(tmpdir(), "levity-ab-"));
  writeFileSync(join(dir, "body.json"), body);
  const out = spawnSync(
    "wrk",
    ["-t1", "-c64", `-d${SECONDS}s`, "--timeout", "10s", "-s", join(HERE, "wrk-post.lua"), url],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        WRK_BODY: join(dir, "body.json"),
        WRK_HEADERS: Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join("\n"),
      },
    },
  );
  rmSync(dir, { recursive: true, force: true });
  const parsed = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as {
    requests: number;
    seconds: number;
    errors: number;
  };
  if (parsed.errors > 0) throw new Error(`${url}: ${parsed.errors} errors`);
  return parsed.requests / parsed.seconds;
}

interface StreamResult {
  chunksPerSecond: number;
  ttftP99ms: number;
  lost: number;
  reordered: number;
}

/** burst: 1,000 streams at once, chunks unspaced; paced: started over 1 s, chunks 50 ms apart (as bench/run.ts measures TTFT). */
function streams(url: string, mode: "burst" | "paced"): StreamResult {
  const pacing = mode === "paced" ? { RAMP_MS: "1000", INTERVAL_MS: "50" } : {};
  const out = spawnSync(
    BUN,
    [
      join(HERE, "stream-load.ts"),
      url,
      String(STREAMS),
      String(CHUNKS),
      `authorization: Bearer ${KEY}`,
    ],
    { encoding: "utf8", env: { ...process.env, ...FETCH_ENV, ...pacing } },
  );
  const result = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as StreamResult;
  if (result.lost > 0 || result.reordered > 0)
    throw new Error(`${url}: ${result.lost} streams lost, ${result.reordered} reordered`);
  return result;
}

const upstream = `http://127.0.0.1:${(await startProcess("fake upstream", [BUN, join(HERE, "fake-upstream.ts")], { STREAM_CHUNKS: String(CHUNKS) })).port}`;
const config = mkdtempSync(join(tmpdir(), "levity-ab-config-"));
writeFileSync(
  join(config, "gateway.yaml"),
  `proxy:\n  port: 0\n  auth_mode: strict\n  api_key: ${KEY}\nupstreams:\n` +
    `  - name: oa\n    protocol: openai\n    base_url: ${upstream}/v1\n    accounts:\n      - { name: bench, key: sk-upstream-bench-0001 }\n` +
    `  - name: gm\n    protocol: gemini\n    base_url: ${upstream}\n    accounts:\n      - { name: bench, key: gm-upstream-bench-0001 }\n`,
);
writeFileSync(
  join(config, "mappings.yaml"),
  "exact:\n  bench-model: oa/bench-model\n  gem-model: gm/gemini-bench\n  claude-bench: oa/bench-model\n",
);

const gateways: Record<string, { port: number; pid: number }> = {};
for (const [side, tree] of Object.entries(trees)) {
  const binary = join(mkdtempSync(join(tmpdir(), "levity-ab-bin-")), "levity");
  await compile(tree, binary);
  gateways[side] = await startProcess(
    `levity ${side}`,
    [binary, "serve", "--config", config],
    SERVICE_ENVIRONMENT,
  );
}

const measures = {
  "pass-through req/s": (port: number) =>
    wrkRps(
      `http://127.0.0.1:${port}/v1/chat/completions`,
      JSON.stringify({
        model: "bench-model",
        messages: [{ role: "user", content: "Say hello to the benchmark, briefly." }],
        max_tokens: 64,
      }),
      { authorization: `Bearer ${KEY}` },
    ),
  "openai->gemini req/s": (port: number) =>
    wrkRps(
      `http://127.0.0.1:${port}/v1/chat/completions`,
      JSON.stringify({
        model: "gem-model",
        messages: [{ role: "user", content: "Say hello to the benchmark, briefly." }],
        max_tokens: 64,
      }),
      { authorization: `Bearer ${KEY}` },
    ),
  "anthropic->openai req/s": (port: number) =>
    wrkRps(
      `http://127.0.0.1:${port}/v1/messages`,
      JSON.stringify({
        model: "claude-bench",
        max_tokens: 64,
        messages: [{ role: "user", content: "Say hello to the benchmark, briefly." }],
      }),
      { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
    ),
  "same-dialect stream chunks/s": (port: number) =>
    streams(`http://127.0.0.1:${port}/v1/chat/completions`, "burst").chunksPerSecond,
  "same-dialect paced stream TTFT p99 ms": (port: number) =>
    streams(`http://127.0.0.1:${port}/v1/chat/completions`, "paced").ttftP99ms,
};

const results: Record<string, Record<string, number[]>> = {};
const cpu: Record<string, Record<string, number[]>> = {};
// Warm both (JIT, connection pools) before measuring.
for (const { port } of Object.values(gateways))
  for (const measure of Object.values(measures)) measure(port);
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? ["A", "B"] : ["B", "A"];
  for (const [name, measure] of Object.entries(measures)) {
    for (const side of order) {
      const { port, pid } = gateways[side]!;
      const before = cpuSeconds(pid);
      results[name] ??= {};
      results[name][side] ??= [];
      results[name][side].push(measure(port));
      cpu[name] ??= {};
      cpu[name][side] ??= [];
      cpu[name][side].push(cpuSeconds(pid) - before);
    }
  }
  console.error(`round ${round}/${ROUNDS}`);
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(
  `A: ${trees.A}\nB: ${trees.B}\n${ROUNDS} alternating rounds of ${SECONDS} s; 1,000 streams of ${CHUNKS} chunks\n`,
);
console.log(
  "| measure | A (median) | B (median) | B/A | A rounds | B rounds |\n|---|---|---|---|---|---|",
);
for (const [name, sides] of Object.entries(results)) {
  const a = median(sides.A!);
  const b = median(sides.B!);
  const digits = name.includes("TTFT") ? 1 : 0;
  const rounds = (values: number[]) => values.map((v) => v.toFixed(digits)).join(", ");
  console.log(
    `| ${name} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(b / a).toFixed(2)} | ${rounds(sides.A!)} | ${rounds(sides.B!)} |`,
  );
}
// CPU per unit of work: per 1,000 requests, or per 1,000 streams.
console.log("\n| measure | A CPU | B CPU | B/A |\n|---|---|---|---|");
for (const [name, sides] of Object.entries(cpu)) {
  if (name.includes("TTFT")) continue;
  const per = (side: string) =>
    median(
      sides[side]!.map((seconds, i) =>
        name.includes("stream")
          ? seconds
          : (seconds / (results[name]![side]![i]! * SECONDS)) * 1000,
      ),
    );
  const unit = name.includes("stream") ? "s per 1,000 streams" : "s per 1,000 requests";
  console.log(
    `| ${name} | ${per("A").toFixed(3)} ${unit} | ${per("B").toFixed(3)} ${unit} | ${(per("B") / per("A")).toFixed(2)} |`,
  );
}
rmSync(config, { recursive: true, force: true });
process.exit(0);
