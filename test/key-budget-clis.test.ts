import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CliRun as Run,
  claudeCodeBinary,
  geminiCliEnv,
  geminiCliScript,
  runCliInHome,
} from "./support/clis.ts";
import { codexBinary, codexConfigToml } from "./support/codex.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * A spent budget, as the real coding CLIs meet it: Claude Code, Codex and Gemini CLI each stop
 * after one refused request (no retries spent, no sleeping through a Retry-After of hours), and
 * each shows its user when the budget resets. The answer for each dialect was chosen by running
 * these CLIs against every candidate (README, "What a refused request gets").
 */

const CLAUDE = claudeCodeBinary("key-budget-clis.test.ts");
const GEMINI = geminiCliScript("key-budget-clis.test.ts");
const CODEX = codexBinary("key-budget-clis.test.ts");
const ALL = Boolean(CLAUDE && GEMINI && CODEX);
const ADMIN = "sk-budget-admin-0123456789";
const SPENT = "sk-budget-spent-0123456789";

let oa: FakeUpstream;
let an: FakeUpstream;
let gm: FakeUpstream;
let gw: TestGateway;
const homes: string[] = [];

beforeAll(() => {
  if (!ALL) return;
  oa = fakeOpenAI("sk-up-openai");
  an = fakeAnthropic("sk-up-anthropic");
  gm = fakeGemini("sk-up-gemini");
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  admin_key: ${ADMIN}\n  cooldown_wait: 0\n` +
      `  api_keys:\n    - { name: spent, key: ${SPENT}, monthly_usd: 0 }\n` +
      upstreamsYaml([
        {
          name: "an",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "a", key: "sk-up-anthropic" }],
        },
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-up-openai" }],
        },
        {
          name: "gm",
          protocol: "gemini",
          base_url: gm.url,
          accounts: [{ name: "a", key: "sk-up-gemini" }],
        },
      ]),
    mappings: "exact:\n  gpt-5.5: oa/gpt-4o-real\n  gemini-2.5-flash: gm/gemini-2.5-flash\n",
  });
});

afterAll(async () => {
  if (!ALL) return;
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), gm.stop()]);
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

const run = (command: string[], env: (home: string) => Record<string, string>) =>
  // A CLI that slept through the Retry-After would be stopped here, and fail the test.
  runCliInHome(command, env, { homes, timeoutMs: 60_000, prefix: "levity-budget-cli-" });

const PROMPT = "Reply with exactly: budget-ok";

/** The refused turns levity recorded for the spent key on one route. */
async function refusedTurns(route: RegExp, atLeast: number): Promise<number> {
  return waitUntil(`${atLeast} refused requests on ${route}`, async () => {
    const answer = await fetch(`${gw.origin}/levity/logs?limit=200`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const { requests } = (await answer.json()) as {
      requests: { clientKey?: string; route: string; status: number }[];
    };
    const turns = requests.filter(
      (r) => r.clientKey === "spent" && route.test(r.route) && r.status === 429,
    );
    return turns.length >= atLeast ? turns.length : undefined;
  });
}

const RESET = /2\d{3}-\d{2}-01T00:00:00\.000Z|Try again at/;

describe.skipIf(!ALL)("a spent budget through the real CLIs", () => {
  test("each CLI asks once, stops at once, and tells its user when the budget resets", async () => {
    const [claude, codex, gemini] = await Promise.all([
      run([CLAUDE!, "-p", PROMPT], () => ({
        ANTHROPIC_BASE_URL: gw.origin,
        ANTHROPIC_API_KEY: SPENT,
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      })),
      run([CODEX!, "exec", "--skip-git-repo-check", PROMPT], (home) => {
        mkdirSync(join(home, ".codex"), { recursive: true });
        writeFileSync(join(home, ".codex", "config.toml"), codexConfigToml(gw.origin));
        return { LEVITY_API_KEY: SPENT };
      }),
      run(["node", GEMINI!, "-p", PROMPT, "-m", "gemini-2.5-flash"], (home) =>
        geminiCliEnv(home, gw.origin, SPENT),
      ),
    ]);
    const report = (name: string, r: Run) =>
      `${name}: exit ${r.code} after ${r.seconds.toFixed(1)} s\n${r.out.slice(-1500)}`;
    for (const [name, r] of [
      ["Claude Code", claude],
      ["Codex", codex],
      ["Gemini CLI", gemini],
    ] as const) {
      expect(r.code, report(name, r)).not.toBe(0);
      expect(r.out, report(name, r)).toMatch(RESET);
      expect(r.seconds, report(name, r)).toBeLessThan(30);
    }
    expect(claude.out).toContain('The client key "spent" has spent $0.00 of its $0.00 budget');
    expect(gemini.out).toContain('The client key "spent" has spent $0.00 of its $0.00 budget');
    // Asked once each: no retries spent on a budget that returns next month.
    expect(await refusedTurns(/^\/v1\/messages$/, 1)).toBe(1);
    expect(await refusedTurns(/^\/v1\/responses$/, 1)).toBe(1);
    expect(await refusedTurns(/GenerateContent$/, 1)).toBe(1);
    expect(an.requests.length + oa.requests.length + gm.requests.length).toBe(0);
  }, 90_000);
});
