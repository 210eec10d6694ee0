import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./gateway.ts";

/*
 * The real Codex CLI, for the tests that run it. It is not a devDependency (about 400 MB
 * installed): .ci/run installs a pinned version into .levity-clis/ (where `npm run try-clis`
 * installs it too) and sets LEVITY_REQUIRE_CODEX=1, so there a missing Codex fails the run; on a
 * developer's machine without it these tests are skipped, saying so. LEVITY_CODEX_BIN names
 * another binary. The native binary, not node_modules/.bin/codex: that is a Node launcher whose
 * child would outlive a kill.
 */

/** The native codex binary an `npm install @openai/codex` put under `root`, if any. */
export function nativeCodex(root: string): string | undefined {
  const platform = join(
    root,
    "node_modules",
    "@openai",
    `codex-${process.platform}-${process.arch}`,
    "vendor",
  );
  if (!existsSync(platform)) return undefined;
  return readdirSync(platform)
    .map((triple) => join(platform, triple, "bin", "codex"))
    .find((path) => existsSync(path));
}

/** The Codex binary to run, or undefined (with a notice) when there is none and none is required. */
export function codexBinary(testFile: string): string | undefined {
  const named = process.env.LEVITY_CODEX_BIN;
  const found =
    named && existsSync(named)
      ? named
      : (nativeCodex(join(REPO, ".levity-clis")) ?? nativeCodex(REPO));
  if (found) return found;
  const how =
    "npm install --prefix .levity-clis @openai/codex@0.169.0, or set LEVITY_CODEX_BIN to its native binary";
  if (process.env.LEVITY_REQUIRE_CODEX === "1")
    throw new Error(`${testFile}: LEVITY_REQUIRE_CODEX=1 but there is no Codex CLI (${how})`);
  console.warn(`${testFile}: skipped, no Codex CLI (${how})`);
  return undefined;
}

/**
 * `~/.codex/config.toml` pointing Codex at levity, as the README shows it. gpt-5.5 is a model
 * Codex knows, whose metadata gives it the freeform apply_patch tool. Offline, the update check,
 * analytics and the plugin and app syncs (a git clone from github.com, calls to chatgpt.com)
 * would only fail, so they are off.
 */
export function codexConfigToml(
  origin: string,
  options: { settings?: string[]; provider?: string[] } = {},
): string {
  const lines = [
    'model = "gpt-5.5"',
    'model_provider = "levity"',
    ...(options.settings ?? []),
    "check_for_update_on_startup = false",
    "",
    "[analytics]",
    "enabled = false",
    "",
    "[features]",
    "plugins = false",
    "remote_plugin = false",
    "apps = false",
    "",
    "[model_providers.levity]",
    'name = "levity"',
    `base_url = "${origin}/v1"`,
    'env_key = "LEVITY_API_KEY"',
    'wire_api = "responses"',
    ...(options.provider ?? []),
  ];
  return `${lines.join("\n")}\n`;
}
