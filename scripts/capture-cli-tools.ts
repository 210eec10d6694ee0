/*
 * bun scripts/capture-cli-tools.ts [claude codex gemini kilo]
 *
 * Captures the tool lists the real coding CLIs send, as test data for the Gemini schema
 * conversion (test/cli-tool-schemas.test.ts). Each CLI runs once, non-interactively with a
 * trivial prompt, against the scripted fake of its own API on loopback (the fakes the tests use,
 * with a fake key): Claude Code against the Anthropic fake, Codex CLI against the OpenAI one
 * (Responses), Gemini CLI against the Gemini one, Kilo Code against an OpenAI-compatible chat
 * provider. The `tools` array of the first request that carries tools is written, with nothing
 * else of the request (no key, no prompt), to test/fixtures/cli-tools/<cli>-<version>.json, and the
 * CLI is stopped there. The CLIs are the ones `npm run try-clis` installs into .levity-clis/; run
 * that first (or `npm run try-clis -- claude` for one). A development tool; not part of `npm test`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { codexConfigToml, nativeCodex } from "../test/support/codex.ts";
import { fakeAnthropic } from "../test/support/fake-anthropic.ts";
import { fakeCompatible } from "../test/support/fake-compatible.ts";
import { fakeGemini } from "../test/support/fake-gemini.ts";
import { fakeOpenAI } from "../test/support/fake-openai.ts";
import type { FakeUpstream, RecordedRequest } from "../test/support/fake-server.ts";

const ROOT = resolve(import.meta.dir, "..");
const MODULES = join(ROOT, ".levity-clis", "node_modules");
const OUT = join(ROOT, "test", "fixtures", "cli-tools");
const KEY = "sk-capture-cli-tools";
const PROMPT = "hi";

interface Run {
  command: string[];
  env: Record<string, string>;
}

interface Cli {
  /** The file name's first part and the command-line name that selects it. */
  name: string;
  /** The npm package whose version names the file. */
  pkg: string;
  /** The API the CLI speaks, written into the file so the test knows where the schemas are. */
  api: "anthropic-messages" | "openai-responses" | "gemini" | "openai-chat";
  fake(): FakeUpstream;
  setup(home: string, work: string, origin: string): Run;
  /** The tools of a request, if it carries any. */
  toolsOf(request: RecordedRequest): unknown[] | undefined;
}

const list = (value: unknown): unknown[] | undefined =>
  Array.isArray(value) && value.length > 0 ? value : undefined;

function codexBinary(): string {
  return nativeCodex(join(ROOT, ".levity-clis")) ?? join(MODULES, ".bin", "codex");
}

const KILO_PKG = `@kilocode/cli-${process.platform}-${process.arch}`;

const CLIS: Cli[] = [
  {
    name: "claude-code",
    pkg: "@anthropic-ai/claude-code",
    api: "anthropic-messages",
    fake: () => fakeAnthropic(KEY),
    setup: (home, _work, origin) => ({
      command: [join(MODULES, ".bin", "claude"), "-p", PROMPT],
      env: {
        HOME: home,
        ANTHROPIC_BASE_URL: origin,
        ANTHROPIC_API_KEY: KEY,
        // Offline, the telemetry and update checks only cost time.
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        DISABLE_AUTOUPDATER: "1",
      },
    }),
    toolsOf: (request) => (request.path === "/v1/messages" ? list(request.json?.tools) : undefined),
  },
  {
    name: "codex",
    pkg: "@openai/codex",
    api: "openai-responses",
    fake: () => fakeOpenAI(KEY),
    setup(home, _work, origin) {
      mkdirSync(join(home, ".codex"), { recursive: true });
      writeFileSync(join(home, ".codex", "config.toml"), codexConfigToml(origin));
      return {
        command: [codexBinary(), "exec", "--skip-git-repo-check", PROMPT],
        env: { HOME: home, LEVITY_API_KEY: KEY },
      };
    },
    toolsOf: (request) =>
      request.path === "/v1/responses" ? list(request.json?.tools) : undefined,
  },
  {
    name: "gemini-cli",
    pkg: "@google/gemini-cli",
    api: "gemini",
    fake: () => fakeGemini(KEY),
    setup(home, _work, origin) {
      mkdirSync(join(home, ".gemini"), { recursive: true });
      writeFileSync(
        join(home, ".gemini", "settings.json"),
        JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }),
      );
      // Without --yolo, a non-interactive Gemini CLI leaves out every tool that would ask for
      // approval (shell, edit, write: 8 tools instead of 16). The CLI is stopped at its first
      // request with tools, in a fresh temporary directory, so nothing runs.
      return {
        command: [
          join(MODULES, ".bin", "gemini"),
          "-p",
          PROMPT,
          "-m",
          "gemini-2.5-flash",
          "--yolo",
        ],
        env: {
          HOME: home,
          GOOGLE_GEMINI_BASE_URL: origin,
          GEMINI_API_KEY: KEY,
          GEMINI_CLI_TRUST_WORKSPACE: "true",
        },
      };
    },
    // Its first generateContent calls (routing, a title) carry no tools; the turn itself does.
    toolsOf: (request) =>
      /:(stream)?generateContent$/i.test(request.path) ? list(request.json?.tools) : undefined,
  },
  {
    name: "kilo-code",
    pkg: KILO_PKG,
    api: "openai-chat",
    fake: () => fakeCompatible(KEY),
    setup(home, work, origin) {
      const provider = {
        npm: "@ai-sdk/openai-compatible",
        name: "capture",
        options: { baseURL: `${origin}/v1`, apiKey: KEY },
        models: { "capture-model": { name: "capture-model", tool_call: true } },
      };
      writeFileSync(
        join(work, "kilo.json"),
        JSON.stringify({ provider: { capture: provider }, model: "capture/capture-model" }),
      );
      return {
        command: [
          join(MODULES, KILO_PKG, "bin", "kilo"),
          "run",
          "--model",
          "capture/capture-model",
          PROMPT,
        ],
        env: { HOME: home, KILO_DISABLE_MODELS_FETCH: "1", KILO_DISABLE_AUTOUPDATE: "1" },
      };
    },
    toolsOf: (request) =>
      request.path === "/v1/chat/completions" ? list(request.json?.tools) : undefined,
  },
];

/** Runs the CLI until a request with tools reaches the fake (or 3 minutes pass) and returns that request's tools. */
async function capture(cli: Cli): Promise<{ tools?: unknown[]; output: string }> {
  const fake = cli.fake();
  const home = mkdtempSync(join(tmpdir(), "levity-capture-home-"));
  const work = mkdtempSync(join(tmpdir(), "levity-capture-work-"));
  const run = cli.setup(home, work, fake.url);
  const child = Bun.spawn(run.command, {
    cwd: work,
    env: { PATH: process.env.PATH ?? "", ...run.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]).then(([out, err]) => out + err);
  const deadline = Date.now() + 180_000;
  let tools: unknown[] | undefined;
  while (!tools && Date.now() < deadline && child.exitCode === null) {
    await Bun.sleep(100);
    for (const request of fake.requests) {
      tools = cli.toolsOf(request);
      if (tools) break;
    }
  }
  // A CLI that exited may have sent its request just before.
  tools ??= fake.requests.map((r) => cli.toolsOf(r)).find((t) => t !== undefined);
  child.kill("SIGKILL");
  await child.exited;
  const paths = fake.requests.map((r) => `${r.method} ${r.path}`).join(", ");
  await fake.stop();
  return { tools, output: `${(await output).slice(-600)}\nrequests: ${paths}` };
}

/** The machine's temporary paths would make the files differ from run to run (none were seen; this is a guard). */
function scrub(text: string): string {
  return text.replaceAll(tmpdir(), "/tmp").replace(/levity-capture-(home|work)-\w+/g, "$1");
}

const wanted = process.argv.slice(2).map((name) => name.toLowerCase());
const chosen = CLIS.filter(
  (cli) => wanted.length === 0 || wanted.includes(cli.name.split("-")[0]!),
);
mkdirSync(OUT, { recursive: true });
let failures = 0;
for (const cli of chosen) {
  const manifest = join(MODULES, cli.pkg, "package.json");
  if (!existsSync(manifest)) {
    console.log(`${cli.name}: not installed in .levity-clis (npm run try-clis installs it)`);
    failures++;
    continue;
  }
  const version = JSON.parse(readFileSync(manifest, "utf8")).version as string;
  const { tools, output } = await capture(cli);
  if (!tools) {
    console.log(`${cli.name} ${version}: no request with tools\n${output}`);
    failures++;
    continue;
  }
  const file = join(OUT, `${cli.name}-${version}.json`);
  const data = { cli: cli.name, package: cli.pkg, version, api: cli.api, tools };
  writeFileSync(file, `${scrub(JSON.stringify(data, null, 2))}\n`);
  console.log(`${cli.name} ${version}: ${tools.length} tools -> ${file}`);
}
process.exit(failures === 0 ? 0 : 1);
