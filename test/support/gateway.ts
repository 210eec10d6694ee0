import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "../../src/log.ts";
import { rememberSecretsIn, searchDirectory, searchForSecrets } from "./secret-audit.ts";
import { startServer, type RunningServer } from "../../src/server.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;
export const MAIN = join(REPO, "src/main.ts");

export interface ConfigFiles {
  gateway?: string;
  mappings?: string;
  routes?: string;
}

export function tempDir(prefix = "levity-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeConfig(dir: string, files: ConfigFiles): void {
  mkdirSync(dir, { recursive: true });
  if (files.gateway !== undefined) rememberSecretsIn(files.gateway);
  if (files.gateway !== undefined) writeFileSync(join(dir, "gateway.yaml"), files.gateway);
  if (files.mappings !== undefined) writeFileSync(join(dir, "mappings.yaml"), files.mappings);
  if (files.routes !== undefined) writeFileSync(join(dir, "routes.yaml"), files.routes);
}

export interface CapturedLog extends Logger {
  lines: string[];
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}

export interface TestGateway {
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  dir: string;
  server: RunningServer;
  log: CapturedLog;
  stop(): Promise<void>;
}

/** What a stopped gateway wrote: its log lines and its data directory. */
function auditGateway(dir: string, log: CapturedLog): void {
  searchForSecrets(`the log of the gateway in ${dir}`, log.lines.join("\n"));
  searchDirectory(dir);
}

/** The real server, in this process, on an OS-chosen loopback port, with these files as its config directory. */
export function startGateway(files: ConfigFiles, env: Record<string, string> = {}): TestGateway {
  const dir = tempDir();
  writeConfig(dir, files);
  const log = captureLog();
  const server = startServer({ dir, env, port: 0, log });
  return {
    origin: `http://127.0.0.1:${server.port}`,
    dir,
    server,
    log,
    async stop() {
      await server.stop(1000);
      auditGateway(dir, log);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops a gateway and starts a new one on the same config and data directory, as a restart would. */
export async function restartGateway(previous: TestGateway): Promise<TestGateway> {
  await previous.server.stop(1000);
  const server = startServer({ dir: previous.dir, env: {}, port: 0, log: previous.log });
  return {
    ...previous,
    origin: `http://127.0.0.1:${server.port}`,
    server,
    async stop() {
      await server.stop(1000);
      auditGateway(previous.dir, previous.log);
      rmSync(previous.dir, { recursive: true, force: true });
    },
  };
}

/** Clears every account's cooldowns and disables through the admin endpoint, for tests that share a gateway. */
export async function resetAccounts(origin: string, adminKey?: string): Promise<void> {
  const response = await fetch(`${origin}/levity/accounts/reset`, {
    method: "POST",
    headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {},
  });
  if (!response.ok)
    throw new Error(`account reset failed: ${response.status} ${await response.text()}`);
}

/** gateway.yaml text for upstreams pointing at fakes. */
export interface UpstreamYaml {
  name: string;
  protocol: string;
  base_url?: string;
  /** OpenAI-compatible upstreams: the APIs served natively, whose dialect, and single differences. */
  apis?: string[];
  wire_api?: string;
  profile?: string;
  compat?: Record<string, string | boolean>;
  accounts?: { name: string; key: string }[];
}

/** An upstream that serves all three OpenAI APIs natively, as OpenAI's own API does. */
export const ALL_OPENAI_APIS = ["chat", "responses", "completions"];

export function upstreamsYaml(upstreams: UpstreamYaml[]): string {
  const lines = ["upstreams:"];
  for (const u of upstreams) {
    lines.push(`  - name: ${u.name}`, `    protocol: ${u.protocol}`);
    if (u.base_url) lines.push(`    base_url: ${u.base_url}`);
    if (u.apis) lines.push(`    apis: [${u.apis.join(", ")}]`);
    if (u.wire_api) lines.push(`    wire_api: ${u.wire_api}`);
    if (u.profile) lines.push(`    profile: ${u.profile}`);
    if (u.compat) lines.push(`    compat: ${JSON.stringify(u.compat)}`);
    if (u.accounts) {
      lines.push("    accounts:");
      for (const a of u.accounts)
        lines.push(`      - { name: ${JSON.stringify(a.name)}, key: ${JSON.stringify(a.key)} }`);
    }
  }
  return `${lines.join("\n")}\n`;
}
