import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis.ts";

/*
 * A real PostgreSQL from Debian's packages, on loopback, in a temporary directory: initdb, then
 * the server, trust authentication for the one test user, no data kept after the test. As root
 * (CI), initdb and the server run as the package's "postgres" user, since PostgreSQL refuses
 * root. It can be killed and started again on the same port, as an outage would; commits are
 * synchronous, as by default, so a kill loses nothing a client was told is written. .ci/run
 * installs the package; elsewhere its absence skips the tests, saying so, unless
 * LEVITY_REQUIRE_SHARED=1.
 */

const BIN = "/usr/lib/postgresql/15/bin";

export function postgresAvailable(testFile: string): boolean {
  if (existsSync(join(BIN, "postgres"))) return true;
  if (process.env.LEVITY_REQUIRE_SHARED === "1")
    throw new Error(
      `${testFile}: LEVITY_REQUIRE_SHARED=1 but there is no ${BIN}/postgres (apt-get install postgresql)`,
    );
  console.warn(`${testFile}: skipped, no ${BIN}/postgres (apt-get install postgresql)`);
  return false;
}

const asRoot = process.getuid?.() === 0;
const asPostgres = (argv: string[]) =>
  asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", ...argv] : argv;

export class TestPostgres {
  readonly dir: string;
  private proc: ReturnType<typeof Bun.spawn> | undefined;

  constructor(readonly port = freePort()) {
    this.dir = mkdtempSync(join(tmpdir(), "levity-pg-"));
    if (asRoot) {
      const pg = Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim();
      const group = Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim();
      chownSync(this.dir, Number(pg), Number(group));
    }
  }

  get url(): string {
    return `postgres://levity@127.0.0.1:${this.port}/levity`;
  }

  /** initdb (first time), start, and a database named levity; resolves when it accepts connections. */
  async start(): Promise<void> {
    const data = join(this.dir, "data");
    if (!existsSync(data)) {
      const init = Bun.spawnSync(
        asPostgres([
          join(BIN, "initdb"),
          "-D",
          data,
          "-U",
          "levity",
          "--auth=trust",
          "-E",
          "UTF8",
          "--no-sync",
        ]),
      );
      if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
    }
    this.proc = Bun.spawn(
      asPostgres([
        join(BIN, "postgres"),
        "-D",
        data,
        "-p",
        String(this.port),
        "-h",
        "127.0.0.1",
        "-k",
        this.dir,
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
      ]),
      { stdout: "ignore", stderr: "pipe", stdin: "ignore" },
    );
    void new Response(this.proc.stderr as ReadableStream).arrayBuffer();
    // pg_isready until it answers: the server says nothing a test could wait on otherwise.
    for (let i = 0; i < 300; i++) {
      const ready = Bun.spawnSync([
        join(BIN, "pg_isready"),
        "-h",
        "127.0.0.1",
        "-p",
        String(this.port),
        "-U",
        "levity",
      ]);
      if (ready.exitCode === 0) break;
      await Bun.sleep(20);
    }
    const create = Bun.spawnSync([
      join(BIN, "createdb"),
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      "levity",
      "levity",
    ]);
    const said = create.stderr.toString();
    if (create.exitCode !== 0 && !said.includes("already exists"))
      throw new Error(`createdb failed: ${said}`);
  }

  /**
   * The postmaster and its backends, by the pid file: as root the child process is runuser, and a
   * signal to it would not reach them.
   */
  private serverPids(): number[] {
    let postmaster: number;
    try {
      postmaster = Number(
        readFileSync(join(this.dir, "data", "postmaster.pid"), "utf8").split("\n")[0],
      );
    } catch {
      return [];
    }
    if (!Number.isInteger(postmaster) || postmaster <= 0) return [];
    const children = Bun.spawnSync(["pgrep", "-P", String(postmaster)])
      .stdout.toString()
      .split("\n")
      .filter(Boolean)
      .map(Number);
    return [postmaster, ...children];
  }

  private async signal(signal: NodeJS.Signals, pids: number[]): Promise<void> {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {}
    }
    this.proc?.kill(signal);
    await this.proc?.exited;
    this.proc = undefined;
    // Gone, so that a start on the same port and directory finds neither the port nor the shared memory held.
    // A zombie (exited, not yet reaped by whoever inherited it) is gone as far as a restart cares.
    const alive = (pid: number) => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 500 && pids.some(alive); i++) await Bun.sleep(10);
  }

  /** Freezes it (SIGSTOP): connections stay open and nothing answers, as a hung server. */
  pause(): void {
    this.send("SIGSTOP");
  }

  resume(): void {
    this.send("SIGCONT");
  }

  /** A backend that has just ended is no longer there to signal. */
  private send(signal: NodeJS.Signals): void {
    for (const pid of this.serverPids()) {
      try {
        process.kill(pid, signal);
      } catch {}
    }
  }

  /** Stops it at once, as a crash would (SIGKILL). */
  async kill(): Promise<void> {
    await this.signal("SIGKILL", this.serverPids());
    // A killed postmaster leaves its pid file and its socket's lock: the next start would refuse
    // them while the dead postmaster is an unreaped zombie (a container's init may never reap it).
    rmSync(join(this.dir, "data", "postmaster.pid"), { force: true });
    rmSync(join(this.dir, `.s.PGSQL.${this.port}.lock`), { force: true });
    rmSync(join(this.dir, `.s.PGSQL.${this.port}`), { force: true });
  }

  async stop(): Promise<void> {
    // A paused server could not act on it; SIGINT is the fast shutdown: it does not wait for
    // clients (levity's pool) to disconnect.
    this.send("SIGCONT");
    await this.signal("SIGINT", this.serverPids().slice(0, 1));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
