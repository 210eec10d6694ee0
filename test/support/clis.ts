import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "./gateway.ts";

/*
 * The real Claude Code and Gemini CLI, for the tests that run them (Codex has its own finder in
 * codex.ts). Neither is a devDependency: .ci/run installs pinned versions into .levity-clis/
 * (where `npm run try-clis` installs them too) and sets LEVITY_REQUIRE_CLIS=1, so there a missing
 * CLI fails the run; on a developer's machine without them these tests are skipped, saying so.
 * LEVITY_CLAUDE_BIN names another Claude Code binary.
 */

export const CLAUDE_CODE_VERSION = "2.1.197";
export const GEMINI_CLI_VERSION = "0.61.0";

const INSTALL = `npm install --prefix .levity-clis @anthropic-ai/claude-code@${CLAUDE_CODE_VERSION} @google/gemini-cli@${GEMINI_CLI_VERSION}`;

function found(testFile: string, what: string, path: string): string | undefined {
  if (existsSync(path)) return path;
  if (process.env.LEVITY_REQUIRE_CLIS === "1")
    throw new Error(`${testFile}: LEVITY_REQUIRE_CLIS=1 but there is no ${what} (${INSTALL})`);
  console.warn(`${testFile}: skipped, no ${what} (${INSTALL})`);
  return undefined;
}

/** Claude Code's native binary (no Node launcher, so a kill reaches it). */
export function claudeCodeBinary(testFile: string): string | undefined {
  const named = process.env.LEVITY_CLAUDE_BIN;
  if (named && existsSync(named)) return named;
  const path = join(REPO, ".levity-clis/node_modules/@anthropic-ai/claude-code/bin/claude.exe");
  return found(testFile, "Claude Code", path);
}

/** Gemini CLI's bundled script, which runs under Node. */
export function geminiCliScript(testFile: string): string | undefined {
  const path = join(REPO, ".levity-clis/node_modules/@google/gemini-cli/bundle/gemini.js");
  return found(testFile, "Gemini CLI", path);
}

export interface CliRun {
  code: number;
  /** stdout and stderr, in that order. */
  out: string;
  seconds: number;
}

/**
 * Runs a CLI to its end in a fresh home of its own (pushed to `homes`, for the test to remove),
 * with only PATH, HOME, NO_COLOR and what `env` gives it; stopped after `timeoutMs`.
 */
export async function runCliInHome(
  command: string[],
  env: (home: string) => Record<string, string>,
  options: { homes: string[]; timeoutMs: number; prefix?: string },
): Promise<CliRun> {
  const home = tempDir(options.prefix ?? "levity-cli-");
  options.homes.push(home);
  const started = performance.now();
  const child = Bun.spawn(command, {
    cwd: home,
    env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", ...env(home) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, out: stdout + stderr, seconds: (performance.now() - started) / 1000 };
}

/** Gemini CLI's home set up for an API key (no sign-in), and the environment that points it at levity. */
export function geminiCliEnv(home: string, origin: string, key: string): Record<string, string> {
  mkdirSync(join(home, ".gemini"), { recursive: true });
  writeFileSync(
    join(home, ".gemini", "settings.json"),
    JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }),
  );
  return {
    GOOGLE_GEMINI_BASE_URL: origin,
    GEMINI_API_KEY: key,
    GEMINI_CLI_TRUST_WORKSPACE: "true",
  };
}
