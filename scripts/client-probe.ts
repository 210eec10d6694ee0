/*
 * How the real clients treat one error answer: a loopback server answers every request with one
 * candidate (a 429 with a long Retry-After, a 403, a usage limit…), and one client (Claude Code,
 * Codex, Gemini CLI from .levity-clis/, or an official SDK at its defaults) runs once against it.
 * It prints the attempts, their gaps, the exit code and what the user saw. This is how the answers
 * to a spent budget and to a rate limit were chosen (README, "What a refused request gets").
 *
 *   bun scripts/client-probe.ts <claude|codex|gemini|sdk-openai|sdk-anthropic|sdk-genai> <case>
 *
 * Not part of npm test: some candidates make a client sleep for minutes (it is stopped at 180 s).
 */
import { mkdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { codexBinary, codexConfigToml } from "../test/support/codex.ts";
import { tmpdir } from "node:os";

const [client, kase] = process.argv.slice(2);
const RESET = "2026-11-27T00:00:00Z";
const MSG = `levity: budget exhausted for this key (daily tokens); resets at ${RESET}`;
const RMSG = `levity: rate limit (requests per minute) for this key; retry in 2s`;
const j = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body,
  headers,
});

const anth = (type: string, message = MSG) => ({
  type: "error",
  error: { type, message },
  request_id: "req_levity_probe",
});
const oai = (
  type: string,
  code: string | null,
  message = MSG,
  extra: Record<string, unknown> = {},
) => ({ error: { message, type, param: null, code, ...extra } });
const gem = (code: number, status: string, message: string, details?: unknown[]) => ({
  error: { code, message, status, ...(details ? { details } : {}) },
});
const quotaFailure = (quotaId: string) => ({
  "@type": "type.googleapis.com/google.rpc.QuotaFailure",
  violations: [
    {
      quotaMetric: "levity/key_daily_tokens",
      quotaId,
      quotaDimensions: { key: "probe" },
      quotaValue: "1000000",
    },
  ],
});
const retryInfo = (d: string) => ({
  "@type": "type.googleapis.com/google.rpc.RetryInfo",
  retryDelay: d,
});

const CASES: Record<string, ReturnType<typeof j>> = {
  // Anthropic
  "anth-a-429-ra7200": j(429, anth("rate_limit_error"), { "retry-after": "7200" }),
  "anth-b-429-ra7200-noretry": j(429, anth("rate_limit_error"), {
    "retry-after": "7200",
    "x-should-retry": "false",
  }),
  "anth-c-403-permission": j(403, anth("permission_error")),
  "anth-d-400-credit": j(
    400,
    anth(
      "invalid_request_error",
      "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
    ),
  ),
  "anth-e-402-billing": j(402, anth("billing_error")),
  "anth-r-429-ra2": j(429, anth("rate_limit_error", RMSG), { "retry-after": "2" }),
  // OpenAI
  "oai-a-429-insufficient_quota": j(
    429,
    oai(
      "insufficient_quota",
      "insufficient_quota",
      `You exceeded your current quota, please check your plan and billing details. (${MSG})`,
    ),
  ),
  "oai-b-429-insufficient_quota-noretry": j(
    429,
    oai(
      "insufficient_quota",
      "insufficient_quota",
      `You exceeded your current quota, please check your plan and billing details. (${MSG})`,
    ),
    { "x-should-retry": "false" },
  ),
  "oai-c-429-rate_limit-ra7200": j(429, oai("requests", "rate_limit_exceeded"), {
    "retry-after": "7200",
  }),
  "oai-d-403-permission": j(403, oai("permission_denied", "budget_exhausted")),
  "oai-e-429-usage_limit_reached": j(
    429,
    {
      error: {
        type: "usage_limit_reached",
        message: MSG,
        plan_type: "plus",
        resets_at: Math.floor(Date.parse(RESET) / 1000),
        resets_in_seconds: 7200,
      },
    },
    { "retry-after": "7200" },
  ),
  "oai-r-429-ra2": j(429, oai("requests", "rate_limit_exceeded", RMSG), { "retry-after": "2" }),
  "anth-f-429-noretryafter": j(429, anth("rate_limit_error")),
  "anth-g-429-ra120": j(429, anth("rate_limit_error"), { "retry-after": "120" }),
  "anth-h-429-ra30": j(429, anth("rate_limit_error", RMSG), { "retry-after": "30" }),
  "oai-f-429-insufficient_quota-ra7200": j(
    429,
    oai(
      "insufficient_quota",
      "insufficient_quota",
      `You exceeded your current quota, please check your plan and billing details. (${MSG})`,
    ),
    { "retry-after": "7200" },
  ),
  "oai-g-429-rate_limit-ra7200-noretry": j(429, oai("requests", "rate_limit_exceeded"), {
    "retry-after": "7200",
    "x-should-retry": "false",
  }),
  "oai-h-429-usage_limit_reached-noheader": j(429, {
    error: {
      type: "usage_limit_reached",
      message: MSG,
      resets_at: Math.floor(Date.parse(RESET) / 1000),
    },
  }),
  "oai-i-429-hybrid-full": j(
    429,
    {
      error: {
        message: MSG,
        type: "usage_limit_reached",
        param: null,
        code: "insufficient_quota",
        resets_at: Math.floor(Date.parse(RESET) / 1000),
        resets_in_seconds: 7200,
      },
    },
    { "retry-after": "7200", "x-should-retry": "false" },
  ),
  "oai-j-429-insufficient_quota-full": j(429, oai("insufficient_quota", "insufficient_quota"), {
    "retry-after": "7200",
    "x-should-retry": "false",
  }),
  // Gemini
  "gem-a-429-perday-retry7200": j(
    429,
    gem(429, "RESOURCE_EXHAUSTED", MSG, [
      quotaFailure("LevityKeyTokensPerDay"),
      retryInfo("7200s"),
    ]),
    { "retry-after": "7200" },
  ),
  "gem-a2-429-retry7200-only": j(429, gem(429, "RESOURCE_EXHAUSTED", MSG, [retryInfo("7200s")])),
  "gem-b-429-plain": j(429, gem(429, "RESOURCE_EXHAUSTED", MSG)),
  "gem-c-403-permission": j(403, gem(403, "PERMISSION_DENIED", MSG)),
  "gem-d-429-monthly-retry7200": j(
    429,
    gem(429, "RESOURCE_EXHAUSTED", MSG, [quotaFailure("LevityKeyUsdPerMonth"), retryInfo("7200s")]),
    { "retry-after": "7200" },
  ),
  "gem-e-429-retry2-only": j(429, gem(429, "RESOURCE_EXHAUSTED", RMSG, [retryInfo("2s")]), {
    "retry-after": "2",
  }),
  "gem-f-429-perday-only": j(
    429,
    gem(429, "RESOURCE_EXHAUSTED", MSG, [quotaFailure("LevityKeyTokensPerDay")]),
  ),
  "gem-r-429-retry2": j(
    429,
    gem(429, "RESOURCE_EXHAUSTED", RMSG, [
      quotaFailure("LevityKeyRequestsPerMinute"),
      retryInfo("2s"),
    ]),
    { "retry-after": "2" },
  ),
};
const c = kase === undefined ? undefined : CASES[kase];
if (!c || !client)
  throw new Error(
    `usage: bun scripts/client-probe.ts <client> <case>; cases: ${Object.keys(CASES).join(" ")}`,
  );

const t0 = performance.now();
const reqs: {
  t: number;
  method: string;
  path: string;
  retryCount?: string | null;
  ua?: string | null;
}[] = [];
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch(req) {
    const u = new URL(req.url);
    reqs.push({
      t: +((performance.now() - t0) / 1000).toFixed(2),
      method: req.method,
      path: u.pathname,
      retryCount: req.headers.get("x-stainless-retry-count"),
      ua: req.headers.get("user-agent")?.slice(0, 60),
    });
    return new Response(JSON.stringify(c.body), {
      status: c.status,
      headers: { "content-type": "application/json", ...c.headers },
    });
  },
});
const origin = `http://127.0.0.1:${server.port}`;
const KEY = "sk-levity-probe";
const home = mkdtempSync(join(tmpdir(), "r18-"));
const prompt = "Reply with exactly: ok";
const M = join(import.meta.dir, "..");
const BUN = process.execPath;
let cmd: string[];
let env: Record<string, string> = {};
switch (client) {
  case "claude":
    cmd = [`${M}/.levity-clis/node_modules/@anthropic-ai/claude-code/bin/claude.exe`, "-p", prompt];
    env = {
      ANTHROPIC_BASE_URL: origin,
      ANTHROPIC_API_KEY: KEY,
      DISABLE_AUTOUPDATER: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    };
    break;
  case "codex": {
    const bin = codexBinary("scripts/client-probe.ts");
    if (!bin) throw new Error("no Codex in .levity-clis: npm run try-clis installs it");
    cmd = [bin, "exec", "--skip-git-repo-check", prompt];
    mkdirSync(join(home, ".codex"), { recursive: true });
    writeFileSync(join(home, ".codex", "config.toml"), codexConfigToml(origin));
    env = { LEVITY_API_KEY: KEY };
    break;
  }
  case "gemini":
    cmd = [
      "node",
      `${M}/.levity-clis/node_modules/@google/gemini-cli/bundle/gemini.js`,
      "-p",
      prompt,
      "-m",
      "gemini-2.5-flash",
    ];
    mkdirSync(join(home, ".gemini"), { recursive: true });
    writeFileSync(
      join(home, ".gemini", "settings.json"),
      JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }),
    );
    env = {
      GOOGLE_GEMINI_BASE_URL: origin,
      GEMINI_API_KEY: KEY,
      GEMINI_CLI_TRUST_WORKSPACE: "true",
    };
    break;
  case "sdk-openai":
  case "sdk-anthropic":
  case "sdk-genai":
    cmd = [BUN, "--no-install", join(import.meta.dir, "client-probe-sdk.ts"), client];
    env = { PROBE_ORIGIN: origin, PROBE_KEY: KEY };
    break;
  default:
    throw new Error(`unknown client ${client}`);
}
const child = Bun.spawn(["timeout", "180", ...cmd], {
  cwd: home,
  env: { PATH: process.env.PATH ?? "", HOME: home, TMPDIR: home, NO_COLOR: "1", ...env },
  stdin: "ignore",
  stdout: "pipe",
  stderr: "pipe",
});
const [stdout, stderr, code] = await Promise.all([
  new Response(child.stdout).text(),
  new Response(child.stderr).text(),
  child.exited,
]);
const wall = +((performance.now() - t0) / 1000).toFixed(1);
server.stop(true);
const gaps = reqs.slice(1).map((r, i) => +(r.t - reqs[i]!.t).toFixed(2));
console.log(
  JSON.stringify({
    client,
    case: kase,
    exit: code,
    timedOut: code === 124,
    wall,
    attempts: reqs.length,
    gaps,
    saw: `${stdout.trim()}\n${stderr.trim()}`.trim().split("\n").slice(-6).join("\n").slice(-900),
  }),
);
