import { loadConfig } from "../config/load.ts";
import { locateConfigDir, type ConfigDirChoice } from "../config/locate.ts";
import { ConfigError, formatProblem } from "../config/problem.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  home?: string;
}

export interface CommonFlags {
  config?: string;
  port?: number;
}

/** Exit codes: 0 success, 1 the configuration or the environment is wrong, 2 the command line is wrong. */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export function chooseConfigDir(flags: CommonFlags, io: CliIO): ConfigDirChoice {
  const choice = locateConfigDir({ flag: flags.config, env: io.env, cwd: io.cwd, home: io.home });
  if (choice.problem) {
    io.err(`levity: ${choice.problem}\n`);
    throw new CliExit(1);
  }
  return choice;
}

export function printConfigProblems(error: ConfigError, io: CliIO): void {
  const count = error.problems.length;
  io.err(`levity: the configuration has ${count} problem${count === 1 ? "" : "s"}:\n`);
  for (const problem of error.problems)
    io.err(`  ${formatProblem(problem).replace(/\n/g, "\n  ")}\n`);
}

export interface LoadForCommandOptions {
  /**
   * The command never uses an upstream account's key (routes, resolve): a key whose variable is
   * unset here, as for a service whose keys live in its environment file, is no problem for it.
   */
  accountKeysUnused?: boolean;
}

/** Loads the configuration for a command, or prints every problem and exits 1. */
export function loadForCommand(
  flags: CommonFlags,
  io: CliIO,
  options: LoadForCommandOptions = {},
): { snapshot: ConfigSnapshot; choice: ConfigDirChoice } {
  const choice = chooseConfigDir(flags, io);
  try {
    return {
      snapshot: loadConfig({
        dir: choice.dir,
        env: io.env,
        port: flags.port,
        tolerateUnsetAccountKeys: options.accountKeysUnused,
      }),
      choice,
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    printConfigProblems(error, io);
    throw new CliExit(1);
  }
}
