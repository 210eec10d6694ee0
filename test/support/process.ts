import type { Subprocess } from "bun";
import { BUN, MAIN, tempDir, writeConfig, type ConfigFiles } from "./gateway.ts";
import { searchDirectory, searchForSecrets } from "./secret-audit.ts";

/*
 * levity as a separate process, for what only a process has: signals, exit codes, its own
 * output, a port another process holds. Synchronisation is on what the process prints, never
 * on sleeps.
 */

export interface LevityProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout: LineReader;
  stderr: LineReader;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

/** Collects a stream's text and lets a test wait for a line that matches. */
export class LineReader {
  text = "";
  private waiters: {
    pattern: RegExp;
    from: number;
    resolve: (match: RegExpExecArray) => void;
    reject: (error: Error) => void;
  }[] = [];
  private ended = false;
  /** Resolves when the stream has ended and all its text is in `text`. */
  readonly finished: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.finished = this.pump(stream);
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.text += decoder.decode(chunk, { stream: true });
      this.check();
    }
    this.ended = true;
    this.check();
  }

  private check(): void {
    this.waiters = this.waiters.filter((waiter) => {
      const match = waiter.pattern.exec(this.text.slice(waiter.from));
      if (match) waiter.resolve(match);
      else if (this.ended)
        waiter.reject(new Error(`stream ended without ${waiter.pattern}; it said:\n${this.text}`));
      else return true;
      return false;
    });
  }

  /** Waits for `pattern` in text that arrives after `from` (default: anywhere). */
  waitFor(pattern: RegExp, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ pattern, from, resolve, reject });
      this.check();
    });
  }
}

export function spawnLevity(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): LevityProcess {
  const proc = Bun.spawn([BUN, MAIN, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", HOME: options.cwd ?? "/nonexistent", ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new LineReader(proc.stdout);
  const stderr = new LineReader(proc.stderr);
  // Searched for keys once the process has said all it will say.
  void Promise.all([stdout.finished, stderr.finished]).then(() =>
    searchForSecrets(`the output of levity ${args.join(" ")}`, stdout.text + stderr.text),
  );
  return {
    proc,
    stdout,
    stderr,
    exited: proc.exited,
    kill: (signal = "SIGTERM") => proc.kill(signal),
  };
}

/** Runs a levity command to completion. */
export async function runLevity(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
) {
  const child = spawnLevity(args, options);
  const code = await child.exited;
  await Promise.all([child.stdout.finished, child.stderr.finished]);
  return { code, stdout: child.stdout.text, stderr: child.stderr.text };
}

/** Starts `levity serve` and waits for its start-up block; returns the base origin it listens on. */
export async function serveLevity(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
) {
  const child = spawnLevity(["serve", "--port", "0", ...args], options);
  const ready = await Promise.race([
    child.stdout.waitFor(/listening on (http:\/\/[\d.]+:\d+)/),
    child.exited.then((code) => {
      throw new Error(`levity exited with ${code} before listening:\n${child.stderr.text}`);
    }),
  ]);
  return { ...child, origin: ready[1]!.replace("0.0.0.0", "127.0.0.1") };
}

/** `levity serve` as its own process on a fresh config directory with these files (and variables). */
export async function serveLevityWith(files: ConfigFiles, env?: Record<string, string>) {
  const dir = tempDir();
  writeConfig(dir, files);
  const child = await serveLevity(["--config", dir], { cwd: dir, env });
  return {
    ...child,
    dir,
    port: Number(new URL(child.origin).port),
    async stop() {
      child.kill();
      await child.exited;
      searchDirectory(dir);
    },
  };
}
