/*
 * bun scripts/tools.ts TOOL [ARGS...]   runs a development tool, installing it on first use
 * bun scripts/tools.ts --install        installs them only (.ci/run does, before the tests)
 *
 * TypeScript (npm run typecheck), Biome (npm run lint, npm run format) and Deno
 * (test/deno.test.ts, npm run start:deno) are 218 MB that running and testing the gateway do not
 * need, so they are not in package.json: that keeps `npm install` under 250 MB. They live in .ci/tools/, pinned by its own package-lock.json and
 * installed from it with `npm ci` (the npm registry only), the first time one is needed or
 * whenever that lock changes.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { watchParent } from "../src/cli/parent-watch.ts";

const ROOT = resolve(import.meta.dir, "..");
export const TOOLS_DIR = join(ROOT, ".ci", "tools");
const MODULES = join(TOOLS_DIR, "node_modules");
/** The digest of the lock the installed tools came from. */
const STAMP = join(MODULES, ".levity-lock-sha256");

function lockDigest(): string {
  return createHash("sha256")
    .update(readFileSync(join(TOOLS_DIR, "package-lock.json")))
    .digest("hex");
}

export function toolsInstalled(): boolean {
  return existsSync(STAMP) && readFileSync(STAMP, "utf8").trim() === lockDigest();
}

/** npm ci into .ci/tools/ unless what is there came from the current lock. */
export function installTools(): void {
  if (toolsInstalled()) return;
  console.error(
    "installing the development tools (TypeScript, Deno) into .ci/tools/ from its package-lock.json",
  );
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = Bun.spawnSync([npm, "ci", "--prefix", TOOLS_DIR, "--no-audit", "--no-fund"], {
    stdout: "inherit",
    stderr: "inherit",
  });
  if (result.exitCode !== 0)
    throw new Error(`npm ci --prefix ${TOOLS_DIR} failed (exit ${result.exitCode})`);
  writeFileSync(STAMP, `${lockDigest()}\n`);
}

/**
 * The deno binary itself, if installed: not node_modules/.bin/deno, which is a Node launcher
 * whose child would outlive a kill of the launcher. LEVITY_DENO names another one.
 */
export function denoBinary(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (env.LEVITY_DENO) return env.LEVITY_DENO;
  const exe = process.platform === "win32" ? "deno.exe" : "deno";
  const platforms = join(MODULES, "@deno");
  if (!existsSync(platforms)) return undefined;
  return readdirSync(platforms)
    .map((dir) => join(platforms, dir, exe))
    .find((path) => existsSync(path));
}

function toolCommand(tool: string): string {
  if (tool === "deno") {
    const deno = denoBinary();
    if (!deno)
      throw new Error(
        "the deno package installed no binary for this platform under .ci/tools/node_modules/@deno",
      );
    return deno;
  }
  const bin = join(MODULES, ".bin", process.platform === "win32" ? `${tool}.cmd` : tool);
  if (!existsSync(bin))
    throw new Error(
      `no tool ${tool} in .ci/tools (it has: ${readdirSync(join(MODULES, ".bin")).join(", ")})`,
    );
  return bin;
}

if (import.meta.main) {
  const [tool, ...args] = process.argv.slice(2);
  if (!tool) {
    console.error("usage: bun scripts/tools.ts TOOL [ARGS...] | --install");
    process.exit(2);
  }
  installTools();
  if (tool === "--install") process.exit(0);
  const child = Bun.spawn([toolCommand(tool), ...args], {
    cwd: process.cwd(),
    stdio: ["inherit", "inherit", "inherit"],
  });
  // Signals for this process are the tool's (npm start:deno is stopped through us); and when
  // whatever started us is gone without one, so is the tool.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(signal, () => child.kill(signal));
  if (process.env.npm_lifecycle_event) watchParent(() => child.kill("SIGTERM"));
  process.exit(await child.exited);
}
