import { existsSync, rmSync } from "node:fs";
import { LineReader } from "./process.ts";
import { tempDir } from "./gateway.ts";

/*
 * A real redis-server from Debian's package, on loopback, in a temporary directory, for the tests
 * of shared state. .ci/run installs the package; on a machine without it these tests are skipped,
 * saying so (LEVITY_REQUIRE_SHARED=1, set by .ci/run, makes its absence a failure). It can be
 * stopped and started again on the same port, as an outage would.
 */

const SERVER = "/usr/bin/redis-server";

export function redisAvailable(testFile: string): boolean {
  if (existsSync(SERVER)) return true;
  if (process.env.LEVITY_REQUIRE_SHARED === "1")
    throw new Error(
      `${testFile}: LEVITY_REQUIRE_SHARED=1 but there is no ${SERVER} (apt-get install redis-server)`,
    );
  console.warn(`${testFile}: skipped, no ${SERVER} (apt-get install redis-server)`);
  return false;
}

/** A port nothing listens on now: the OS picks it, and it is let go at once. */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

export class TestRedis {
  readonly dir = tempDir("levity-redis-");
  private proc: ReturnType<typeof Bun.spawn> | undefined;

  constructor(readonly port = freePort()) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and resolves once it accepts connections. */
  async start(): Promise<void> {
    const proc = Bun.spawn(
      [
        SERVER,
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
      ],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    this.proc = proc;
    const out = new LineReader(proc.stdout as ReadableStream<Uint8Array>);
    void new Response(proc.stderr as ReadableStream).arrayBuffer();
    await out.waitFor(/Ready to accept connections/);
  }

  /** Stops it at once, as a crash would (SIGKILL). */
  async kill(): Promise<void> {
    this.proc?.kill("SIGKILL");
    await this.proc?.exited;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
