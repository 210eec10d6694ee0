/*
 * Start-up time of the compiled binary: from spawning it to the first 200 from /healthz. Usage:
 * bun bench/startup.ts [--spin] [BINARY] [RUNS] (default dist/levity-<this platform>, 15 runs).
 * Prints each run and the median.
 *
 * A refused connection is tried again 1 ms later, as a health check or `curl --retry` would:
 * the reading is at most about 1 ms late. With --spin it is tried again at once, as the first
 * nineteen sessions' harness did; that poller keeps a whole core busy while the binary starts,
 * one of the two the benchmarks' machine has: starts interleaved with the paced poller's, it read
 * the same levity binary 8.7 ms slower and a ten-line Bun.serve 5.3 ms slower (BENCHMARKS.md,
 * issue 20's twenty-first session).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./processes.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

const os = process.platform === "win32" ? "windows" : process.platform;
const args = process.argv.slice(2);
const spin = args[0] === "--spin";
if (spin) args.shift();
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

const times: number[] = [];
for (let i = 0; i < runs; i++) {
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
      if (!spin) await Bun.sleep(RETRY_MS);
    }
  }
  const ms = performance.now() - started;
  times.push(ms);
  child.kill("SIGKILL");
  await child.exited;
  rmSync(dir, { recursive: true, force: true });
  console.log(`run ${i + 1}: ${ms.toFixed(1)} ms`);
}
times.sort((a, b) => a - b);
console.log(
  `median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)}, max ${times.at(-1)!.toFixed(1)} (${runs} runs, ${binary}, ${spin ? "retried at once" : `retried after ${RETRY_MS} ms`})`,
);
