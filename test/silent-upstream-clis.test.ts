import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CliRun,
  claudeCodeBinary,
  geminiCliEnv,
  geminiCliScript,
  runCliInHome,
} from "./support/clis.ts";
import { codexBinary, codexConfigToml } from "./support/codex.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream, QuietReply, RecordedRequest } from "./support/fake-server.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";

/*
 * Issue 16's Done-when for silent reasoning: a 90-second silent upstream does not break a Claude
 * Code, Codex or Gemini CLI turn. Each real CLI asks levity (default commit_deadline and
 * keepalive_interval) for one turn; the upstream behind it sends nothing for 90 s, then answers.
 * The three run at once. Each upstream must be asked exactly once: a CLI that gave up and asked
 * again would get the answer at once, and hide the failure.
 *   Claude Code -> Anthropic, forwarded; the upstream's headers come at once, its body after 90 s.
 *   Gemini CLI  -> Gemini, forwarded; nothing at all for 90 s (Gemini CLI waits 60 s for headers).
 *   Codex       -> Gemini, translated from Responses; nothing at all for 90 s.
 * LEVITY_SILENT_MS shortens the silence, to try the test quickly.
 */

const CLAUDE = claudeCodeBinary("silent-upstream-clis.test.ts");
const GEMINI = geminiCliScript("silent-upstream-clis.test.ts");
const CODEX = codexBinary("silent-upstream-clis.test.ts");
const ALL = Boolean(CLAUDE && GEMINI && CODEX);
const SILENT_MS = Number(process.env.LEVITY_SILENT_MS ?? 90_000);
const KEY = "sk-levity-silent-clis";
const KEYS = {
  anthropic: "sk-ant-silent-account",
  gemini: "gemini-silent-account",
  codex: "gemini-codex-account",
};

let anthropic: FakeUpstream;
let gemini: FakeUpstream;
let forCodex: FakeUpstream;
let gw: TestGateway;
const homes: string[] = [];

const isTurn = (r: RecordedRequest) =>
  (r.path.endsWith("/v1/messages") && r.json?.stream === true) ||
  r.path.includes(":streamGenerateContent");

beforeAll(() => {
  if (!ALL) return;
  anthropic = fakeAnthropic(KEYS.anthropic);
  gemini = fakeGemini(KEYS.gemini);
  forCodex = fakeGemini(KEYS.codex);
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  cooldown_wait: 0\n` +
      upstreamsYaml([
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: anthropic.url,
          accounts: [{ name: "a", key: KEYS.anthropic }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: gemini.url,
          accounts: [{ name: "a", key: KEYS.gemini }],
        },
        {
          name: "for-codex",
          protocol: "gemini",
          base_url: forCodex.url,
          accounts: [{ name: "a", key: KEYS.codex }],
        },
      ]),
    // Claude Code's own model names go to the first upstream as they are.
    mappings:
      "exact:\n  gemini-2.5-flash: gemini/gemini-2.5-flash\n  gpt-5.5: for-codex/gemini-2.5-flash\n",
  });
});

afterAll(async () => {
  if (!ALL) return;
  await gw.stop();
  await Promise.all([anthropic.stop(), gemini.stop(), forCodex.stop()]);
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

type Turn = CliRun;

/** Runs a CLI in a fresh home to its end (killed after the silence and a minute more). */
const run = (command: string[], env: (home: string) => Record<string, string>) =>
  runCliInHome(command, env, {
    homes,
    timeoutMs: SILENT_MS + 60_000,
    prefix: "levity-silent-cli-",
  });

const prompt = (word: string) => `Reply with exactly this text and nothing else: ${word}`;

function claudeTurn(): Promise<Turn> {
  return run([CLAUDE!, "-p", prompt("claude-silent-ok")], () => ({
    ANTHROPIC_BASE_URL: gw.origin,
    ANTHROPIC_API_KEY: KEY,
    DISABLE_AUTOUPDATER: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  }));
}

function geminiTurn(): Promise<Turn> {
  return run(
    ["node", GEMINI!, "-p", prompt("gemini-silent-ok"), "-m", "gemini-2.5-flash"],
    (home) => geminiCliEnv(home, gw.origin, KEY),
  );
}

function codexTurn(): Promise<Turn> {
  return run([CODEX!, "exec", "--skip-git-repo-check", prompt("codex-silent-ok")], (home) => {
    mkdirSync(join(home, ".codex"), { recursive: true });
    // No retries of its own: a stream Codex gave up on must fail the turn, not be asked again.
    writeFileSync(
      join(home, ".codex", "config.toml"),
      codexConfigToml(gw.origin, {
        provider: ["request_max_retries = 0", "stream_max_retries = 0"],
      }),
    );
    return { LEVITY_API_KEY: KEY };
  });
}

describe.skipIf(!ALL)("the real CLIs, with an upstream silent for 90 s", () => {
  test(
    "Claude Code, Gemini CLI and Codex each finish their turn",
    async () => {
      const quiet: Record<string, QuietReply> = {
        claude: anthropic.quietOnce({ headers: true, ms: SILENT_MS, match: isTurn }),
        gemini: gemini.quietOnce({ ms: SILENT_MS, match: isTurn }),
        codex: forCodex.quietOnce({ ms: SILENT_MS, match: isTurn }),
      };
      const [claude, geminiCli, codex] = await Promise.all([
        claudeTurn(),
        geminiTurn(),
        codexTurn(),
      ]);
      const report = (name: string, turn: Turn) =>
        `${name}: exit ${turn.code} after ${turn.seconds.toFixed(1)} s\n${turn.out.slice(-1500)}`;
      expect(claude.out, report("Claude Code", claude)).toContain("claude-silent-ok");
      expect(geminiCli.out, report("Gemini CLI", geminiCli)).toContain("gemini-silent-ok");
      expect(codex.out, report("Codex", codex)).toContain("codex-silent-ok");
      const turns: [string, Turn, FakeUpstream][] = [
        ["Claude Code", claude, anthropic],
        ["Gemini CLI", geminiCli, gemini],
        ["Codex", codex, forCodex],
      ];
      await Promise.all(Object.values(quiet).map((q) => q.received));
      for (const [name, turn, fake] of turns) {
        expect(turn.code, report(name, turn)).toBe(0);
        // One turn, asked once, answered after the whole silence: no CLI gave up and asked again.
        expect(fake.requests.filter(isTurn).length, report(name, turn)).toBe(1);
        expect(turn.seconds, report(name, turn)).toBeGreaterThanOrEqual(SILENT_MS / 1000);
      }
      // levity committed each stream at its deadline and kept it alive.
      expect(gw.log.lines.filter((l) => l.includes("timeouts.commit_deadline"))).toHaveLength(3);
    },
    SILENT_MS + 90_000,
  );
});
