import { readFileSync } from "node:fs";
import type { Logger } from "../log.ts";

/*
 * A gateway started by a package-manager script (`npm start`, `npx bun src/main.ts serve`,
 * `bun run start`) stops when that script's process is gone.
 *
 * npm runs a script as `npm -> sh -c "bun src/main.ts serve" -> bun`. A supervisor that stops
 * `npm start` signals the npm process only: on SIGTERM npm passes the signal to the `sh`, which
 * dies without passing it on; on SIGKILL nothing is passed at all and the `sh` stays. Either way
 * the gateway kept running and held the port, and the next start failed with "port in use".
 * So: when started by a package manager (npm, npx, yarn, pnpm and `bun run` all set
 * npm_lifecycle_event), watch the parent and, through any shells in between, the package manager
 * above it; when one of them is gone, stop as on SIGTERM (drain, then exit).
 *
 * Not for a plain `levity serve`: `nohup levity serve &` or `setsid levity serve` are meant to
 * outlive their shell. Service managers (systemd, launchd) start levity directly and stop it
 * themselves, so they never trigger this.
 */

/** How often to look; each look is one small /proc read per watched process on Linux. */
const INTERVAL_MS = 1000;
/** Shells a package manager runs scripts with, or a script runs levity from. */
const SHELLS = new Set(["sh", "dash", "bash", "zsh", "ash", "ksh", "mksh", "busybox", "fish"]);

interface Proc {
  pid: number;
  name: string;
  ppid: number;
  /** Linux: the start time in clock ticks, so a reused pid is not taken for the same process. */
  started?: string;
}

/** Linux's /proc/PID/stat: "pid (name) state ppid ..."; the name may hold spaces and parentheses. */
function procStat(pid: number): (Proc & { state: string }) | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(")");
  const name = text.slice(text.indexOf("(") + 1, close);
  // Fields after the name, starting with field 3 (state); starttime is field 22.
  const rest = text.slice(close + 2).split(" ");
  return { pid, name, state: rest[0] ?? "", ppid: Number(rest[1]), started: rest[19] };
}

/** Elsewhere (macOS, the BSDs), ps; called a few times at start only. */
function psInfo(pid: number): Proc | undefined {
  const result = Bun.spawnSync(["ps", "-o", "ppid=,comm=", "-p", String(pid)], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const match = /^\s*(\d+)\s+(.*?)\s*$/.exec(result.stdout.toString());
  if (result.exitCode !== 0 || !match) return undefined;
  const command = match[2]!;
  return {
    pid,
    ppid: Number(match[1]),
    name: command.slice(command.lastIndexOf("/") + 1).replace(/^-/, ""),
  };
}

function info(pid: number): Proc | undefined {
  if (process.platform === "linux") return procStat(pid);
  if (process.platform === "win32") return undefined;
  return psInfo(pid);
}

/** The parent, and up through shells (at most four), the first process that is not one. */
export function watchedAncestors(): Proc[] {
  const chain: Proc[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    const proc = info(pid) ?? { pid, name: "", ppid: 0 };
    chain.push(proc);
    if (!SHELLS.has(proc.name)) break;
    pid = proc.ppid;
  }
  return chain;
}

function alive(proc: Proc): boolean {
  if (process.platform === "linux") {
    const now = procStat(proc.pid);
    // A zombie has exited; its parent just has not collected it yet.
    return (
      now !== undefined && now.state !== "Z" && now.state !== "X" && now.started === proc.started
    );
  }
  try {
    process.kill(proc.pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Calls `onGone` once when the parent, or a process it was started through, has gone. Returns a
 * function that stops watching. The timer is unref'd: it never keeps the process alive.
 */
export function watchParent(
  onGone: (gone: { pid: number; name: string }) => void,
  intervalMs = INTERVAL_MS,
): () => void {
  const firstParent = process.ppid;
  const chain = watchedAncestors();
  const timer = setInterval(() => {
    // Our own parent's end shows as a new ppid (init, or a subreaper, adopted us).
    const gone =
      process.ppid !== firstParent
        ? (chain[0] ?? { pid: firstParent, name: "" })
        : chain.find((proc) => !alive(proc));
    if (!gone) return;
    clearInterval(timer);
    onGone({ pid: gone.pid, name: gone.name });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** serve: when started by a package-manager script, stop (as on SIGTERM) once that script is gone. */
export function stopWithPackageManager(env: Record<string, string | undefined>, log: Logger): void {
  if (!env.npm_lifecycle_event) return;
  watchParent((gone) => {
    log.warn(
      `the process levity was started under (${gone.name || "pid"} ${gone.pid}, package script "${env.npm_lifecycle_event}") is gone: stopping`,
    );
    process.kill(process.pid, "SIGTERM");
  });
}
