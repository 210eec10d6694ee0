import { afterAll, expect, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { describeOpenAIServing } from "../src/config/describe.ts";
import { loadConfig } from "../src/config/load.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import { REPO } from "./support/gateway.ts";
import { rememberSecretsIn, searchDirectory, searchForSecrets } from "./support/secret-audit.ts";

/*
 * The README's "Quick start" and "Add accounts", followed literally by a newcomer with an empty
 * home directory, in a clean copy of the repository. The commands come from the README's own
 * ```sh blocks, so a README change that breaks a step fails here; a plain ``` block right after
 * a ```sh block is what its last command prints, and it must be printed exactly; a ```yaml
 * block after an `$EDITOR FILE` step is what the prose says to put in that file.
 *
 * What the test changes, and why:
 * - The copy holds the files a commit of the working tree would hold (tracked, and untracked
 *   but not ignored): a `git clone` would miss the README under test until it is committed.
 *   node_modules is a symlink to the checkout's, and `npm install` is not run: it needs the
 *   network and a minute, and produces exactly that directory. `npm test` is this suite.
 * - `npm start` gets `-- --port 0` (the README documents --port and `npm start -- FLAGS`), so
 *   the test never collides with a gateway on 8045; printed output is compared with 8045 put
 *   back in place of the port the OS chose.
 * - The upstream is a fake OpenAI on loopback: the README's https://api.openai.com/v1 is
 *   replaced by its address when the test "edits" gateway.yaml, and output that depends on the
 *   upstream's address (the URL, and levity's description of that host's OpenAI family) is
 *   mapped back using levity's own description of each before it is compared.
 * - `export NAME=sk-...` sets NAME for the later steps to the key the fake accepts.
 * - `$EDITOR` is a script that makes the edit the prose describes, and checks the file is
 *   shaped the way the prose says (a last `upstreams:` section; an `exact: {}` line).
 * - Ctrl-C is SIGINT to the gateway's process group, as a terminal sends it. "From another
 *   terminal" steps (curl) run while the gateway runs; any other step stops it first.
 */

const work = mkdtempSync(join(tmpdir(), "levity-quickstart-"));
const checkout = join(work, "levity");
const home = join(work, "home");
const FAKE_KEY = "sk-quickstart-openai-key-1";
const upstream = fakeOpenAI(FAKE_KEY);
let gateway: Gateway | undefined;

afterAll(async () => {
  try {
    if (gateway) await gateway.stop();
  } catch (error) {
    gateway?.kill();
    throw error;
  } finally {
    await upstream.stop();
    rmSync(work, { recursive: true, force: true });
  }
});

// --- the README, read as steps --------------------------------------------------------------

interface Block {
  lang: string;
  body: string;
  /** The prose between the previous block and this one. */
  before: string;
}

function quickStartBlocks(): Block[] {
  const readme = readFileSync(join(checkout, "README.md"), "utf8");
  const start = readme.indexOf("\n## Quick start\n");
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end);
  const blocks: Block[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  let last = 0;
  for (const match of section.matchAll(fence)) {
    blocks.push({ lang: match[1]!, body: match[2]!, before: section.slice(last, match.index) });
    last = match.index! + match[0].length;
  }
  return blocks;
}

interface Step {
  command: string;
  /** What it prints, exactly, when the README shows it. */
  prints?: string;
  /** For `$EDITOR FILE`: what the prose says to put in, and the prose itself. */
  edit?: { snippet: string; prose: string };
}

function stepsOf(blocks: Block[]): Step[] {
  const steps: Step[] = [];
  blocks.forEach((block, i) => {
    if (block.lang !== "sh") return;
    const commands = block.body
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .map((line) => line.replace(/\s+#\s.*$/, "").trim())
      .filter(Boolean)
      .flatMap((line) => line.split(/\s+&&\s+/));
    const ownSteps = commands.map((command): Step => ({ command }));
    // What follows a block is what its last command prints; `npm test` (this suite) prints nothing the README shows.
    const next = blocks[i + 1];
    const printer = ownSteps.findLast((step) => step.command !== "npm test");
    if (next && next.lang === "" && printer) printer.prints = next.body;
    for (const step of ownSteps) {
      if (!step.command.startsWith("$EDITOR ")) continue;
      const yaml = blocks.slice(i + 1).find((b) => b.lang === "yaml" || b.lang === "sh");
      expect(yaml?.lang).toBe("yaml");
      step.edit = { snippet: yaml!.body, prose: yaml!.before };
    }
    steps.push(...ownSteps);
  });
  return steps;
}

// --- processes ------------------------------------------------------------------------------

/** What a process writes, and a way to wait for a pattern in it. */
class Output {
  text = "";
  private waiters: { pattern: RegExp; resolve: () => void }[] = [];
  add(chunk: Buffer): void {
    this.text += chunk.toString();
    this.waiters = this.waiters.filter((w) => {
      if (!w.pattern.test(this.text)) return true;
      w.resolve();
      return false;
    });
  }
  waitFor(pattern: RegExp, exited: Promise<number | null>, what: () => string): Promise<void> {
    if (pattern.test(this.text)) return Promise.resolve();
    return Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ pattern, resolve })),
      exited.then((code) => {
        throw new Error(`exited with ${code} before printing ${pattern}:\n${what()}`);
      }),
    ]);
  }
}

interface Gateway {
  port: number;
  stdout: Output;
  stderr: Output;
  stop(): Promise<void>;
  /** For when a step failed: the whole process group, at once. */
  kill(): void;
}

const env: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  HOME: home,
  // npm would otherwise ask the registry whether it is out of date: not part of any step.
  npm_config_update_notifier: "false",
};

async function startGateway(command: string, extraEnv: Record<string, string>): Promise<Gateway> {
  // Its own process group, so that "Ctrl-C" reaches npm and the gateway under it, as a terminal's does.
  const child: ChildProcess = spawn("sh", ["-c", `${command} -- --port 0`], {
    cwd: checkout,
    env: { ...env, ...extraEnv },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout = new Output();
  const stderr = new Output();
  child.stdout!.on("data", (chunk: Buffer) => stdout.add(chunk));
  child.stderr!.on("data", (chunk: Buffer) => stderr.add(chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  await stdout.waitFor(/Gemini SDKs, Gemini CLI[^\n]*\n/, exited, () => stdout.text + stderr.text);
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout.text)![1]);
  return {
    port,
    stdout,
    stderr,
    kill() {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    },
    async stop() {
      // An answer means serve has run past printing its block and set up its signal handlers
      // (a SIGINT in between would kill it without the drain this checks for).
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      process.kill(-child.pid!, "SIGINT");
      await closed;
      // The gateway under npm drained and said so: nothing was left running.
      expect(stderr.text).toContain("SIGINT: no new connections");
      expect(stderr.text).toContain("INFO stopped");
      rememberWrittenKeys();
      searchForSecrets(`the output of ${command}`, stdout.text + stderr.text);
    },
  };
}

/** Keys written so far (the one init generates included) are searched for in everything printed. */
function rememberWrittenKeys(): void {
  const written = join(home, ".config/levity/gateway.yaml");
  if (existsSync(written)) rememberSecretsIn(readFileSync(written, "utf8"));
}

/** A step as the shell runs it. Asynchronous: the fake upstream answers from this very process. */
async function run(
  command: string,
  extraEnv: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const child = spawn("sh", ["-c", command], {
    cwd: checkout,
    env: { ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) =>
    child.once("close", (code) => resolve(code)),
  );
  rememberWrittenKeys();
  searchForSecrets(`the output of ${command}`, stdout + stderr);
  expect({ command, status, stderr: status === 0 ? "" : stderr }).toEqual({
    command,
    status: 0,
    stderr: "",
  });
  return { stdout, stderr };
}

// --- the copy, the editor, and how output is compared ----------------------------------------

function copyRepository(): void {
  const listed = spawnSync(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: REPO, encoding: "utf8" },
  );
  expect(listed.status).toBe(0);
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    // Deleted in the working tree, or node_modules itself (a symlinked one is not matched by node_modules/ in .gitignore).
    if (!existsSync(join(REPO, file)) || file === "node_modules") continue;
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    copyFileSync(join(REPO, file), join(checkout, file));
  }
  symlinkSync(join(REPO, "node_modules"), join(checkout, "node_modules"));
  mkdirSync(home);
}

/** An $EDITOR that makes the edit the README describes for the file it is given. */
function editorFor(file: string, edit: { snippet: string; prose: string }): string {
  const spec = join(work, "edit.json");
  const script = join(work, "edit.ts");
  const editor = join(work, "editor");
  const snippet = edit.snippet.replace("https://api.openai.com/v1", `${upstream.url}/v1`);
  if (file === "gateway.yaml") {
    expect(edit.prose).toContain("replace its last section, `upstreams:`");
    expect(edit.snippet).toContain("base_url: https://api.openai.com/v1");
  } else {
    expect(file).toBe("mappings.yaml");
    expect(edit.prose).toContain("replace its line `exact: {}`");
  }
  writeFileSync(spec, JSON.stringify({ file, snippet }));
  writeFileSync(
    script,
    `import { readFileSync, writeFileSync } from "node:fs";
const { file, snippet } = JSON.parse(readFileSync(${JSON.stringify(spec)}, "utf8"));
const path = process.argv[2];
if (!path.endsWith("/" + file)) throw new Error("the editor was given " + path + ", not " + file);
const lines = readFileSync(path, "utf8").split("\\n");
let out;
if (file === "gateway.yaml") {
  const at = lines.indexOf("upstreams:");
  if (at < 0) throw new Error("no upstreams: section");
  if (lines.slice(at + 1).some((l) => /^[^\\s#]/.test(l))) throw new Error("upstreams: is not the last section");
  out = [...lines.slice(0, at), snippet];
} else {
  const at = lines.indexOf("exact: {}");
  if (at < 0 || lines.lastIndexOf("exact: {}") !== at) throw new Error("not one line exact: {}");
  out = [...lines.slice(0, at), snippet.replace(/\\n$/, ""), ...lines.slice(at + 1)];
}
writeFileSync(path, out.join("\\n"));
`,
  );
  writeFileSync(
    editor,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`,
  );
  chmodSync(editor, 0o755);
  return editor;
}

/** How the upstream's description reads at the fake's address, and at api.openai.com. */
function familyLines(snippet: string): [fake: string, real: string] {
  const describe = (yaml: string) => {
    const dir = join(work, `family-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "gateway.yaml"), yaml);
    return describeOpenAIServing(
      loadConfig({ dir, env: { OPENAI_API_KEY: FAKE_KEY } }).upstreams[0]!,
    )!;
  };
  return [
    describe(snippet.replace("https://api.openai.com/v1", `${upstream.url}/v1`)),
    describe(snippet),
  ];
}

// --- the walk-through -------------------------------------------------------------------------

test("the README's quick start and 'Add accounts', literally, from a clean copy and an empty home", async () => {
  copyRepository();
  rememberSecretsIn(`key: ${FAKE_KEY}\n`);
  const steps = stepsOf(quickStartBlocks());
  // Every step is of a kind this test knows how to follow; a new kind needs the test to learn it.
  const KINDS = [
    /^npm install$/,
    /^npm start$/,
    /^npm test$/,
    /^npx bun src\/main\.ts \w+/,
    /^\$EDITOR ~\/\S+$/,
    /^export \w+=/,
    /^curl http:\/\/127\.0\.0\.1:8045\//,
  ];
  for (const { command } of steps)
    expect({ command, known: KINDS.some((kind) => kind.test(command)) }).toEqual({
      command,
      known: true,
    });
  expect(steps.filter((s) => s.command === "npm start")).toHaveLength(2);

  let family: [string, string] | undefined;
  const exported: Record<string, string> = {};
  const asReadmeShowsIt = (text: string, port?: number) => {
    let out = text
      .replaceAll(home, "~")
      .replaceAll(`${upstream.url}/v1`, "https://api.openai.com/v1");
    if (family) out = out.replaceAll(family[0], family[1]);
    if (port !== undefined) out = out.replaceAll(`127.0.0.1:${port}`, "127.0.0.1:8045");
    return out;
  };
  const echoed: string[] = [];
  const upstreamModels: string[] = [];

  // The quick start's second command is the whole suite this test belongs to: it is not run again here.
  expect(steps.filter((s) => s.command === "npm test")).toHaveLength(1);
  for (const step of steps) {
    const { command } = step;
    if (command === "npm test") continue;
    if (command === "npm install") {
      expect(existsSync(join(checkout, "node_modules", ".bin", "bun"))).toBe(true);
      continue;
    }
    if (command.startsWith("curl ")) {
      expect(gateway).toBeDefined();
      const { stdout } = await run(
        command.replaceAll("127.0.0.1:8045", `127.0.0.1:${gateway!.port}`),
      );
      const sent = JSON.parse(/-d '([^']*)'/.exec(command)![1]!);
      const answer = JSON.parse(stdout);
      expect(answer.object).toBe("chat.completion");
      if (sent.model === "any") echoed.push(answer.choices[0].message.content);
      else upstreamModels.push(upstream.last().json.model);
      continue;
    }
    if (gateway) {
      await gateway.stop();
      gateway = undefined;
    }
    if (command === "npm start") {
      gateway = await startGateway(command, exported);
      const printed = gateway.stdout.text.slice(gateway.stdout.text.indexOf("levity "));
      expect(asReadmeShowsIt(printed, gateway.port)).toBe(step.prints!);
      continue;
    }
    const exportMatch = /^export (\w+)=(.*)$/.exec(command);
    if (exportMatch) {
      expect(exportMatch[2]).toBe("sk-..."); // a placeholder for the reader's own key
      exported[exportMatch[1]!] = FAKE_KEY;
      continue;
    }
    let extraEnv: Record<string, string> = { ...exported };
    if (step.edit) {
      const file = command.split("/").pop()!;
      extraEnv = { ...extraEnv, EDITOR: editorFor(file, step.edit) };
      if (file === "gateway.yaml") family = familyLines(step.edit.snippet);
    }
    const { stdout } = await run(command, extraEnv);
    if (step.prints !== undefined) expect(asReadmeShowsIt(stdout)).toBe(step.prints);
  }
  // "any other model name goes to OpenAI as it is"
  expect(gateway).toBeDefined();
  const other = await fetch(`http://127.0.0.1:${gateway!.port}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: "gpt-6.1-sol", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(other.status).toBe(200);
  await other.text();
  expect(upstream.last().json.model).toBe("gpt-6.1-sol");
  await gateway!.stop();
  gateway = undefined;

  // The claims made in prose around the commands.
  expect(echoed).toEqual(["hello"]); // "any model name gets your message back"
  expect(upstreamModels).toEqual(["gpt-6-luna"]); // "`fast` is answered by gpt-6-luna on your account"
  expect(upstream.keysSeen().every((key) => key === FAKE_KEY)).toBe(true);
  expect(
    parse(readFileSync(join(home, ".config/levity/gateway.yaml"), "utf8")).proxy.api_key,
  ).toMatch(/^sk-levity-/);
  searchDirectory(join(home, ".config/levity/data"));
}, 60_000);
