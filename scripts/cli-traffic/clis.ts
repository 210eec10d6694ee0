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
      // No telemetry, error reports or update checks, which go elsewhere than the model's API.
      // (Not CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: it also stops the session-title request
      // a user's Claude Code sends to the API, which belongs in the recording.)
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
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
    // Its session title: no tools, and a JSON schema asking for a `title`.
    if (body?.output_config?.format?.schema?.properties?.title) return "title";
    return "other";
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

// ---------------------------------------------------------------------------------------------
// Gemini CLI

function gemini(
  ctx: SessionContext,
  args: string[],
  expect?: string,
  settings: Record<string, unknown> = {},
): Step {
  mkdirSync(join(ctx.home, ".gemini"), { recursive: true });
  writeFileSync(
    join(ctx.home, ".gemini", "settings.json"),
    JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } }, ...settings }),
  );
  return {
    command: [join(ctx.modules, ".bin", "gemini"), ...args],
    env: {
      HOME: ctx.home,
      GOOGLE_GEMINI_BASE_URL: ctx.origin,
      GEMINI_API_KEY: ctx.key,
      GEMINI_CLI_TRUST_WORKSPACE: "true",
    },
    expect,
  };
}

const FLASH = ["-m", "gemini-2.5-flash"];
/** Some 6 KB of filler that makes a turn weigh in Gemini CLI's estimate of the history. */
const PADDING = Array.from(
  { length: 100 },
  (_, i) => `Background note ${i + 1}: nothing to do.`,
).join("\n");

const geminiCli: CliRecorder = {
  name: "gemini-cli",
  pkg: "@google/gemini-cli",
  dialect: "gemini",
  sessions: {
    plain: (ctx) => [gemini(ctx, [...FLASH, "-p", exactly("gemini-ok")], "gemini-ok")],
    "tool-loop": (ctx) => [
      gemini(
        ctx,
        [...FLASH, "--yolo", "-p", `Call the run_shell_command tool with "${COMMAND}"`],
        TOOL_RAN,
      ),
    ],
    // Gemini 2.5 already thinks with a budget (includeThoughts); Gemini 3 gets a thinking level
    // and signs its function calls, and the tool loop must send the signature back.
    thinking: (ctx) => [
      gemini(
        ctx,
        [
          "-m",
          "gemini-3-pro-preview",
          "--yolo",
          "-p",
          `Call the run_shell_command tool with "${COMMAND}"`,
        ],
        TOOL_RAN,
      ),
    ],
    // An @path in the prompt makes Gemini CLI read the file and send it inline.
    image: (ctx) => [gemini(ctx, [...FLASH, "-p", "What colour is this image? @red.png"], "Red")],
    "multi-turn": (ctx) => [
      gemini(ctx, [...FLASH, "-p", exactly("turn-1")], "turn-1"),
      gemini(ctx, [...FLASH, "--resume", "latest", "-p", exactly("turn-2")], "turn-2"),
      gemini(
        ctx,
        [
          ...FLASH,
          "--resume",
          "latest",
          "--yolo",
          "-p",
          `Call the run_shell_command tool with "${COMMAND}"`,
        ],
        TOOL_RAN,
      ),
      gemini(ctx, [...FLASH, "--resume", "latest", "-p", exactly("turn-4")], "turn-4"),
    ],
    // Gemini CLI compresses its history before a turn once its estimate of the history passes
    // model.compressionThreshold of the model's context (a fraction); each turn here carries some
    // padding and the threshold is low, so the third turn finds the history worth compressing.
    compaction: (ctx) => {
      const settings = { model: { compressionThreshold: 0.003 } };
      const turn = (n: string) => `${exactly(n)}\n${PADDING}`;
      return [
        gemini(ctx, [...FLASH, "-p", turn("turn-1")], "turn-1", settings),
        gemini(ctx, [...FLASH, "--resume", "latest", "-p", turn("turn-2")], "turn-2", settings),
        gemini(
          ctx,
          [...FLASH, "--resume", "latest", "-p", exactly("after-compact")],
          "after-compact",
          settings,
        ),
      ];
    },
    // Gemini CLI counts tokens through the API only for a request with media (it estimates text
    // itself): an attached image.
    "count-tokens": (ctx) => [
      gemini(ctx, [...FLASH, "-p", "How many tokens is this image? @red.png"]),
    ],
  },
  cannot: {},
  check: {
    image: sentImage,
    compaction: asked("<state_snapshot>"),
    "count-tokens": has("count", "countTokens"),
  },
  purposeOf(raw) {
    const path = pathOnly(raw);
    if (path.endsWith(":countTokens")) return "count";
    if (!/:(stream)?generateContent$/i.test(path)) return "other";
    const body = jsonOf(raw);
    const tools = (body?.tools ?? []).flatMap((t: any) => t.functionDeclarations ?? []);
    return tools.length > 0 ? "main" : "other";
  },
};

// ---------------------------------------------------------------------------------------------
// Kilo Code

const KILO_PKG = `@kilocode/cli-${process.platform}-${process.arch}`;

/** Kilo Code with an OpenAI-compatible provider at the proxy (as try-clis and capture-cli-tools set it up). */
function kilo(
  ctx: SessionContext,
  args: string[],
  expect?: string,
  model: { id?: string; extra?: Record<string, unknown>; config?: Record<string, unknown> } = {},
): Step {
  const id = model.id ?? "record-model";
  const provider = {
    npm: "@ai-sdk/openai-compatible",
    name: "record",
    options: { baseURL: `${ctx.origin}/v1`, apiKey: ctx.key },
    models: { [id]: { name: id, tool_call: true, ...model.extra } },
  };
  writeFileSync(
    join(ctx.work, "kilo.json"),
    JSON.stringify(
      { provider: { record: provider }, model: `record/${id}`, ...model.config },
      null,
      2,
    ),
  );
  return {
    command: [
      join(ctx.modules, KILO_PKG, "bin", "kilo"),
      "run",
      "--model",
      `record/${id}`,
      ...args,
    ],
    // Offline, fetching the models.dev catalogue and checking for updates only cost time.
    env: { HOME: ctx.home, KILO_DISABLE_MODELS_FETCH: "1", KILO_DISABLE_AUTOUPDATE: "1" },
    expect,
  };
}

const kiloCode: CliRecorder = {
  name: "kilo-code",
  pkg: KILO_PKG,
  dialect: "openai-chat",
  sessions: {
    plain: (ctx) => [kilo(ctx, [exactly("kilo-ok")], "kilo-ok")],
    "tool-loop": (ctx) => [kilo(ctx, ["--auto", `Call the bash tool with "${COMMAND}"`], TOOL_RAN)],
    // A reasoning model: Kilo sends reasoning_effort, the fake answers with reasoning_content.
    thinking: (ctx) => [
      kilo(ctx, ["--auto", `Call the bash tool with "${COMMAND}"`], TOOL_RAN, {
        id: "record-reasoner",
        extra: { reasoning: true, options: { reasoningEffort: "high" } },
      }),
    ],
    // A model that takes images, and the file attached with --file.
    image: (ctx) => [
      kilo(
        ctx,
        ["--file", join(ctx.work, "red.png"), "--", "What colour is this image?"],
        undefined,
        {
          extra: { attachment: true, modalities: { input: ["text", "image"], output: ["text"] } },
        },
      ),
    ],
    "multi-turn": (ctx) => [
      kilo(ctx, [exactly("turn-1")], "turn-1"),
      kilo(ctx, ["--continue", exactly("turn-2")], "turn-2"),
      kilo(ctx, ["--continue", "--auto", `Call the bash tool with "${COMMAND}"`], TOOL_RAN),
      kilo(ctx, ["--continue", exactly("turn-4")], "turn-4"),
    ],
    // Kilo compacts a session once its reported usage reaches the model's input limit less a
    // reserve; a tiny input limit makes the first turn's usage (a dozen tokens) reach it.
    compaction: (ctx) => {
      const small = {
        extra: { limit: { context: 200000, input: 20, output: 4000 } },
        config: { compaction: { reserved: 10 } },
      };
      return [
        kilo(ctx, [exactly("turn-1")], "turn-1", small),
        kilo(ctx, ["--continue", exactly("after-compact")], "after-compact", small),
      ];
    },
  },
  cannot: {
    "count-tokens":
      "Kilo Code counts no tokens through the API (Chat Completions has no such call)",
  },
  check: { image: sentImage, compaction: asked("Summarize conversation") },
  purposeOf(raw) {
    if (pathOnly(raw) !== "/v1/chat/completions") return "other";
    const body = jsonOf(raw);
    if (Array.isArray(body?.tools) && body.tools.length > 0) return "main";
    // Without tools: its session title, or its compaction's summaries.
    return /Generate a title/.test(JSON.stringify(body?.messages ?? [])) ? "title" : "other";
  },
};
export const CLI_RECORDERS: CliRecorder[] = [claudeCode, codexCli, geminiCli, kiloCode];
