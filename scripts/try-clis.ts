/*
 * npm run try-clis
 *
 * The real coding CLIs, as their users run them, against levity in front of every upstream
 * dialect (scripted fakes of OpenAI's own API, a chat-only OpenAI-compatible provider, Anthropic
 * and Gemini, and echo): a plain prompt, and a turn that calls the CLI's own shell tool. For the
 * Codex CLI also its freeform apply_patch tool creating a file, reasoning, a resumed session
 * (store: false replays) and its WebSocket transport. The CLIs are installed from npm into
 * .levity-clis/ on first use; `npm run try-clis -- codex` tries only the named ones. Not part of
 * `npm test`: it needs the CLIs and takes a few minutes.
 * (test/codex-matrix.test.ts runs the Codex turns with more checks once Codex is installed here.)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CLAUDE_CODE_VERSION, GEMINI_CLI_VERSION } from "../test/support/clis.ts";
import { codexConfigToml, nativeCodex } from "../test/support/codex.ts";
import { startTryGateway, TRY_KEY, TRY_UPSTREAMS } from "./try-gateway.ts";

const ROOT = resolve(import.meta.dir, "..");
const TOOLS_DIR = join(ROOT, ".levity-clis");
const BIN = join(TOOLS_DIR, "node_modules", ".bin");
// The shell works this out; the prompt does not contain the answer, so seeing it proves the tool
// ran. (No $(( )): Gemini CLI refuses commands with substitutions.)
const COMMAND = "printf tool-ran-%d 42";
const TOOL_RAN = "tool-ran-42";

interface Run {
  command: string[];
  env: Record<string, string>;
}

/** Where a turn runs: a fresh home and work directory, levity's origin, and the upstream behind it. */
interface TurnContext {
  home: string;
  work: string;
  origin: string;
  upstream: string;
}

interface TurnResult {
  ok: boolean;
  /** What the CLI printed, for the report of a failure. */
  text: string;
}

interface Cli {
  name: string;
  packages: string[];
  /** Writes the CLI's configuration for levity at `origin` and returns how to run it. */
  setup(home: string, work: string, origin: string, prompt: string, tool: boolean): Run;
  /** The prompt that makes a model call the CLI's own shell tool. */
  toolName: string;
  /** Turns this CLI has beyond a plain prompt and a shell tool call, by name. */
  extras?: Record<string, (ctx: TurnContext) => Promise<TurnResult>>;
}

/** Kilo Code with an OpenAI-compatible provider at `baseURL`, as the README configures it. */
function kiloRun(home: string, work: string, baseURL: string, prompt: string, tool: boolean): Run {
  const provider = {
    npm: "@ai-sdk/openai-compatible",
    name: "levity",
    options: { baseURL, apiKey: TRY_KEY },
    models: { "levity-model": { name: "levity-model", tool_call: true } },
  };
  writeFileSync(
    join(work, "kilo.json"),
    JSON.stringify({ provider: { levity: provider }, model: "levity/levity-model" }, null, 2),
  );
  const kilo = join(
    TOOLS_DIR,
    "node_modules",
    "@kilocode",
    `cli-${process.platform}-${process.arch}`,
    "bin",
    "kilo",
  );
  // Offline, fetching the models.dev catalogue and checking for updates only cost time.
  return {
    command: [kilo, "run", ...(tool ? ["--auto"] : []), "--model", "levity/levity-model", prompt],
    env: { HOME: home, KILO_DISABLE_MODELS_FETCH: "1", KILO_DISABLE_AUTOUPDATE: "1" },
  };
}

/** Runs a CLI to its end (killed after 3 minutes) and returns all it printed. */
async function runCli(run: Run, cwd: string): Promise<string> {
  const child = Bun.spawn(run.command, {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...run.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  clearTimeout(timer);
  return out + err;
}

/**
 * Codex's native binary: node_modules/.bin/codex is a Node launcher whose child would outlive a
 * kill on timeout.
 */
function codexBinary(): string {
  return nativeCodex(TOOLS_DIR) ?? join(BIN, "codex");
}

function writeCodexConfig(
  home: string,
  origin: string,
  options: { settings?: string[]; provider?: string[] } = {},
): void {
  mkdirSync(join(home, ".codex"), { recursive: true });
  writeFileSync(join(home, ".codex", "config.toml"), codexConfigToml(origin, options));
}

const CODEX_FLAGS = ["--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"];
const codexRun = (home: string, args: string[]): Run => ({
  command: [codexBinary(), ...args],
  env: { HOME: home, LEVITY_API_KEY: TRY_KEY },
});
const PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n";
// The scripted fakes write the patch themselves; echo takes a tool's arguments as JSON written in the prompt.
const applyPatchPrompt = (upstream: string) =>
  upstream === "echo"
    ? `Use apply_patch with ${JSON.stringify({ input: PATCH })}`
    : 'Use apply_patch to create hello.txt containing "hi"';
// What the fakes' scripted model and echo write when they think.
const THOUGHT = /Thinking about:|The user wrote:/;

const CODEX_EXTRAS: Record<string, (ctx: TurnContext) => Promise<TurnResult>> = {
  async apply_patch({ home, work, origin, upstream }) {
    writeCodexConfig(home, origin);
    const text = await runCli(
      codexRun(home, ["exec", ...CODEX_FLAGS, applyPatchPrompt(upstream)]),
      work,
    );
    const file = join(work, "hello.txt");
    return { ok: existsSync(file) && readFileSync(file, "utf8") === "hi\n", text };
  },
  async "reasoning shown"({ home, work, origin }) {
    writeCodexConfig(home, origin, {
      settings: ['model_reasoning_effort = "high"', 'model_reasoning_summary = "detailed"'],
    });
    const text = await runCli(
      codexRun(home, [
        "exec",
        ...CODEX_FLAGS,
        "Reply with exactly this text and nothing else: codex-thinks",
      ]),
      work,
    );
    return { ok: text.includes("codex-thinks") && THOUGHT.test(text), text };
  },
  async "resume, tool loop with reasoning"({ home, work, origin }) {
    // Codex's default: no reasoning summary, so its store: false replays carry encrypted_content only.
    writeCodexConfig(home, origin, { settings: ['model_reasoning_effort = "high"'] });
    const first = await runCli(
      codexRun(home, [
        "exec",
        ...CODEX_FLAGS,
        "Reply with exactly this text and nothing else: codex-first",
      ]),
      work,
    );
    const second = await runCli(
      codexRun(home, [
        "exec",
        "resume",
        "--last",
        ...CODEX_FLAGS,
        `Call the exec_command tool with "${COMMAND}"`,
      ]),
      work,
    );
    return { ok: first.includes("codex-first") && second.includes(TOOL_RAN), text: first + second };
  },
  async "websocket tool loop"({ home, work, origin }) {
    writeCodexConfig(home, origin, {
      settings: ['model_reasoning_effort = "high"'],
      provider: ["supports_websockets = true"],
    });
    const text = await runCli(
      codexRun(home, ["exec", ...CODEX_FLAGS, `Call the exec_command tool with "${COMMAND}"`]),
      work,
    );
    return { ok: text.includes(TOOL_RAN), text };
  },
};

const CLIS: Cli[] = [
  {
    name: "Claude Code",
    // The versions .ci/run installs for test/silent-upstream-clis.test.ts (test/support/clis.ts).
    packages: [`@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`],
    toolName: "Bash",
    setup: (home, _work, origin, prompt, tool) => ({
      command: [join(BIN, "claude"), "-p", prompt, ...(tool ? ["--allowedTools", "Bash"] : [])],
      env: { HOME: home, ANTHROPIC_BASE_URL: origin, ANTHROPIC_API_KEY: TRY_KEY },
    }),
  },
  {
    name: "Codex CLI",
    // The version .ci/run installs for test/codex-*.test.ts, so one folder serves both.
    packages: ["@openai/codex@0.169.0"],
    toolName: "exec_command",
    setup(home, _work, origin, prompt, tool) {
      writeCodexConfig(home, origin);
      return codexRun(home, [
        "exec",
        "--skip-git-repo-check",
        ...(tool ? ["--dangerously-bypass-approvals-and-sandbox"] : []),
        prompt,
      ]);
    },
    extras: CODEX_EXTRAS,
  },
  {
    name: "Gemini CLI",
    packages: [`@google/gemini-cli@${GEMINI_CLI_VERSION}`],
    toolName: "run_shell_command",
    setup(home, _work, origin, prompt, tool) {
      mkdirSync(join(home, ".gemini"), { recursive: true });
      writeFileSync(
        join(home, ".gemini", "settings.json"),
        JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }),
      );
      return {
        command: [
          join(BIN, "gemini"),
          "-p",
          prompt,
          "-m",
          "gemini-2.5-flash",
          ...(tool ? ["--yolo"] : []),
        ],
        env: {
          HOME: home,
          GOOGLE_GEMINI_BASE_URL: origin,
          GEMINI_API_KEY: TRY_KEY,
          GEMINI_CLI_TRUST_WORKSPACE: "true",
        },
      };
    },
  },
  {
    name: "Kilo Code",
    // 7.7.9: the registry this was tried against had no platform package for 7.8.1.
    packages: [`@kilocode/cli-${process.platform}-${process.arch}@7.7.9`],
    toolName: "bash",
    setup: (home, work, origin, prompt, tool) => kiloRun(home, work, `${origin}/v1`, prompt, tool),
    extras: {
      // The mistake the user guides describe: the whole endpoint pasted as the Base URL, onto which
      // Kilo glues its own /chat/completions (levity's routes.yaml rule glued_endpoints serves it).
      async "pasted endpoint as Base URL"({ home, work, origin }) {
        const text = await runCli(
          kiloRun(
            home,
            work,
            `${origin}/v1/chat/completions`,
            "Reply with exactly this text and nothing else: kilo-ok",
            false,
          ),
          work,
        );
        return { ok: text.includes("kilo-ok"), text };
      },
    },
  },
];

// `npm run try-clis -- codex gemini` tries only those CLIs (by the first word of their name).
const wanted = process.argv.slice(2).map((name) => name.toLowerCase());
const chosen = CLIS.filter(
  (cli) => wanted.length === 0 || wanted.includes(cli.name.split(" ")[0]!.toLowerCase()),
);

async function install(): Promise<void> {
  // A package may be pinned (name@version); its folder has the name alone.
  const missing = chosen
    .flatMap((cli) => cli.packages)
    .filter(
      (pkg) => !existsSync(join(TOOLS_DIR, "node_modules", pkg.replace(/(?<=.)@[^/]*$/, ""))),
    );
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} into ${TOOLS_DIR} ...`);
  mkdirSync(TOOLS_DIR, { recursive: true });
  if (!existsSync(join(TOOLS_DIR, "package.json")))
    writeFileSync(join(TOOLS_DIR, "package.json"), '{ "private": true }\n');
  // Every CLI wanted, not only the missing ones: npm removes what its package.json does not list.
  const all = chosen.flatMap((cli) => cli.packages);
  const npm = Bun.spawn(["npm", "install", "--no-audit", "--no-fund", ...all], {
    cwd: TOOLS_DIR,
    stdout: "inherit",
    stderr: "inherit",
  });
  if ((await npm.exited) !== 0) throw new Error("npm install of the CLIs failed");
}

async function attempt(cli: Cli, origin: string, tool: boolean): Promise<TurnResult> {
  const home = mkdtempSync(join(tmpdir(), "levity-cli-home-"));
  const work = mkdtempSync(join(tmpdir(), "levity-cli-work-"));
  const marker = `${cli.name.split(" ")[0]!.toLowerCase()}-ok`;
  const prompt = tool
    ? `Call the ${cli.toolName} tool with "${COMMAND}"`
    : `Reply with exactly this text and nothing else: ${marker}`;
  const text = await runCli(cli.setup(home, work, origin, prompt, tool), work);
  return { ok: text.includes(tool ? TOOL_RAN : marker), text };
}

/** Runs one turn, prints its row and returns whether it passed. */
async function report(
  rows: string[],
  cli: Cli,
  upstream: string,
  turn: string,
  run: () => Promise<TurnResult>,
): Promise<boolean> {
  const started = performance.now();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  const row = `| ${cli.name} | ${upstream} | ${turn} | ${result.ok ? "pass" : "FAIL"} | ${seconds.toFixed(1)} s |`;
  rows.push(row);
  const tail = result.text.trim().split("\n").slice(-3).join(" | ").slice(0, 200);
  console.log(row + (result.ok ? "" : `  ${tail}`));
  return result.ok;
}

await install();
const rows: string[] = [];
let failures = 0;
for (const upstream of TRY_UPSTREAMS) {
  const running = startTryGateway(upstream);
  for (const cli of chosen) {
    for (const tool of [false, true]) {
      if (
        !(await report(rows, cli, upstream, tool ? "tool call" : "plain", () =>
          attempt(cli, running.origin, tool),
        ))
      )
        failures++;
    }
    for (const [turn, run] of Object.entries(cli.extras ?? {})) {
      const ctx = {
        home: mkdtempSync(join(tmpdir(), "levity-cli-home-")),
        work: mkdtempSync(join(tmpdir(), "levity-cli-work-")),
        origin: running.origin,
        upstream,
      };
      if (!(await report(rows, cli, upstream, turn, () => run(ctx)))) failures++;
    }
  }
  await running.stop();
}
console.log(
  `\n| client | upstream | turn | result | time |\n|---|---|---|---|---|\n${rows.join("\n")}`,
);
process.exit(failures === 0 ? 0 : 1);
