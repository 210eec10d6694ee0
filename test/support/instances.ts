import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir, writeConfig, type ConfigFiles } from "./gateway.ts";
import { serveLevity } from "./process.ts";
import { searchDirectory } from "./secret-audit.ts";

/*
 * Several levity processes sharing one Redis (and PostgreSQL), as a team behind a load balancer
 * runs them: each its own config directory (the same files), its own data directory and port.
 * An instance can be killed with SIGKILL, as a host dies, and started again on its directory.
 */

export interface Instance {
  name: string;
  origin: string;
  dir: string;
  pid: number;
  /** What the process has printed so far (its log). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Instances {
  all: Instance[];
  /** Starts instance `index` again on its own directory (after a kill). */
  restart(index: number): Promise<Instance>;
  stop(): Promise<void>;
}

/** `gateway` may use {{DATA_DIR}}; each instance's is its own. */
export async function startInstances(count: number, files: ConfigFiles): Promise<Instances> {
  const dirs = Array.from({ length: count }, () => tempDir("levity-instance-"));
  const start = async (index: number): Promise<Instance> => {
    const dir = dirs[index]!;
    writeConfig(dir, {
      ...files,
      gateway: files.gateway?.replaceAll("{{DATA_DIR}}", join(dir, "data")),
    });
    const child = await serveLevity(["--config", dir], { cwd: dir });
    return {
      name: String.fromCharCode(65 + index),
      origin: child.origin,
      dir,
      pid: child.proc.pid,
      output: () => child.stdout.text + child.stderr.text,
      async kill(signal = "SIGTERM") {
        child.kill(signal);
        await child.exited;
      },
    };
  };
  const all = await Promise.all(dirs.map((_, i) => start(i)));
  return {
    all,
    async restart(index) {
      const again = await start(index);
      all[index] = again;
      return again;
    },
    async stop() {
      await Promise.all(all.map((instance) => instance.kill()));
      for (const dir of dirs) {
        searchDirectory(dir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
