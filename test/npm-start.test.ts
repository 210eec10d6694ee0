import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir, writeConfig } from "./support/gateway.ts";
import { LineReader } from "./support/process.ts";

// `npm start` as a supervisor or a script runs it: the npm process is what gets stopped, with
// SIGTERM or SIGKILL. npm runs the script through `sh -c`, and neither signal reaches the gateway
// below it; the gateway must notice by itself, stop, and free its port for the next start.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Every process below `root`, with its command line (ps works on Linux and macOS alike). */
function descendants(root: number): { pid: number; args: string }[] {
  const rows = Bun.spawnSync(["ps", "-eo", "pid=,ppid=,args="], { stdout: "pipe" })
    .stdout.toString()
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const found: { pid: number; args: string }[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (parents.has(row.ppid) && !parents.has(row.pid)) {
        parents.add(row.pid);
        found.push(row);
        grew = true;
      }
    }
  }
  return found;
}

/** Exists and has not exited: a zombie (exited, not yet collected by its parent) does not count. */
function running(pid: number): boolean {
  if (process.platform === "linux") {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  test(`npm start, its npm process stopped with ${signal}: the gateway stops too and the port is free`, async () => {
    const home = tempDir("levity-npm-start-");
    dirs.push(home);
    const config = join(home, "config");
    writeConfig(config, { gateway: "proxy:\n  port: 0\n" });
    const npm = Bun.spawn(["npm", "start", "--", "--port", "0", "--config", config], {
      cwd: REPO,
      // A HOME of its own: npm's cache and logs, and levity's data directory, go there.
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        XDG_DATA_HOME: join(home, "data"),
        npm_config_update_notifier: "false",
        NO_COLOR: "1",
      },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    // The gateway inherits npm's stdout and stderr: both end only once every process holding them
    // (npm, its shell, the gateway) has exited, which is what the test waits for below.
    const stdout = new LineReader(npm.stdout);
    const stderr = new LineReader(npm.stderr);
    let below: { pid: number; args: string }[] = [];
    try {
      const port = Number(
        (
          await within(
            stdout.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/),
            30_000,
            "npm start listening",
          )
        )[1],
      );
      below = descendants(npm.pid);
      // The deepest match: the shell npm ran (`sh -c "bun src/main.ts serve ..."`) matches too.
      const gateway = below.findLast((proc) => proc.args.includes("src/main.ts serve"));
      expect(gateway?.args).toStartWith("bun ");
      expect(gateway).toBeDefined();
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      npm.kill(signal);
      await npm.exited;
      await within(
        Promise.all([stdout.finished, stderr.finished]),
        15_000,
        "the gateway's exit after npm's",
      );

      expect(stderr.text).toMatch(
        /the process levity was started under \(.+ \d+, package script "start"\) is gone: stopping/,
      );
      // And npm itself has nothing to warn about (it did while .npmrc set force=true).
      expect(stderr.text).not.toContain("npm warn");
      expect(stderr.text).toContain("INFO stopped");
      expect(running(gateway!.pid)).toBe(false);
      // The next start gets the port.
      const next = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("next") });
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("next");
      await next.stop(true);
    } finally {
      // Whatever failed above, nothing is left running.
      for (const proc of below) if (running(proc.pid)) process.kill(proc.pid, "SIGKILL");
      npm.kill("SIGKILL");
      await npm.exited;
    }
  }, 60_000);
}
