import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./gateway.ts";

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
