/*
 * What every benchmark script does with the processes it runs: start one and wait for the port
 * it prints, kill them all when the script ends, and read a process's CPU time from /proc.
 */
import { createServer } from "node:net";
import { readdirSync, readFileSync } from "node:fs";

const children: ReturnType<typeof Bun.spawn>[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** A process the script started otherwise, killed with the others when it ends. */
export function killAtExit(proc: ReturnType<typeof Bun.spawn>): void {
  children.push(proc);
}

/** Starts `argv` and resolves once its output says it listens (the port in `ready`'s first group). */
export async function startProcess(
  name: string,
  argv: string[],
  env: Record<string, string> = {},
  ready = /listening (?:on http:\/\/[\d.]+:)?(\d+)/,
  cwd?: string,
): Promise<{ port: number; pid: number; proc: ReturnType<typeof Bun.spawn> }> {
  const proc = Bun.spawn(argv, {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
    cwd,
  });
  children.push(proc);
  const decoder = new TextDecoder();
  let seen = "";
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
    const match = ready.exec(seen);
    if (match) {
      // Keep draining its output so it never blocks on a full pipe.
      void (async () => {
        while (!(await reader.read()).done);
      })();
      void new Response(proc.stderr as ReadableStream).arrayBuffer();
      return { port: Number(match[1]), pid: proc.pid, proc };
    }
  }
  throw new Error(
    `${name} exited before it was ready:\n${seen}\n${await new Response(proc.stderr as ReadableStream).text()}`,
  );
}

/** The CPU seconds of one thread of `pid` (its serving thread is the one whose id is the process's). */
export function threadCpuSeconds(pid: number, tid: number): number {
  return statTicks(`/proc/${pid}/task/${tid}/stat`) / 100;
}

/** User + system CPU time in a /proc stat file (a process's or a thread's), in ticks of 10 ms. */
function statTicks(path: string): number {
  const fields = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** A process's CPU time so far, in seconds. */
export function cpuSeconds(pid: number): number {
  return statTicks(`/proc/${pid}/stat`) / 100;
}

/**
 * The CPU time, in seconds, of the processes of each of these commands together (PostgreSQL's
 * server and its backends, Redis), in one pass over /proc: what a gateway's databases take from
 * the machine they share. A process that ends between two readings takes its time with it: read
 * around runs short enough that the servers' connections stay open.
 */
export function cpuSecondsOfCommands(commands: readonly string[]): Map<string, number> {
  const ticks = new Map(commands.map((command) => [command, 0]));
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      const sum = ticks.get(command);
      if (sum !== undefined) ticks.set(command, sum + statTicks(`/proc/${entry}/stat`));
    } catch {
      // Gone since the directory was read.
    }
  }
  return new Map([...ticks].map(([command, sum]) => [command, sum / 100]));
}

/**
 * A process's CPU time so far by thread, in seconds: its serving thread as "serving" (the thread
 * whose id is the process's), the others by their names, numbered ones together ("HeapHelper2"
 * and "HeapHelper3" as "HeapHelper"). A thread that ended between two readings takes its time
 * with it, so read around runs in which a gateway's threads stay up.
 */
export function cpuSecondsByThread(pid: number): Map<string, number> {
  const seconds = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name =
        task === String(pid)
          ? "serving"
          : readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").trim().replace(/\d+$/, "");
      const spent = statTicks(`/proc/${pid}/task/${task}/stat`) / 100;
      seconds.set(name, (seconds.get(name) ?? 0) + spent);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return seconds;
}

/**
 * The CPU time, in /proc's ticks of 10 ms, of a JavaScriptCore process's compiler threads (Bun
 * names them `JITWorker`), or undefined where it has none (a Node process): how the bench sees
 * that a gateway's JIT has stopped compiling its request path. Whole ticks, so that a threshold
 * compares exactly.
 */
export function compilerCpuTicks(pid: number): number | undefined {
  let ticks = 0;
  let found = false;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (!readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").startsWith("JITWorker")) continue;
      ticks += statTicks(`/proc/${pid}/task/${task}/stat`);
      found = true;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return found ? ticks : undefined;
}

export const WARM_MIN_SECONDS = 3;
const WARM_MAX_SECONDS = 20;

/**
 * Loads a gateway one second at a time (`loadOneSecond`) for at least 3 s, then until its
 * compiler threads used under 2 ticks in the last second, or 20 s: until then its first rounds
 * would measure the JIT compiling its request path (BENCHMARKS.md, issue 20's fifth session).
 * Returns the seconds taken, as the report prints them.
 */
export function warmUntilCompiled(pid: number | undefined, loadOneSecond: () => void): string {
  for (let seconds = 1; ; seconds++) {
    const before = pid === undefined ? undefined : compilerCpuTicks(pid);
    loadOneSecond();
    const after = pid === undefined ? undefined : compilerCpuTicks(pid);
    if (seconds < WARM_MIN_SECONDS) continue;
    if (before === undefined && after === undefined) return `${seconds} (no compiler threads read)`;
    // A thread that ended meanwhile lowers the sum: not a quiet second.
    if (before !== undefined && after !== undefined && after >= before && after - before < 2)
      return `${seconds}`;
    if (seconds >= WARM_MAX_SECONDS) return `${seconds} (the cap; not quiet)`;
  }
}

/**
 * A port the OS had free a moment ago, for a program that must be told its port (Portkey, the
 * start-up runs): a random one could be an ephemeral port in use (a Portkey run failed so).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
