import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const CONFIG_FILES = ["gateway.yaml", "mappings.yaml", "routes.yaml"] as const;

export interface ConfigDirChoice {
  /** Undefined when no directory holds configuration: the built-in defaults serve. */
  dir?: string;
  /** Why this directory was chosen, for the start-up block. */
  reason: string;
  problem?: string;
}

export interface LocateInput {
  flag?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  home?: string;
}

export function defaultConfigDir(env: Record<string, string | undefined>, home = homedir()): string {
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "levity");
}

/** `--config DIR`, else `$LEVITY_CONFIG_DIR`, else the current directory if it holds a config file, else ~/.config/levity. */
export function locateConfigDir({ flag, env, cwd, home }: LocateInput): ConfigDirChoice {
  if (flag) return explicit(resolve(cwd, flag), "--config");
  if (env.LEVITY_CONFIG_DIR) return explicit(resolve(cwd, env.LEVITY_CONFIG_DIR), "$LEVITY_CONFIG_DIR");
  if (CONFIG_FILES.some((file) => existsSync(join(cwd, file)))) return { dir: cwd, reason: "current directory" };
  const fallback = defaultConfigDir(env, home);
  if (isDirectory(fallback)) return { dir: fallback, reason: "default location" };
  return { reason: `no config directory found (looked in the current directory and ${fallback})` };
}

function explicit(dir: string, source: string): ConfigDirChoice {
  if (isDirectory(dir)) return { dir, reason: source };
  return { reason: source, problem: `${source} names ${dir}, which is not a directory` };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
