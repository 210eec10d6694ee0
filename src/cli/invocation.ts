import { accessSync, constants, realpathSync } from "node:fs";
import { basename, delimiter, dirname, join, resolve } from "node:path";

/*
 * How the person at the keyboard runs this levity again, so that every command levity prints
 * (init's next steps, the start-up block's hint) runs as printed: from a checkout it is
 * `npx bun src/main.ts CMD` and `npm start` in the checkout, from the single executable it is
 * the executable's own name (or path, when it is not on PATH).
 */

/** The checkout this file is in, when running from source. */
export const SOURCE_ROOT = resolve(import.meta.dir, "../..");

/** True inside an executable built by `bun build --compile`, whose modules live in Bun's embedded file system. */
export function isCompiled(main: string = Bun.main): boolean {
  return main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(main);
}

export interface Invocation {
  /** A directory to change to first, when the commands only work there. */
  cd?: string;
  /** `levity CMD ...` is written `${prefix} CMD ...`. */
  prefix: string;
  /** The command that serves; flags follow `serveFlagsAfter`. */
  serve: string;
  /** What goes between `serve` and its flags (`npm start -- --config DIR`). */
  serveFlagsAfter: string;
}

export interface InvocationInput {
  cwd: string;
  env: Record<string, string | undefined>;
  compiled?: boolean;
  execPath?: string;
  sourceRoot?: string;
}

export function invocation({
  cwd,
  env,
  compiled = isCompiled(),
  execPath = process.execPath,
  sourceRoot = SOURCE_ROOT,
}: InvocationInput): Invocation {
  if (!compiled) {
    // npx finds the Bun that npm installed in the checkout, and npm start runs the checkout's script.
    return {
      cd: samePath(cwd, sourceRoot) ? undefined : sourceRoot,
      prefix: "npx bun src/main.ts",
      serve: "npm start",
      serveFlagsAfter: " --",
    };
  }
  const name = basename(execPath);
  const onPath = whichFirst(name, env.PATH ?? "");
  const prefix =
    onPath && samePath(onPath, execPath)
      ? name
      : samePath(dirname(execPath), cwd)
        ? `./${name}`
        : shellWord(execPath);
  return { prefix, serve: prefix, serveFlagsAfter: "" };
}

/** One command line, e.g. `npx bun src/main.ts check --config DIR`. */
export function commandLine(how: Invocation, command: string, flags: string[] = []): string {
  return [how.prefix, command, ...flags].join(" ");
}

export function serveLine(how: Invocation, flags: string[] = []): string {
  return flags.length > 0 ? `${how.serve}${how.serveFlagsAfter} ${flags.join(" ")}` : how.serve;
}

/** As a shell reads it back: bare when it is safe, else single-quoted. A leading ~/ stays unquoted so the shell expands it. */
export function shellWord(word: string): string {
  if (/^[\w@%+=:,./~-]+$/.test(word)) return word;
  if (word.startsWith("~/")) return `~/${shellWord(word.slice(2))}`;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function whichFirst(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}
