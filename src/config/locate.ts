import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve, sep } from "node:path";

export const CONFIG_FILES = ["gateway.yaml", "mappings.yaml", "routes.yaml"] as const;

/*
 * Where levity's configuration comes from, first match wins:
 *
 *   1. --config DIR           named by the user: used even if it holds no file yet
 *   2. $LEVITY_CONFIG_DIR     named by the user: the same
 *   3. the current directory  only if it holds a gateway.yaml
 *   4. ~/.config/levity       ($XDG_CONFIG_HOME/levity) if it holds any of the three files
 *   5. the built-in defaults
 *
 * The current directory needs a gateway.yaml because a directory can hold a mappings.yaml or a
 * routes.yaml that is not the user's configuration: levity's own checkout ships both as the
 * defaults, and counting them made `npm start` ignore what `init` wrote to ~/.config/levity.
 * The default location is levity's own directory, so anything in it was put there for levity:
 * a mappings.yaml alone there still counts. An empty one does not (there is nothing to use, and
 * state then stays in the data directory it would use without one).
 */

export interface ConfigDirChoice {
  /** Undefined when no directory holds configuration: the built-in defaults serve. */
  dir?: string;
  /** Why this directory was chosen (or why none was), for the start-up block and `levity check`. */
  reason: string;
  problem?: string;
  /** Directories further down the list that hold configuration too, and are not used. */
  passedOver?: string[];
  /** The home directory paths are shown relative to. */
  home?: string;
}

export interface LocateInput {
  flag?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  home?: string;
}

export function defaultConfigDir(
  env: Record<string, string | undefined>,
  home = homedir(),
): string {
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "levity");
}

/** The precedence above, as one line for `--help` and messages. */
export const PRECEDENCE =
  "--config DIR, else $LEVITY_CONFIG_DIR, else the current directory if it holds gateway.yaml, else ~/.config/levity if it holds a config file";

export function locateConfigDir({
  flag,
  env,
  cwd,
  home = homedir(),
}: LocateInput): ConfigDirChoice {
  const fallback = defaultConfigDir(env, home);
  const candidates: { dir: string; counts: boolean }[] = [
    { dir: cwd, counts: holds(cwd, ["gateway.yaml"]) },
    { dir: fallback, counts: holds(fallback, CONFIG_FILES) },
  ];
  const others = (chosen: string | undefined) =>
    candidates.filter((c) => c.counts && !sameDir(c.dir, chosen)).map((c) => c.dir);

  if (flag) return explicit(resolve(cwd, flag), "--config", others, home);
  if (env.LEVITY_CONFIG_DIR)
    return explicit(resolve(cwd, env.LEVITY_CONFIG_DIR), "$LEVITY_CONFIG_DIR", others, home);
  if (candidates[0]!.counts)
    return {
      dir: cwd,
      reason: "the current directory holds gateway.yaml",
      passedOver: others(cwd),
      home,
    };
  if (candidates[1]!.counts)
    return { dir: fallback, reason: "the default location", passedOver: [], home };
  return {
    reason: `no gateway.yaml in the current directory, no config file in ${tildify(fallback, home)}`,
    passedOver: [],
    home,
  };
}

function explicit(
  dir: string,
  source: string,
  others: (chosen: string) => string[],
  home: string,
): ConfigDirChoice {
  if (isDirectory(dir)) return { dir, reason: source, passedOver: others(dir), home };
  return {
    reason: source,
    problem: `${source} names ${dir}, which is not a directory`,
    passedOver: [],
    home,
  };
}

function holds(dir: string, files: readonly string[]): boolean {
  return files.some((file) => existsSync(join(dir, file)));
}

function sameDir(a: string, b: string | undefined): boolean {
  return b !== undefined && resolve(a) === resolve(b);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A path under the home directory as ~/..., the way people write it and a shell reads it back. */
export function tildify(path: string, home: string | undefined): string {
  if (!home || home === sep) return path;
  const base = home.endsWith(sep) ? home.slice(0, -1) : home;
  if (path === base) return "~";
  return path.startsWith(base + sep) ? `~${path.slice(base.length)}` : path;
}
