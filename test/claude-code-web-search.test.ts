import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { claudeCodeBinary } from "./support/clis.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { pagesFor } from "./support/gemini-grounding.ts";
import { startGateway, tempDir, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

// Issue 16's Done-when for server tools: Claude Code's web search runs against a Gemini upstream
// and returns results with citations. Claude Code's turn goes to levity in front of the fake
// Gemini, whose scripted model calls the WebSearch tool; Claude Code then makes its own request
// with Anthropic's web_search server tool, which levity runs as Gemini's Google Search, and
// reads the search's results back from Anthropic's blocks into the tool result the model sees.

const CLAUDE = claudeCodeBinary("claude-code-web-search.test.ts");
const KEY = "sk-levity-claude-code-test";
const GEMINI_KEY = "gemini-claude-code-account";

let ge: FakeUpstream;
let gw: TestGateway;
let home: string;

beforeAll(() => {
  if (!CLAUDE) return;
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
    mappings: 'wildcard:\n  "**": gemini/gemini-2.5-flash-real\n',
  });
  home = tempDir("levity-claude-home-");
});

afterAll(async () => {
  if (!CLAUDE) return;
  await gw.stop();
  await ge.stop();
  rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!CLAUDE)("the real Claude Code through levity", () => {
  test("WebSearch over a Gemini upstream: the search's pages reach the model and the answer", async () => {
    const child = Bun.spawn(
      [CLAUDE!, "-p", 'Use WebSearch for "levity gateway"', "--allowedTools", "WebSearch"],
      {
        cwd: home,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: home,
          ANTHROPIC_BASE_URL: gw.origin,
          ANTHROPIC_API_KEY: KEY,
          // Offline, the telemetry and update checks only cost time.
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_AUTOUPDATER: "1",
        },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        timeout: 90_000,
      },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });

    // Claude Code's own search request became a Google Search at Gemini.
    const searched = ge.requests.find((r) =>
      (r.json?.tools ?? []).some((t: any) => t.googleSearch),
    );
    expect(searched).toBeDefined();
    // The turn after the search carries Claude Code's tool result, built from the results levity
    // rendered: each page's title and URL, and the cited text.
    const pages = pagesFor("levity gateway");
    const after = JSON.stringify(ge.requests.at(-1)!.json.contents.at(-1));
    for (const page of pages) {
      expect(after).toContain(page.uri);
      expect(after).toContain(page.title);
    }
    // The final answer (the scripted model repeats the tool result) shows the pages.
    for (const page of pages) expect(stdout).toContain(page.uri);
  }, 120_000);
});
