import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./gateway.ts";

/*
 * The real Claude Code, for the tests that run it. Like Codex it is not a devDependency: .ci/run
 * installs the pinned version into .levity-clis/ (where `npm run try-clis` installs it too) and
 * sets LEVITY_REQUIRE_CLAUDE_CODE=1, so there a missing Claude Code fails the run; on a
 * developer's machine without it these tests are skipped, saying so. LEVITY_CLAUDE_BIN names
 * another binary. Its package's bin is the native executable, so a kill stops it whole.
 */

export const CLAUDE_CODE_VERSION = "2.1.197";

/** The Claude Code binary to run, or undefined (with a notice) when there is none and none is required. */
export function claudeCodeBinary(testFile: string): string | undefined {
  const named = process.env.LEVITY_CLAUDE_BIN;
  const installed = join(REPO, ".levity-clis", "node_modules", ".bin", "claude");
  const found = named && existsSync(named) ? named : existsSync(installed) ? installed : undefined;
  if (found) return found;
  const how = `npm install --prefix .levity-clis @anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}, or set LEVITY_CLAUDE_BIN`;
  if (process.env.LEVITY_REQUIRE_CLAUDE_CODE === "1")
    throw new Error(
      `${testFile}: LEVITY_REQUIRE_CLAUDE_CODE=1 but there is no Claude Code (${how})`,
    );
  console.warn(`${testFile}: skipped, no Claude Code (${how})`);
  return undefined;
}
