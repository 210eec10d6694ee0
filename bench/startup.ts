/*
 * Start-up time of the compiled binary: from spawning it to the first 200 from /healthz. Usage:
 * bun bench/startup.ts [--spin | --both] [BINARY] [RUNS] (default dist/levity-<this platform>,
 * 15 runs). Prints each run and the median.
 *
 * A refused connection is tried again 1 ms later, as a health check or `curl --retry` would:
 * the reading is at most about 1 ms late. With --spin it is tried again at once, as the first
 * twenty sessions' harness did; that poller keeps a whole core busy while the binary starts,
 * one of the two the benchmarks' machine has: starts interleaved with the paced poller's, it read
 * the same levity binary 8.7 ms slower and a ten-line Bun.serve 5.3 ms slower (BENCHMARKS.md,
 * issue 20's twenty-first session). --both times each start both ways, one after the other, in
 * turn (this machine's readings drift by tens of ms between blocks of starts minutes apart), and
 * prints a median line for each.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./processes.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

type Poller = "paced" | "spin";

const os = process.platform === "win32" ? "windows" : process.platform;
const args = process.argv.slice(2);
const pollers: Poller[] =
  args[0] === "--spin" ? ["spin"] : args[0] === "--both" ? ["paced", "spin"] : ["paced"];
if (args[0]?.startsWith("--")) args.shift();
const binary =
  args[0] ??
  join(
    import.meta.dir,
    "..",
    "dist",
    `levity-${os}-${process.arch}${os === "windows" ? ".exe" : ""}`,
  );
const runs = Number(args[1] ?? 15);
/** The pause after a refused connection. */
const RETRY_MS = 1;

/** One start, spawn to the first 200 from /healthz, in ms. */
async function timeStart(poller: Poller): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "levity-startup-"));
  // An empty config directory: the defaults, request log and metrics on; the environment the
  // service files set, as a service starts it.
  // A port nothing listens on, chosen by the OS.
  const port = await freePort();
  const started = performance.now();
  const child = Bun.spawn([binary, "serve", "--config", dir, "--port", String(port)], {
    stdout: "ignore",
    stderr: "ignore",
    env: { HOME: dir, PATH: "/usr/bin:/bin", ...SERVICE_ENVIRONMENT },
  });
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    if (exited)
      throw new Error(`${binary} exited with ${child.exitCode} before answering /healthz`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
      if (poller === "paced") await Bun.sleep(RETRY_MS);
    }
  }
  const ms = performance.now() - started;
  child.kill("SIGKILL");
  await child.exited;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const HOW: Record<Poller, string> = {
  paced: `retried after ${RETRY_MS} ms`,
  spin: "retried at once",
};
const times: Record<Poller, number[]> = { paced: [], spin: [] };
for (let i = 0; i < runs; i++) {
  // Each poller first in every other run.
  for (const poller of i % 2 === 0 ? pollers : [...pollers].reverse()) {
    const ms = await timeStart(poller);
    times[poller].push(ms);
    console.log(`run ${i + 1}${pollers.length > 1 ? ` (${poller})` : ""}: ${ms.toFixed(1)} ms`);
  }
}
for (const poller of pollers) {
  const sorted = times[poller].sort((a, b) => a - b);
  console.log(
    `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)} (${runs} runs, ${binary}, ${HOW[poller]})`,
  );
}
