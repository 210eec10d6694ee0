import { clipText } from "../clip.ts";

/** One thing wrong with a configuration file, located well enough for a person to fix it. */
export interface ConfigProblem {
  file: string;
  line?: number;
  /** Dotted key path, e.g. `proxy.api_key` or `upstreams[0].accounts[1].key`. */
  key?: string;
  message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return problem.key
    ? `${where}: ${problem.key}: ${problem.message}`
    : `${where}: ${problem.message}`;
}

/**
 * Problems as log lines, two spaces in, one line each, a problem written on several lines (an
 * example to add) as several: the log writes a line break inside a message as "\n" (log.ts).
 */
export function problemLines(problems: readonly ConfigProblem[]): string[] {
  return problems
    .flatMap((problem) => formatProblem(problem).split("\n"))
    .map((line) => `  ${line}`);
}

/** A key longer than this is shown by its beginning and its length. */
const KEY_SHOWN_MAX = 80;

/**
 * A file's keys are the user's own text, any length: a 70,000-character price glob, refused for
 * its length, made a problem line of 70,000 characters (and a log line as long).
 */
function shownKey(step: string): string {
  return step.length <= KEY_SHOWN_MAX
    ? step
    : `${clipText(step, KEY_SHOWN_MAX)} (${step.length} characters)`;
}

export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const step of path) {
    if (typeof step === "number") out += `[${step}]`;
    else out += out === "" ? shownKey(step) : `.${shownKey(step)}`;
  }
  return out;
}

/** Thrown when a configuration cannot be loaded; carries every problem found, not just the first. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}
