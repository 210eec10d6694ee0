/*
 * npm run try-clis
 *
 * The real coding CLIs, as their users run them, against levity in front of every upstream
 * dialect (scripted fakes of OpenAI, Anthropic and Gemini, and echo): a plain prompt, and a turn
 * that calls the CLI's own shell tool. The CLIs are installed from npm into .levity-clis/ on first
 * use. Not part of `npm test`: it needs the CLIs and takes a few minutes.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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

interface Cli {
  name: string;
  packages: string[];
  /** Writes the CLI's configuration for levity at `origin` and returns how to run it. */
  setup(home: string, work: string, origin: string, prompt: string, tool: boolean): Run;
  /** The prompt that makes a model call the CLI's own shell tool. */
  toolName: string;
}

const CLIS: Cli[] = [
  {
    name: "Claude Code",
    packages: ["@anthropic-ai/claude-code"],
    toolName: "Bash",
    setup: (home, _work, origin, prompt, tool) => ({
      command: [join(BIN, "claude"), "-p", prompt, ...(tool ? ["--allowedTools", "Bash"] : [])],
      env: { HOME: home, ANTHROPIC_BASE_URL: origin, ANTHROPIC_API_KEY: TRY_KEY },
    }),
  },
  {
    name: "Codex CLI",
    packages: ["@openai/codex"],
    toolName: "exec_command",
    setup(home, _work, origin, prompt, tool) {
      mkdirSync(join(home, ".codex"), { recursive: true });
      writeFileSync(
        join(home, ".codex", "config.toml"),
        `model = "gpt-5-codex"\nmodel_provider = "levity"\n\n[model_providers.levity]\nname = "levity"\nbase_url = "${origin}/v1"\nenv_key = "LEVITY_API_KEY"\nwire_api = "responses"\n`,
      );
      return {
        command: [join(BIN, "codex"), "exec", "--skip-git-repo-check", ...(tool ? ["--dangerously-bypass-approvals-and-sandbox"] : []), prompt],
        env: { HOME: home, LEVITY_API_KEY: TRY_KEY },
      };
    },
  },
  {
    name: "Gemini CLI",
    packages: ["@google/gemini-cli"],
    toolName: "run_shell_command",
    setup(home, _work, origin, prompt, tool) {
      mkdirSync(join(home, ".gemini"), { recursive: true });
      writeFileSync(join(home, ".gemini", "settings.json"), JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }));
      return {
        command: [join(BIN, "gemini"), "-p", prompt, "-m", "gemini-2.5-flash", ...(tool ? ["--yolo"] : [])],
        env: { HOME: home, GOOGLE_GEMINI_BASE_URL: origin, GEMINI_API_KEY: TRY_KEY, GEMINI_CLI_TRUST_WORKSPACE: "true" },
      };
    },
  },
  {
    name: "Kilo Code",
    packages: [`@kilocode/cli-${process.platform}-${process.arch}`],
    toolName: "bash",
    setup(home, work, origin, prompt, tool) {
      const provider = { npm: "@ai-sdk/openai-compatible", name: "levity", options: { baseURL: `${origin}/v1`, apiKey: TRY_KEY }, models: { "levity-model": { name: "levity-model", tool_call: true } } };
      writeFileSync(join(work, "kilo.json"), JSON.stringify({ provider: { levity: provider }, model: "levity/levity-model" }, null, 2));
      const kilo = join(TOOLS_DIR, "node_modules", "@kilocode", `cli-${process.platform}-${process.arch}`, "bin", "kilo");
      // Offline, fetching the models.dev catalogue and checking for updates only cost time.
      return { command: [kilo, "run", ...(tool ? ["--auto"] : []), "--model", "levity/levity-model", prompt], env: { HOME: home, KILO_DISABLE_MODELS_FETCH: "1", KILO_DISABLE_AUTOUPDATE: "1" } };
    },
  },
];

async function install(): Promise<void> {
  const missing = CLIS.flatMap((cli) => cli.packages).filter((pkg) => !existsSync(join(TOOLS_DIR, "node_modules", pkg)));
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} into ${TOOLS_DIR} ...`);
  mkdirSync(TOOLS_DIR, { recursive: true });
  if (!existsSync(join(TOOLS_DIR, "package.json"))) writeFileSync(join(TOOLS_DIR, "package.json"), '{ "private": true }\n');
  const npm = Bun.spawn(["npm", "install", "--no-audit", "--no-fund", ...missing], { cwd: TOOLS_DIR, stdout: "inherit", stderr: "inherit" });
  if ((await npm.exited) !== 0) throw new Error("npm install of the CLIs failed");
}

async function attempt(cli: Cli, origin: string, tool: boolean): Promise<{ ok: boolean; seconds: number; tail: string }> {
  const home = mkdtempSync(join(tmpdir(), "levity-cli-home-"));
  const work = mkdtempSync(join(tmpdir(), "levity-cli-work-"));
  const marker = `${cli.name.split(" ")[0]!.toLowerCase()}-ok`;
  const prompt = tool ? `Call the ${cli.toolName} tool with "${COMMAND}"` : `Reply with exactly this text and nothing else: ${marker}`;
  const run = cli.setup(home, work, origin, prompt, tool);
  const started = performance.now();
  const child = Bun.spawn(run.command, { cwd: work, env: { PATH: process.env.PATH ?? "", ...run.env }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  clearTimeout(timer);
  const text = out + err;
  return { ok: text.includes(tool ? TOOL_RAN : marker), seconds: (performance.now() - started) / 1000, tail: text.trim().split("\n").slice(-3).join(" | ").slice(0, 200) };
}

await install();
const rows: string[] = [];
let failures = 0;
for (const upstream of TRY_UPSTREAMS) {
  const running = startTryGateway(upstream);
  for (const cli of CLIS) {
    for (const tool of [false, true]) {
      const result = await attempt(cli, running.origin, tool);
      if (!result.ok) failures++;
      const row = `| ${cli.name} | ${upstream} | ${tool ? "tool call" : "plain"} | ${result.ok ? "pass" : "FAIL"} | ${result.seconds.toFixed(1)} s |`;
      rows.push(row);
      console.log(row + (result.ok ? "" : `  ${result.tail}`));
    }
  }
  await running.stop();
}
console.log(`\n| client | upstream | turn | result | time |\n|---|---|---|---|---|\n${rows.join("\n")}`);
process.exit(failures === 0 ? 0 : 1);
