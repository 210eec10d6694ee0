import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Dialect, DIALECTS } from "../kit/src/dialect.ts";
import { closeFakes, type Fakes, startFakes } from "../kit/src/fakes/server.ts";
import { type Fixture, loadFixtures } from "../kit/src/fixtures.ts";
import { DEFAULT_MODELS, levityConfig } from "../kit/src/recipes.ts";
import { markdown } from "../kit/src/report.ts";
import { type Cell, runKit } from "../kit/src/run.ts";
import { REPO, startGateway, type TestGateway, tempDir } from "./support/gateway.ts";
import {
  freePortRun,
  levityForKit,
  signatureDroppingProxy,
  toolDroppingProxy,
} from "./support/kit-levity.ts";
import { RED_PNG_BASE64, RED_PNG_DATA_URL } from "./support/red-png.ts";

/*
 * The CLI traffic kit (kit/) against a real levity configured as the kit's README says: every
 * recorded CLI session under test/fixtures/cli-traffic, and a few small sessions written here (one
 * per client dialect, with what each check looks for), over every upstream dialect. Then a gateway
 * that drops tools, which the kit must fail, and the kit as a packed npm package, run by npx and
 * by plain Node.
 */

const RECORDED = join(REPO, "test/fixtures/cli-traffic");

const SCHEMA = {
  type: "object",
  properties: { command: { type: "string" }, timeout: { type: "number" } },
  required: ["command"],
};

/** One small session per client dialect, shaped as each CLI sends: tools, system, history with a signature, an image, cache hints. */
const SYNTHETIC = [
  {
    format: 1,
    cli: "synthetic-anthropic",
    version: "1",
    session: "tool-loop",
    dialect: "anthropic",
    scrubbed: ["x-api-key"],
    exchanges: [
      {
        purpose: "main",
        request: {
          method: "POST",
          path: "/v1/messages?beta=true",
          headers: { "anthropic-version": "2023-06-01", "x-api-key": "[scrubbed]" },
          body: {
            model: "claude-recorded",
            max_tokens: 4096,
            stream: true,
            thinking: { type: "enabled", budget_tokens: 1024 },
            system: [
              {
                type: "text",
                text: "You are a synthetic coding CLI.",
                cache_control: { type: "ephemeral" },
              },
            ],
            tools: [{ name: "Bash", description: "Run a command", input_schema: SCHEMA }],
            messages: [
              {
                role: "user",
                content: [
                  { type: "text", text: "What is in this picture?" },
                  {
                    type: "image",
                    source: { type: "base64", media_type: "image/png", data: RED_PNG_BASE64 },
                  },
                ],
              },
              {
                role: "assistant",
                content: [
                  {
                    type: "thinking",
                    thinking: "Look first.",
                    signature: "recorded-anthropic-signature",
                  },
                  {
                    type: "tool_use",
                    id: "toolu_recorded",
                    name: "Bash",
                    input: { command: "ls" },
                  },
                ],
              },
              {
                role: "user",
                content: [
                  { type: "tool_result", tool_use_id: "toolu_recorded", content: "red.png" },
                ],
              },
            ],
          },
        },
      },
      {
        purpose: "count",
        request: {
          method: "POST",
          path: "/v1/messages/count_tokens?beta=true",
          headers: { "anthropic-version": "2023-06-01", "x-api-key": "[scrubbed]" },
          body: { model: "claude-recorded", messages: [{ role: "user", content: "count me" }] },
        },
      },
    ],
  },
  {
    format: 1,
    cli: "synthetic-responses",
    version: "1",
    session: "thinking",
    dialect: "openai-responses",
    scrubbed: ["authorization"],
    exchanges: [
      {
        purpose: "main",
        request: {
          method: "POST",
          path: "/v1/responses",
          headers: { authorization: "[scrubbed]" },
          body: {
            model: "gpt-recorded",
            instructions: "You are a synthetic Codex.",
            stream: true,
            store: false,
            include: ["reasoning.encrypted_content"],
            reasoning: { effort: "medium", summary: "auto" },
            prompt_cache_key: "synthetic-session",
            tools: [
              { type: "function", name: "shell", parameters: SCHEMA },
              {
                type: "custom",
                name: "apply_patch",
                format: { type: "grammar", syntax: "lark", definition: "start: /.+/" },
              },
              { type: "web_search" },
            ],
            input: [
              {
                type: "message",
                role: "developer",
                content: [{ type: "input_text", text: "Sandbox: none." }],
              },
              {
                type: "message",
                role: "user",
                content: [
                  { type: "input_text", text: "Describe it" },
                  { type: "input_image", image_url: RED_PNG_DATA_URL },
                ],
              },
              { type: "reasoning", summary: [], encrypted_content: "recorded-openai-encrypted" },
              {
                type: "function_call",
                call_id: "call_recorded",
                name: "shell",
                arguments: '{"command":"ls"}',
              },
              { type: "function_call_output", call_id: "call_recorded", output: "red.png" },
              {
                type: "message",
                role: "user",
                content: [{ type: "input_text", text: "And now?" }],
              },
            ],
          },
        },
      },
      {
        purpose: "other",
        request: {
          method: "POST",
          path: "/v1/responses/compact",
          headers: { authorization: "[scrubbed]" },
          body: {
            model: "gpt-recorded",
            instructions: "You are a synthetic Codex.",
            input: [
              {
                type: "message",
                role: "user",
                content: [{ type: "input_text", text: "Long talk" }],
              },
            ],
          },
        },
      },
    ],
  },
  {
    format: 1,
    cli: "synthetic-gemini",
    version: "1",
    session: "image",
    dialect: "gemini",
    scrubbed: ["x-goog-api-key"],
    exchanges: [
      {
        purpose: "main",
        request: {
          method: "POST",
          path: "/v1beta/models/gemini-recorded:streamGenerateContent?alt=sse",
          headers: { "x-goog-api-key": "[scrubbed]" },
          body: {
            systemInstruction: { parts: [{ text: "You are a synthetic Gemini CLI." }] },
            generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: -1 } },
            tools: [
              {
                functionDeclarations: [{ name: "run_shell_command", parametersJsonSchema: SCHEMA }],
              },
            ],
            contents: [
              {
                role: "user",
                parts: [
                  { text: "What is this?" },
                  { inlineData: { mimeType: "image/png", data: RED_PNG_BASE64 } },
                ],
              },
              {
                role: "model",
                parts: [
                  {
                    functionCall: { name: "run_shell_command", args: { command: "ls" } },
                    thoughtSignature: "recorded-gemini-signature",
                  },
                ],
              },
              {
                role: "user",
                parts: [
                  {
                    functionResponse: {
                      name: "run_shell_command",
                      response: { output: "red.png" },
                    },
                  },
                ],
              },
            ],
          },
        },
      },
      {
        purpose: "count",
        request: {
          method: "POST",
          path: "/v1beta/models/gemini-recorded:countTokens",
          headers: { "x-goog-api-key": "[scrubbed]" },
          body: { contents: [{ role: "user", parts: [{ text: "count me" }] }] },
        },
      },
    ],
  },
  {
    format: 1,
    cli: "synthetic-chat",
    version: "1",
    session: "plain",
    dialect: "openai-chat",
    scrubbed: ["authorization"],
    exchanges: [
      {
        purpose: "main",
        request: {
          method: "POST",
          path: "/v1/chat/completions",
          headers: { authorization: "[scrubbed]" },
          body: {
            model: "chat-recorded",
            stream: true,
            stream_options: { include_usage: true },
            messages: [
              { role: "system", content: "You are a synthetic Kilo Code." },
              {
                role: "user",
                content: [
                  { type: "text", text: "Look" },
                  { type: "image_url", image_url: { url: RED_PNG_DATA_URL } },
                ],
              },
            ],
            tools: [{ type: "function", function: { name: "bash", parameters: SCHEMA } }],
          },
        },
      },
    ],
  },
];

function writeSynthetic(): string {
  const dir = tempDir("levity-kit-fixtures-");
  for (const fixture of SYNTHETIC) {
    const sub = join(dir, fixture.cli, fixture.version);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `${fixture.session}.json`), JSON.stringify(fixture));
  }
  return dir;
}

let fakes: Fakes;
let gateway: TestGateway;
let syntheticDir: string;
let synthetic: Fixture[];

beforeAll(async () => {
  fakes = await startFakes();
  gateway = levityForKit(fakes);
  syntheticDir = writeSynthetic();
  synthetic = loadFixtures(syntheticDir);
});

afterAll(async () => {
  await gateway.stop();
  await closeFakes(fakes);
  rmSync(syntheticDir, { recursive: true, force: true });
  // Every test file runs in one process: what this file held must not stay for the files after
  // it (test/multipart-chunked.test.ts measures the process's memory).
  gateway = undefined as unknown as TestGateway;
  fakes = undefined as unknown as Fakes;
  synthetic = [];
});

const run = (baseUrl: string, fixtures: Fixture[]) =>
  runKit({
    baseUrl,
    key: "sk-cli-traffic-kit",
    models: DEFAULT_MODELS,
    fakes,
    fixtures,
    dialects: DIALECTS,
    timeoutMs: 30_000,
  });

const failures = (cells: Cell[]) =>
  cells
    .filter((c) => c.status !== "pass")
    .map((c) => `${c.cli} ${c.session} -> ${c.upstream}: ${c.status} ${c.reason}`);

describe("against levity", () => {
  test("the synthetic sessions of the four client dialects pass over every upstream, each check exercised", async () => {
    const cells = await run(gateway.origin, synthetic);
    expect(failures(cells)).toEqual([]);
    expect(cells).toHaveLength(SYNTHETIC.length * DIALECTS.length);
    const passed = new Set(
      cells
        .flatMap((c) => c.exchanges.flatMap((e) => e.cases))
        .filter((c) => c.status === "pass")
        .map((c) => c.name),
    );
    for (const name of [
      "reached upstream",
      "model",
      "tools",
      "system prompt",
      "signatures",
      "cache fields",
      "images",
      "status",
      "stream event order",
      "stop reason",
      "tool call",
      "usage",
      "tool-call pairing",
      "signature back to its issuer",
      "signature kept from another upstream",
      "count shape",
      "next turn stream event order",
      "next turn stop reason",
    ])
      expect([name, passed.has(name)]).toEqual([name, true]);
  }, 60_000);

  test.skipIf(!existsSync(RECORDED))(
    "every recorded CLI session passes over every upstream dialect",
    async () => {
      const fixtures = loadFixtures(RECORDED);
      expect(fixtures.length).toBeGreaterThan(0);
      const cells = await run(gateway.origin, fixtures);
      // An image a tool returned (Claude Code's Read of a picture) was the last gap: it reaches
      // every upstream now, in the upstream's own place for it.
      expect(failures(cells.filter((c) => c.status !== "pass"))).toEqual([]);
      console.log(markdown(cells));
    },
    120_000,
  );
});

test("a gateway that drops tools fails the kit's tools case on every upstream", async () => {
  const proxy = toolDroppingProxy(gateway.origin);
  try {
    const cells = await run(proxy.origin, synthetic);
    expect(cells.map((c) => c.status)).toEqual(cells.map(() => "fail"));
    for (const cell of cells)
      expect(cell.reason).toMatch(/^tools: (\d) of \1 tools dropped or renamed: /);
    expect(markdown(cells)).toContain(
      "| FAIL: tools: 1 of 1 tools dropped or renamed: Bash (request 1, main) |",
    );
  } finally {
    proxy.stop();
  }
}, 60_000);

test("a gateway that drops Anthropic's thinking signatures fails the signatures case over Anthropic", async () => {
  const proxy = signatureDroppingProxy(gateway.origin);
  try {
    const cells = await run(
      proxy.origin,
      synthetic.filter((f) => f.dialect === "anthropic"),
    );
    const anthropic = cells.find((c) => c.upstream === "anthropic")!;
    expect(anthropic.status).toBe("fail");
    expect(anthropic.reason).toBe(
      "signatures: 1 of 1 signatures in the history were not sent back to their issuer (request 1, main)",
    );
    // Over any other upstream a dropped Anthropic signature is no loss: those cells pass.
    expect(cells.filter((c) => c.upstream !== "anthropic").map((c) => c.status)).toEqual([
      "pass",
      "pass",
      "pass",
    ]);
  } finally {
    proxy.stop();
  }
}, 60_000);

describe("the packed package", () => {
  let out: string;
  let tarball: string;
  // npm offline, with no update check: the tests use no network but loopback.
  const env = () => ({
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
    HOME: out,
    npm_config_offline: "true",
    npm_config_update_notifier: "false",
    npm_config_audit: "false",
    npm_config_fund: "false",
  });

  // npm pack runs the package's prepack, which builds dist/kit.js for Node with Bun: seconds on a
  // busy machine, so it is done once, by the first test that needs it, under that test's time limit.
  let packing: Promise<void> | undefined;
  const packed = () =>
    (packing ??= (async () => {
      out = tempDir("levity-kit-pack-");
      const pack = Bun.spawn(["npm", "pack", "--silent", "--pack-destination", out], {
        cwd: join(REPO, "kit"),
        env: env(),
        stdout: "ignore",
        stderr: "pipe",
      });
      const stderr = await new Response(pack.stderr).text();
      expect(await pack.exited, stderr).toBe(0);
      tarball = join(out, readdirSync(out).find((f) => f.endsWith(".tgz"))!);
      expect(await Bun.spawn(["tar", "xzf", tarball, "-C", out]).exited).toBe(0);
    })());

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  test("holds its built script, its manifest, its README and the recorded sessions", async () => {
    await packed();
    const list = Bun.spawnSync(["tar", "tzf", tarball]).stdout.toString().trim().split("\n").sort();
    expect(list.filter((f) => !f.startsWith("package/fixtures/"))).toEqual([
      "package/README.md",
      "package/dist/kit.js",
      "package/package.json",
    ]);
    const recorded = existsSync(RECORDED) ? loadFixtures(RECORDED).length : 0;
    expect(
      list.filter((f) => f.startsWith("package/fixtures/") && f.endsWith(".json")),
    ).toHaveLength(recorded);
  }, 60_000);

  test("npx runs it from the tarball", async () => {
    await packed();
    const npx = Bun.spawn(["npx", "--yes", "--package", tarball, "cli-traffic-kit", "--help"], {
      cwd: out,
      env: env(),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr] = await Promise.all([
      new Response(npx.stdout).text(),
      new Response(npx.stderr).text(),
    ]);
    expect(await npx.exited, stderr).toBe(0);
    expect(stdout).toContain("Usage: cli-traffic-kit --base-url URL");
  }, 60_000);

  test("plain Node runs it against levity: its table, --json, and exit code 1 for a gateway that drops tools", async () => {
    await packed();
    const base = await freePortRun(4);
    const urls = Object.fromEntries(
      DIALECTS.map((d, i) => [
        d,
        `http://127.0.0.1:${base + i}${d.startsWith("openai") ? "/v1" : ""}`,
      ]),
    ) as Record<Dialect, string>;
    const levity = startGateway(levityConfig(urls));
    const proxy = toolDroppingProxy(levity.origin);
    const kit = async (origin: string, ...more: string[]) => {
      // Outside a repository and without --fixtures, the sessions the package carries are used.
      const fixtures = more.includes("--own-fixtures") ? [] : ["--fixtures", syntheticDir];
      const child = Bun.spawn(
        [
          "node",
          join(out, "package/dist/kit.js"),
          "--base-url",
          origin,
          "--upstream-port-base",
          String(base),
          ...fixtures,
          ...more.filter((arg) => arg !== "--own-fixtures"),
        ],
        { cwd: out, env: env(), stdout: "pipe", stderr: "pipe" },
      );
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      return { stdout, stderr, code };
    };
    try {
      const good = await kit(levity.origin);
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toContain(
        "| CLI session | Anthropic | OpenAI Responses | OpenAI Chat | Gemini |",
      );
      expect(good.stdout).toContain(
        "| synthetic-anthropic 1 tool-loop | pass | pass | pass | pass |",
      );
      expect(good.stdout).toContain("16 pass, 0 fail, 0 n/a");
      expect(good.stderr).toContain(`anthropic fake: http://127.0.0.1:${base}`);
      const json = await kit(levity.origin, "--json", "--dialect", "gemini");
      const report = JSON.parse(json.stdout);
      expect(report.summary).toEqual({ pass: 4, fail: 0, na: 12 });
      expect(report.results[0].reason).toBe(
        "the gateway was not given a route to this upstream for this run",
      );
      if (existsSync(RECORDED)) {
        const own = await kit(levity.origin, "--own-fixtures", "--session", "plain");
        expect(own.code, own.stderr).toBe(0);
        expect(own.stdout).toMatch(
          /\| claude-code [\d.]+ plain \| pass \| pass \| pass \| pass \|/,
        );
      }
      const bad = await kit(proxy.origin);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain("FAIL: tools: 1 of 1 tools dropped or renamed: Bash");
    } finally {
      proxy.stop();
      await levity.stop();
    }
  }, 60_000);
});

describe("npm run conformance -- --kit", () => {
  const conformance = async (...args: string[]) => {
    const child = Bun.spawn([process.execPath, "scripts/conformance.ts", "--kit", ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "", HOME: syntheticDir },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { stdout, stderr, code };
  };

  test("without --base-url, against a levity it starts in front of the kit's fakes", async () => {
    const result = await conformance("--fixtures", syntheticDir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("16 pass, 0 fail, 0 n/a");
  }, 60_000);

  test("with --base-url and --key, against that gateway", async () => {
    const base = await freePortRun(4);
    const urls = Object.fromEntries(
      DIALECTS.map((d, i) => [
        d,
        `http://127.0.0.1:${base + i}${d.startsWith("openai") ? "/v1" : ""}`,
      ]),
    ) as Record<Dialect, string>;
    const config = levityConfig(urls);
    const levity = startGateway({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: sk-kit-client-0001\n${config.gateway}`,
      mappings: config.mappings,
    });
    try {
      const args = [
        "--base-url",
        levity.origin,
        "--upstream-port-base",
        String(base),
        "--fixtures",
        syntheticDir,
      ];
      const good = await conformance(...args, "--key", "sk-kit-client-0001");
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toContain("16 pass, 0 fail, 0 n/a");
      // The key goes where each CLI put its own: without it, every request is refused.
      const refused = await conformance(...args, "--key", "sk-not-the-key-000");
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(
        "FAIL: reached upstream: nothing reached the anthropic fake; the client got 401",
      );
    } finally {
      await levity.stop();
    }
  }, 60_000);

  test("--print-config levity prints the configuration the tests run levity with", async () => {
    const result = await conformance("--print-config", "levity", "--upstream-port-base", "47100");
    expect(result.code).toBe(0);
    const urls = Object.fromEntries(
      DIALECTS.map((d, i) => [
        d,
        `http://127.0.0.1:${47100 + i}${d.startsWith("openai") ? "/v1" : ""}`,
      ]),
    ) as Record<Dialect, string>;
    const config = levityConfig(urls);
    expect(result.stdout).toBe(
      `# gateway.yaml\n${config.gateway}\n# mappings.yaml\n${config.mappings}\n`,
    );
  }, 60_000);
});
