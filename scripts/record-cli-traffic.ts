/*
 * npm run record-cli-traffic -- [claude codex gemini kilo] [--session NAME] [--clis DIR] [--out DIR]
 *   [--debug FILE]
 *
 * Records what the real coding CLIs send, as the conformance kit's test data: each installed CLI
 * (from .levity-clis/, which `npm run try-clis` fills) runs scripted sessions against the scripted
 * fake upstream of its own dialect on loopback (test/support/fake-*.ts, with a fake key), behind a
 * recording pass-through (cli-traffic/proxy.ts), in a fresh home and work directory per session.
 * Each session becomes test/fixtures/cli-traffic/<cli>/<version>/<session>.json, scrubbed of keys,
 * tokens and the temporary paths (cli-traffic/fixture.ts). A session the CLI cannot do
 * non-interactively is not recorded, and the output says why. When an earlier version of the CLI
 * was recorded, the output ends with what changed in its requests, session by session
 * (cli-traffic/diff.ts). One CLI runs at a time. --clis names another install folder than
 * .levity-clis (an older release, say), --out another folder than test/fixtures/cli-traffic;
 * --debug FILE prints what each step printed and writes the last session's raw exchanges (not
 * scrubbed) to FILE.
 * A development tool; not part of `npm test` (test/cli-traffic-fixtures.test.ts checks its output).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fakeAnthropic } from "../test/support/fake-anthropic.ts";
import { fakeCompatible } from "../test/support/fake-compatible.ts";
import { fakeGemini } from "../test/support/fake-gemini.ts";
import { fakeOpenAI } from "../test/support/fake-openai.ts";
import type { FakeUpstream } from "../test/support/fake-server.ts";
import { RED_PNG } from "../test/support/red-png.ts";
import { CLI_RECORDERS, type CliRecorder, type SessionContext } from "./cli-traffic/clis.ts";
import { diffSessions, formatDiff, latestOtherVersion } from "./cli-traffic/diff.ts";
import {
  type RecordedExchange,
  type ScrubContext,
  type SessionFixture,
  SESSIONS,
  type SessionName,
  toRecorded,
} from "./cli-traffic/fixture.ts";
import { recordingProxy } from "./cli-traffic/proxy.ts";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "test", "fixtures", "cli-traffic");

function fakeFor(cli: CliRecorder, key: string, session: SessionName): FakeUpstream {
  switch (cli.dialect) {
    case "anthropic":
      return fakeAnthropic(key, { adaptiveThinking: session === "thinking" });
    case "openai-responses":
      return fakeOpenAI(key);
    case "gemini":
      return fakeGemini(key);
    case "openai-chat":
      return fakeCompatible(key);
  }
}

/** Runs one CLI invocation to its end (killed after 3 minutes) and returns all it printed. */
async function run(command: string[], env: Record<string, string>, cwd: string): Promise<string> {
  const child = Bun.spawn(command, {
    cwd,
    env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 180_000,
    killSignal: "SIGKILL",
  });
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  return out + err;
}

interface Recorded {
  fixture?: SessionFixture;
  /** Why nothing was recorded. */
  problem?: string;
}

async function recordSession(
  cli: CliRecorder,
  version: string,
  session: SessionName,
  modules: string,
  /** A file for the raw, unscrubbed exchanges (and each step's output printed), with --debug. */
  debug: string | undefined,
): Promise<Recorded> {
  const plan = cli.sessions[session];
  if (!plan) return { problem: cli.cannot[session] ?? "no script for it" };
  // A key of the fake's own, shaped like none a provider issues, so a leak is easy to find.
  const key = `fake-record-key-${cli.name}-${crypto.randomUUID().slice(0, 8)}`;
  const fake = fakeFor(cli, key, session);
  const proxy = recordingProxy(fake.url);
  const home = mkdtempSync(join(tmpdir(), "levity-record-home-"));
  const work = mkdtempSync(join(tmpdir(), "levity-record-work-"));
  writeFileSync(join(work, "red.png"), RED_PNG);
  const ctx: SessionContext = { home, work, origin: proxy.url, key, modules };
  try {
    const steps = plan(ctx);
    const outputs: string[] = [];
    for (const step of steps) {
      const output = await run(step.command, step.env, work);
      outputs.push(output);
      if (debug) console.log(`--- step ${outputs.length}\n${output}`);
      if (step.expect && !output.includes(step.expect)) {
        if (debug) writeFileSync(debug, JSON.stringify(await proxy.exchanges(), null, 2));
        const tail = output.trim().split("\n").slice(-8).join("\n");
        return { problem: `step ${outputs.length} did not print "${step.expect}":\n${tail}` };
      }
    }
    const raws = await proxy.exchanges();
    if (debug) writeFileSync(debug, JSON.stringify(raws, null, 2));
    const scrub: ScrubContext = {
      keys: [key],
      homes: [home, ...realpaths(home)],
      works: [work, ...realpaths(work)],
    };
    const scrubbed = new Set<string>();
    const exchanges: RecordedExchange[] = raws.map((raw) =>
      toRecorded(raw, cli.purposeOf(raw), scrub, scrubbed),
    );
    const missing = cli.check?.[session]?.(exchanges);
    if (missing) return { problem: missing };
    return {
      fixture: {
        format: 1,
        cli: cli.name,
        version,
        session,
        dialect: cli.dialect,
        recordedAt: new Date().toISOString(),
        scrubbed: [...scrubbed].sort(),
        exchanges,
      },
    };
  } finally {
    await proxy.stop();
    await fake.stop();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function realpaths(path: string): string[] {
  try {
    const real = realpathSync(path);
    return real === path ? [] : [real];
  } catch {
    return [];
  }
}

function readFixture(path: string): SessionFixture | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as SessionFixture) : undefined;
}

/** The command line: CLI names, `--session NAME`, `--clis DIR` (where they are installed), `--out DIR`, `--debug FILE`. */
function parseArgs(argv: string[]) {
  const options = {
    clis: join(ROOT, ".levity-clis"),
    out: OUT,
    session: undefined as SessionName | undefined,
    debug: undefined as string | undefined,
  };
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--session") options.session = argv[++i] as SessionName;
    else if (arg === "--clis") options.clis = resolve(argv[++i] ?? "");
    else if (arg === "--out") options.out = resolve(argv[++i] ?? "");
    else if (arg === "--debug") options.debug = resolve(argv[++i] ?? "");
    else names.push(arg.toLowerCase());
  }
  return { ...options, names };
}

const options = parseArgs(process.argv.slice(2));
if (options.session && !SESSIONS.includes(options.session)) {
  console.error(`--session: one of ${SESSIONS.join(", ")}`);
  process.exit(2);
}
const modules = join(options.clis, "node_modules");
const chosen = CLI_RECORDERS.filter(
  (cli) => options.names.length === 0 || options.names.includes(cli.name.split("-")[0]!),
);

let failures = 0;
const diffs: string[] = [];
for (const cli of chosen) {
  const manifest = join(modules, cli.pkg, "package.json");
  if (!existsSync(manifest)) {
    console.log(`${cli.name}: not installed in ${options.clis} (npm run try-clis installs it)`);
    failures++;
    continue;
  }
  const version = JSON.parse(readFileSync(manifest, "utf8")).version as string;
  const dir = join(options.out, cli.name, version);
  const previous = latestOtherVersion(
    existsSync(join(options.out, cli.name)) ? readdirSync(join(options.out, cli.name)) : [],
    version,
  );
  mkdirSync(dir, { recursive: true });
  for (const session of options.session ? [options.session] : SESSIONS) {
    const started = performance.now();
    const { fixture, problem } = await recordSession(cli, version, session, modules, options.debug);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (!fixture) {
      const unsupported = !cli.sessions[session];
      console.log(
        `${cli.name} ${version} ${session}: ${unsupported ? "not recorded" : "FAILED"} (${seconds} s): ${problem}`,
      );
      if (!unsupported) failures++;
      const before = previous
        ? readFixture(join(options.out, cli.name, previous, `${session}.json`))
        : undefined;
      if (previous && before)
        diffs.push(
          formatDiff(cli.name, previous, version, session, diffSessions(before, undefined)),
        );
      continue;
    }
    const file = join(dir, `${session}.json`);
    writeFileSync(file, `${JSON.stringify(fixture, null, 2)}\n`);
    const purposes = fixture.exchanges.map((e) => e.purpose).join(", ");
    console.log(
      `${cli.name} ${version} ${session}: ${fixture.exchanges.length} requests (${purposes}) in ${seconds} s -> ${relative(ROOT, file)}`,
    );
    if (previous) {
      const before = readFixture(join(options.out, cli.name, previous, `${session}.json`));
      diffs.push(formatDiff(cli.name, previous, version, session, diffSessions(before, fixture)));
    }
  }
}
if (diffs.length > 0) console.log(`\nWhat changed in the CLIs' requests:\n${diffs.join("\n")}`);
process.exit(failures === 0 ? 0 : 1);
