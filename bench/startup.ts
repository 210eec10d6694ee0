/*
 * Start-up time of the compiled binary: from spawning it to the first 200 from /healthz, polled
 * as fast as a connection can be attempted. Usage: bun bench/startup.ts [BINARY] [RUNS]
 * (default dist/levity-<this platform>, 15 runs). Prints each run and the median.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./processes.ts";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";

const os = process.platform === "win32" ? "windows" : process.platform;
const binary =
  process.argv[2] ??
  join(
    import.meta.dir,
    "..",
    "dist",
    `levity-${os}-${process.arch}${os === "windows" ? ".exe" : ""}`,
  );
const runs = Number(process.argv[3] ?? 15);

/** A port nothing listens on, chosen by the OS. */
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "levity-startup-"));
  // An empty config directory: the defaults, request log and metrics on; the environment the
  // service files set, as a service starts it.
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
  `median ${times[Math.floor(times.length / 2)]!.toFixed(1)} ms, min ${times[0]!.toFixed(1)}, max ${times.at(-1)!.toFixed(1)} (${runs} runs, ${binary})`,
);
