import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { codexBinary } from "./support/codex.ts";
import { startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

// The real Codex CLI against levity, over the Responses WebSocket, with a remote compaction that
// levity emulates over a (fake) Gemini upstream. Codex is found by test/support/codex.ts (.ci/run
// installs it and requires it). It needs no network.

const CODEX = codexBinary("codex-cli.test.ts");
const KEY = "sk-levity-codex-cli-test";
const GEMINI_KEY = "gemini-codex-cli-account";

let ge: FakeUpstream;
let gw: TestGateway;
let home: string;

beforeAll(() => {
  if (!CODEX) return;
  ge = fakeGemini(GEMINI_KEY);
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  cooldown_wait: 0\n` +
      upstreamsYaml([
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [{ name: "a", key: GEMINI_KEY }],
        },
      ]),
    mappings: "exact:\n  gpt-5: gemini/gemini-2.5-flash-real\n",
  });
  home = tempDir("levity-codex-home-");
  mkdirSync(home, { recursive: true });
  // name = "OpenAI" is what makes Codex compact remotely (docs/codex-transports.md); the tiny limit makes it compact before turn two.
  writeFileSync(
    join(home, "config.toml"),
    [
      'model = "gpt-5"',
      'model_provider = "levity"',
      'approval_policy = "never"',
      'sandbox_mode = "read-only"',
      "model_auto_compact_token_limit = 20",
      "",
      "[model_providers.levity]",
      'name = "OpenAI"',
      `base_url = "${gw.origin}/v1"`,
      'wire_api = "responses"',
      'env_key = "LEVITY_TEST_KEY"',
      "supports_websockets = true",
      "request_max_retries = 0",
      "stream_max_retries = 0",
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  if (!CODEX) return;
  await gw.stop();
  await ge.stop();
  rmSync(home, { recursive: true, force: true });
});

async function codex(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([CODEX!, "exec", "--skip-git-repo-check", ...args], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      CODEX_HOME: home,
      LEVITY_TEST_KEY: KEY,
      RUST_LOG: "codex_api=info",
      NO_COLOR: "1",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

describe.skipIf(!CODEX)("the real Codex CLI through levity", () => {
  test("a turn over the WebSocket, then a second turn after a remote compaction levity emulates", async () => {
    const first = await codex(["remember the word pelican"]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("successfully connected to Responses WebSocket");
    expect(first.stdout).toContain("pong from gemini-2.5-flash-real");

    const second = await codex(["resume", "--last", "which bird was it?"]);
    expect(second.code).toBe(0);
    expect(second.stdout + second.stderr).toContain("context compacted");
    // The summarizing call, then the turn whose input starts from levity's compaction item.
    const summarized = ge.requests.find((r) =>
      JSON.stringify(r.json).includes("Write the handoff summary"),
    );
    expect(summarized).toBeDefined();
    expect(JSON.stringify(ge.last().json)).toContain(
      "Summary of the earlier part of this conversation",
    );
  }, 120_000);
});
