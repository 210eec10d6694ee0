import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { codexConfigToml, nativeCodex } from "../../test/support/codex.ts";
import { RED_PNG_BASE64 } from "../../test/support/red-png.ts";
import type {
  CliName,
  Dialect,
  Purpose,
  RawExchange,
  RecordedExchange,
  SessionName,
} from "./fixture.ts";

/*
 * How each CLI is driven through each recorded session, non-interactively, as scripts/try-clis.ts
 * drives it: the commands, the configuration written into its fresh home, what it must print for
 * the session to count as having happened, and what each of its requests is for.
 */

/** Where a session runs: fresh home and work directories, the recording proxy's origin, the fake key. */
export interface SessionContext {
  home: string;
  work: string;
  origin: string;
  key: string;
  /** .levity-clis/node_modules */
  modules: string;
}

/** One CLI invocation of a session; `expect` is text its output must contain. */
export interface Step {
  command: string[];
  env: Record<string, string>;
  expect?: string;
}

export interface CliRecorder {
  name: CliName;
  /** The npm package whose version names the fixtures' directory. */
  pkg: string;
  dialect: Dialect;
  sessions: Partial<Record<SessionName, (ctx: SessionContext) => Step[]>>;
  /** Why a session has no script: the CLI cannot do it non-interactively. */
  cannot: Partial<Record<SessionName, string>>;
  /** A recorded session that lacks what it is for (no compaction request, say) is not written. */
  check?: Partial<Record<SessionName, (exchanges: RecordedExchange[]) => string | undefined>>;
  purposeOf(raw: RawExchange): Purpose;
}

// The shell works this out; the prompt does not contain the answer, so seeing it proves the tool
// ran and its result went back to the model. (No $(( )): Gemini CLI refuses substitutions.)
export const COMMAND = "printf tool-ran-%d 42";
export const TOOL_RAN = "tool-ran-42";
const exactly = (marker: string) => `Reply with exactly this text and nothing else: ${marker}`;

function jsonOf(raw: RawExchange): any {
  try {
    return JSON.parse(raw.bodyText);
  } catch {
    return undefined;
  }
}

/** About 36 KB of numbered lines: more than Claude Code reads without counting its tokens first. */
const BIG_FILE = Array.from(
  { length: 900 },
  (_, i) => `line ${i + 1}: the quick brown fox jumps over the lazy dog\n`,
).join("");

/** Some request asked the model to summarise the history (the CLI compacting it). */
const asked = (phrase: string) => (exchanges: RecordedExchange[]) =>
  exchanges.some((e) => JSON.stringify(e.request.body ?? "").includes(phrase))
    ? undefined
    : `no request asked for "${phrase}"`;

/** The session's image (test/support/red-png.ts) went out in some request. */
function sentImage(exchanges: RecordedExchange[]): string | undefined {
  return exchanges.some((e) => JSON.stringify(e.request.body ?? "").includes(RED_PNG_BASE64))
    ? undefined
    : "no request carried the image";
}

const pathOnly = (raw: RawExchange) => raw.path.split("?")[0]!;

const has = (purpose: Purpose, what: string) => (exchanges: RecordedExchange[]) =>
  exchanges.some((e) => e.purpose === purpose) ? undefined : `no ${what} request was sent`;

// ---------------------------------------------------------------------------------------------
// Claude Code

function claudeBinary(modules: string): string {
  const native = join(modules, "@anthropic-ai", "claude-code", "bin", "claude.exe");
  return existsSync(native) ? native : join(modules, ".bin", "claude");
}

function claude(ctx: SessionContext, args: string[], expect?: string, extraEnv = {}): Step {
  return {
    command: [claudeBinary(ctx.modules), ...args],
    env: {
      HOME: ctx.home,
      ANTHROPIC_BASE_URL: ctx.origin,
      ANTHROPIC_API_KEY: ctx.key,
      // Offline, the telemetry and update checks only cost time (and are not the model's traffic).
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      ...extraEnv,
    },
    expect,
  };
}

const claudeCode: CliRecorder = {
  name: "claude-code",
  pkg: "@anthropic-ai/claude-code",
  dialect: "anthropic",
  sessions: {
    plain: (ctx) => [claude(ctx, ["-p", exactly("claude-ok")], "claude-ok")],
    "tool-loop": (ctx) => [
      claude(
        ctx,
        ["-p", `Call the Bash tool with "${COMMAND}"`, "--allowedTools", "Bash"],
        TOOL_RAN,
      ),
    ],
    // Claude Code asks for adaptive thinking by default; here the fake thinks (fakeFor), and the
    // tool loop sends the signed thinking back.
    thinking: (ctx) => [
      claude(
        ctx,
        [
          "-p",
          `Call the Bash tool with "${COMMAND}"`,
          "--allowedTools",
          "Bash",
          "--settings",
          JSON.stringify({ alwaysThinkingEnabled: true }),
        ],
        TOOL_RAN,
      ),
    ],
    // Claude Code's Read tool sends an image file back as an image block in the tool result.
    image: (ctx) => [
      claude(
        ctx,
        ["-p", `Call the Read tool with "${ctx.work}/red.png"`, "--allowedTools", "Read"],
        "The tool returned",
      ),
    ],
    "multi-turn": (ctx) => [
      claude(ctx, ["-p", exactly("turn-1")], "turn-1"),
      claude(ctx, ["-p", "--continue", exactly("turn-2")], "turn-2"),
      claude(
        ctx,
        ["-p", "--continue", `Call the Bash tool with "${COMMAND}"`, "--allowedTools", "Bash"],
        TOOL_RAN,
      ),
      claude(ctx, ["-p", "--continue", exactly("turn-4")], "turn-4"),
      claude(ctx, ["-p", "--continue", exactly("turn-5")], "turn-5"),
    ],
    // /compact works in print mode on a continued session (with a single exchange it finds "Not
    // enough messages to compact").
    compaction: (ctx) => [
      claude(ctx, ["-p", exactly("turn-1")], "turn-1"),
      claude(ctx, ["-p", "--continue", exactly("turn-2")], "turn-2"),
      claude(ctx, ["-p", "--continue", exactly("before-compact")], "before-compact"),
      claude(ctx, ["-p", "--continue", "/compact"]),
      claude(ctx, ["-p", "--continue", exactly("after-compact")], "after-compact"),
    ],
    // Before reading a file its own estimate finds large (over a quarter of the Read tool's token
    // limit), Claude Code asks the API to count the file's tokens.
    "count-tokens": (ctx) => {
      writeFileSync(join(ctx.work, "big.txt"), BIG_FILE);
      return [
        claude(
          ctx,
          ["-p", `Call the Read tool with "${ctx.work}/big.txt"`, "--allowedTools", "Read"],
          "The tool returned",
        ),
      ];
    },
  },
  cannot: {},
  check: {
    image: sentImage,
    compaction: asked("summary of the conversation"),
    "count-tokens": has("count", "count_tokens"),
  },
  purposeOf(raw) {
    const path = pathOnly(raw);
    if (path.endsWith("/count_tokens")) return "count";
    if (path !== "/v1/messages") return "other";
    const body = jsonOf(raw);
    if (body?.max_tokens === 1) return "quota";
    if (Array.isArray(body?.tools) && body.tools.length > 0) return "main";
    return "title";
  },
};

// ---------------------------------------------------------------------------------------------
// Codex CLI

function codexBinary(modules: string): string {
  return nativeCodex(join(modules, "..")) ?? join(modules, ".bin", "codex");
}

const CODEX_FLAGS = ["--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"];

function codex(
  ctx: SessionContext,
  args: string[],
  expect?: string,
  settings: string[] = [],
): Step {
  mkdirSync(join(ctx.home, ".codex"), { recursive: true });
  writeFileSync(join(ctx.home, ".codex", "config.toml"), codexConfigToml(ctx.origin, { settings }));
  return {
    command: [codexBinary(ctx.modules), ...args],
    env: { HOME: ctx.home, LEVITY_API_KEY: ctx.key },
    expect,
  };
}

const codexCli: CliRecorder = {
  name: "codex",
  pkg: "@openai/codex",
  dialect: "openai-responses",
  sessions: {
    plain: (ctx) => [codex(ctx, ["exec", ...CODEX_FLAGS, exactly("codex-ok")], "codex-ok")],
    "tool-loop": (ctx) => [
      codex(
        ctx,
        ["exec", ...CODEX_FLAGS, `Call the exec_command tool with "${COMMAND}"`],
        TOOL_RAN,
      ),
    ],
    // Reasoning on, through a tool loop: the reasoning item (summary and encrypted content) goes
    // back with the tool's output.
    thinking: (ctx) => [
      codex(
        ctx,
        ["exec", ...CODEX_FLAGS, `Call the exec_command tool with "${COMMAND}"`],
        TOOL_RAN,
        ['model_reasoning_effort = "high"', 'model_reasoning_summary = "detailed"'],
      ),
    ],
    image: (ctx) => [
      codex(
        ctx,
        // -i takes several files: the prompt goes before it.
        ["exec", ...CODEX_FLAGS, "What colour is this image?", "-i", join(ctx.work, "red.png")],
        "Red",
      ),
    ],
    "multi-turn": (ctx) => [
      codex(ctx, ["exec", ...CODEX_FLAGS, exactly("turn-1")], "turn-1"),
      codex(ctx, ["exec", "resume", "--last", ...CODEX_FLAGS, exactly("turn-2")], "turn-2"),
      codex(
        ctx,
        [
          "exec",
          "resume",
          "--last",
          ...CODEX_FLAGS,
          `Call the exec_command tool with "${COMMAND}"`,
        ],
        TOOL_RAN,
      ),
      codex(ctx, ["exec", "resume", "--last", ...CODEX_FLAGS, exactly("turn-4")], "turn-4"),
    ],
    // Codex compacts on its own once a turn's reported usage passes model_auto_compact_token_limit;
    // the fake reports a few dozen tokens, so a limit below that compacts after the first turn.
    compaction: (ctx) => {
      const settings = ["model_auto_compact_token_limit = 10"];
      return [
        codex(ctx, ["exec", ...CODEX_FLAGS, exactly("turn-1")], "turn-1", settings),
        codex(
          ctx,
          ["exec", "resume", "--last", ...CODEX_FLAGS, exactly("after-compact")],
          "after-compact",
          settings,
        ),
      ];
    },
  },
  cannot: {
    "count-tokens": "Codex CLI counts no tokens through the API",
  },
  check: { image: sentImage, compaction: asked("CONTEXT CHECKPOINT COMPACTION") },
  purposeOf(raw) {
    return pathOnly(raw) === "/v1/responses" ? "main" : "other";
  },
};

export const CLI_RECORDERS: CliRecorder[] = [claudeCode, codexCli];
