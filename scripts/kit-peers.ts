/*
 * bun scripts/kit-peers.ts [--fixtures DIR] [--json]
 *
 * Holds claude-code-router (installed by hand into .bench-peers/:
 * `npm install --prefix .bench-peers @musistudio/claude-code-router@2.0.0`) to the CLI traffic
 * kit: writes its config.json into a temporary HOME with one provider per kit fake, starts it on
 * a free loopback port, runs the kit against it and prints the kit's table with the peer's
 * version and the date. By hand, not part of `npm test`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { main } from "../kit/src/main.ts";
import { tempDir } from "../test/support/gateway.ts";
import { freePortRun } from "../test/support/kit-levity.ts";

const ROOT = resolve(import.meta.dir, "..");
const CCR = join(ROOT, ".bench-peers", "node_modules", "@musistudio", "claude-code-router");
// Without APIKEY, CCR listens on loopback only and asks clients for no key: with one, it reads
// only Authorization and x-api-key, so no Gemini client (x-goog-api-key) could reach it at all.
const CLIENT_KEY = "sk-ccr-kit-client";
const UPSTREAM_KEY = "sk-kit-upstream-account";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { fixtures: { type: "string" }, json: { type: "boolean" } },
});

/** The CCR providers, one per kit fake; a model is asked for as "provider,model", CCR's own form. */
function ccrConfig(port: number, base: number): unknown {
  const provider = (name: string, url: string, model: string, use?: string) => ({
    name,
    api_base_url: url,
    api_key: UPSTREAM_KEY,
    models: [model],
    ...(use ? { transformer: { use: [use] } } : {}),
  });
  return {
    LOG: false,
    HOST: "127.0.0.1",
    PORT: port,
    Providers: [
      provider(
        "kitanthropic",
        `http://127.0.0.1:${base}/v1/messages`,
        "kit-anthropic",
        "Anthropic",
      ),
      provider(
        "kitopenai",
        `http://127.0.0.1:${base + 1}/v1/responses`,
        "kit-openai",
        "openai-responses",
      ),
      provider("kitchat", `http://127.0.0.1:${base + 2}/v1/chat/completions`, "kit-chat"),
      provider("kitgemini", `http://127.0.0.1:${base + 3}/v1beta/models/`, "kit-gemini", "gemini"),
    ],
    Router: { default: "kitchat,kit-chat" },
  };
}

async function waitForHttp(url: string, child: { exitCode: number | null }): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(200);
  }
  throw new Error(`claude-code-router did not answer at ${url}`);
}

if (!existsSync(join(CCR, "dist", "cli.js"))) {
  console.error(
    "claude-code-router is not installed: npm install --prefix .bench-peers @musistudio/claude-code-router@2.0.0",
  );
  process.exit(2);
}
const version = JSON.parse(readFileSync(join(CCR, "package.json"), "utf8")).version as string;
const home = tempDir("levity-kit-ccr-");
const base = await freePortRun(5);
const port = base + 4;
mkdirSync(join(home, ".claude-code-router"), { recursive: true });
writeFileSync(
  join(home, ".claude-code-router", "config.json"),
  JSON.stringify(ccrConfig(port, base), null, 2),
);
const child = Bun.spawn(["node", join(CCR, "dist", "cli.js"), "start"], {
  env: { PATH: process.env.PATH ?? "", HOME: home },
  stdout: "pipe",
  stderr: "pipe",
});
let code = 2;
try {
  await waitForHttp(`http://127.0.0.1:${port}/`, child);
  console.error(
    `claude-code-router ${version} on port ${port}, ${new Date().toISOString().slice(0, 10)}`,
  );
  const models = {
    anthropic: "kitanthropic,kit-anthropic",
    "openai-responses": "kitopenai,kit-openai",
    "openai-chat": "kitchat,kit-chat",
    gemini: "kitgemini,kit-gemini",
  };
  code = await main([
    "--base-url",
    `http://127.0.0.1:${port}`,
    "--key",
    CLIENT_KEY,
    "--upstream-port-base",
    String(base),
    ...Object.entries(models).flatMap(([dialect, name]) => ["--model", `${dialect}=${name}`]),
    ...Object.entries(models).flatMap(([dialect, name]) => [
      "--upstream-model",
      `${dialect}=${name.split(",")[1]}`,
    ]),
    ...(values.fixtures ? ["--fixtures", values.fixtures] : []),
    ...(values.json ? ["--json"] : []),
    "--timeout",
    "20000",
  ]);
} finally {
  child.kill("SIGTERM");
  await child.exited;
  rmSync(home, { recursive: true, force: true });
}
process.exit(code);
