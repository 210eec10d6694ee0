/*
 * bun scripts/kit-peers.ts ccr|portkey [--fixtures DIR] [--json]
 *
 * Holds another gateway to the CLI traffic kit, started here on loopback in front of the kit's
 * fakes, and prints the kit's table with the peer's version and the date. By hand, not part of
 * `npm test`. The peers are installed into .bench-peers/ (ignored by git):
 * - ccr: claude-code-router, `npm install --prefix .bench-peers @musistudio/claude-code-router@2.0.0`
 *   (3.1.1 depends on a package the registry does not have). Its config.json, in a temporary
 *   HOME, has one provider per fake; a model is asked for as "provider,model", CCR's own form.
 * - portkey: the Portkey gateway, `npm run bench:install-portkey`. It routes by header: each
 *   upstream dialect gets x-portkey-provider and x-portkey-custom-host pointing at its fake.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { main } from "../kit/src/main.ts";
import { tempDir } from "../test/support/gateway.ts";
import { freePortRun } from "../test/support/kit-levity.ts";

const ROOT = resolve(import.meta.dir, "..");
const PEERS = join(ROOT, ".bench-peers", "node_modules");
const UPSTREAM_KEY = "sk-kit-upstream-account";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { fixtures: { type: "string" }, json: { type: "boolean" } },
});

interface Peer {
  name: string;
  dir: string;
  install: string;
  /** The command that serves it on `port` with the fakes from `base`, and the kit's arguments for it. */
  start(home: string, port: number, base: number): { command: string[]; kitArgs: string[] };
}

const DIALECT_ORDER = ["anthropic", "openai-responses", "openai-chat", "gemini"] as const;

const PEER_LIST: Record<string, Peer> = {
  ccr: {
    name: "claude-code-router",
    dir: join(PEERS, "@musistudio", "claude-code-router"),
    install: "npm install --prefix .bench-peers @musistudio/claude-code-router@2.0.0",
    start(home, port, base) {
      const provider = (name: string, url: string, model: string, use?: string) => ({
        name,
        api_base_url: url,
        api_key: UPSTREAM_KEY,
        models: [model],
        ...(use ? { transformer: { use: [use] } } : {}),
      });
      // Without APIKEY, CCR listens on loopback only and asks clients for no key: with one, it
      // reads only Authorization and x-api-key, so no Gemini client (x-goog-api-key) could pass.
      const config = {
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
          provider(
            "kitgemini",
            `http://127.0.0.1:${base + 3}/v1beta/models/`,
            "kit-gemini",
            "gemini",
          ),
        ],
        Router: { default: "kitchat,kit-chat" },
      };
      mkdirSync(join(home, ".claude-code-router"), { recursive: true });
      writeFileSync(
        join(home, ".claude-code-router", "config.json"),
        JSON.stringify(config, null, 2),
      );
      const models = [
        "kitanthropic,kit-anthropic",
        "kitopenai,kit-openai",
        "kitchat,kit-chat",
        "kitgemini,kit-gemini",
      ];
      return {
        command: ["node", join(this.dir, "dist", "cli.js"), "start"],
        kitArgs: DIALECT_ORDER.flatMap((dialect, i) => [
          "--model",
          `${dialect}=${models[i]}`,
          "--upstream-model",
          `${dialect}=${models[i]!.split(",")[1]}`,
        ]),
      };
    },
  },
  portkey: {
    name: "Portkey gateway",
    dir: join(PEERS, "@portkey-ai", "gateway"),
    install: "npm run bench:install-portkey",
    start(_home, port, base) {
      const routes: [string, string][] = [
        ["anthropic", `http://127.0.0.1:${base}/v1`],
        ["openai", `http://127.0.0.1:${base + 1}/v1`],
        ["openai", `http://127.0.0.1:${base + 2}/v1`],
        ["google", `http://127.0.0.1:${base + 3}`],
      ];
      return {
        command: [
          "node",
          join(this.dir, "build", "start-server.js"),
          `--port=${port}`,
          "--headless",
        ],
        kitArgs: DIALECT_ORDER.flatMap((dialect, i) => [
          "--header",
          `${dialect}=x-portkey-provider:${routes[i]![0]}`,
          "--header",
          `${dialect}=x-portkey-custom-host:${routes[i]![1]}`,
        ]),
      };
    },
  },
};

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
  throw new Error(`the peer did not answer at ${url}`);
}

const peer = PEER_LIST[positionals[0] ?? "ccr"];
if (!peer) {
  console.error(
    `usage: bun scripts/kit-peers.ts ${Object.keys(PEER_LIST).join("|")} [--fixtures DIR] [--json]`,
  );
  process.exit(2);
}
if (!existsSync(join(peer.dir, "package.json"))) {
  console.error(`${peer.name} is not installed: ${peer.install}`);
  process.exit(2);
}
const version = JSON.parse(readFileSync(join(peer.dir, "package.json"), "utf8")).version as string;
const home = tempDir("levity-kit-peer-");
const base = await freePortRun(5);
const port = base + 4;
const { command, kitArgs } = peer.start(home, port, base);
const child = Bun.spawn(command, {
  cwd: home,
  env: { PATH: process.env.PATH ?? "", HOME: home },
  stdout: "pipe",
  stderr: "pipe",
});
let code = 2;
try {
  await waitForHttp(`http://127.0.0.1:${port}/`, child);
  console.error(
    `${peer.name} ${version} on port ${port}, ${new Date().toISOString().slice(0, 10)}`,
  );
  code = await main([
    "--base-url",
    `http://127.0.0.1:${port}`,
    "--key",
    UPSTREAM_KEY,
    "--upstream-port-base",
    String(base),
    ...kitArgs,
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
