import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { codexBinary, codexConfigToml } from "./support/codex.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeCompatible, type CompatibleProvider } from "./support/fake-compatible.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { readRequestDb } from "./support/request-db.ts";
import { waitUntil } from "./support/wait.ts";
import { wsRelay, type WsRelay } from "./support/ws-relay.ts";

/*
 * The Codex CLI, run as its users run it (`codex exec` with a custom provider in
 * ~/.codex/config.toml, wire_api = "responses"), against levity in front of a Gemini, an
 * Anthropic and a chat-only OpenAI-compatible upstream (and a DeepSeek-like one, whose thinking
 * mode refuses a tool turn sent back without its reasoning), and echo, each translating Codex's
 * Responses requests through the IR; and OpenAI's own API, forwarded as is. Per upstream:
 *
 * - a plain prompt, then `exec resume` turns that call Codex's shell tool (exec_command) and its
 *   freeform apply_patch tool (a custom tool: a patch as free text), which creates a file;
 * - reasoning asked for with model_reasoning_effort: shown with a summary asked for, and kept
 *   (encrypted_content only, Codex's default) through a tool loop;
 * - Codex's WebSocket transport (supports_websockets), where it continues with previous_response_id.
 *
 * Over HTTP Codex 0.169 sends store: false, include ["reasoning.encrypted_content"] and the whole
 * conversation every time; the test checks that in levity's request log.
 *
 * Codex is found by test/support/codex.ts (.ci/run installs it and requires it). Codex gets no network: update checks, analytics and plugin syncs are off in its
 * config, and its proxy is a local trap that must stay unused.
 */

const CODEX = codexBinary("codex-matrix.test.ts");

const KEY = "sk-codex-through-levity";
const RUN_TIMEOUT_MS = 90_000;

const PLAIN = "Reply with exactly this text and nothing else: codex-ok";
// The shell works this out; the prompt does not contain the answer, so seeing it proves the tool ran.
const SHELL = 'Call the exec_command tool with "printf tool-ran-%d 42"';
const TOOL_RAN = "tool-ran-42";
const PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n";
// The scripted fakes write the patch; echo takes a tool's arguments as JSON written in the prompt.
const APPLY_PATCH = 'Use apply_patch to create hello.txt containing "hi"';
const APPLY_PATCH_ECHO = `Use apply_patch with ${JSON.stringify({ input: PATCH })}`;

type UpstreamName = "openai" | "gemini" | "anthropic" | "compatible" | "deepseek" | "echo";
const UPSTREAMS: UpstreamName[] = [
  "openai",
  "gemini",
  "anthropic",
  "compatible",
  "deepseek",
  "echo",
];

/** What each upstream's scripted model writes when it thinks (the fakes quote the prompt; echo says what the user wrote). */
const THOUGHT: Record<UpstreamName, string> = {
  openai: "Thinking about:",
  gemini: "Thinking about:",
  anthropic: "Thinking about:",
  compatible: "Thinking about:",
  deepseek: "Thinking about:",
  echo: "The user wrote:",
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Session {
  home: string;
  work: string;
}

/** A local proxy that refuses everything and remembers what it was asked for: Codex must never use it. */
function proxyTrap(): { url: Promise<string>; asked: string[]; stop(): Promise<void> } {
  const asked: string[] = [];
  const server: Server = createServer((socket) => {
    socket.once("data", (data) => asked.push(data.toString("latin1").split("\r\n")[0] ?? ""));
    socket.on("error", () => {});
    socket.end();
  });
  const url = new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`),
    ),
  );
  return { url, asked, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

function newSession(
  origin: string,
  options: { effort?: string; summary?: string; websockets?: boolean } = {},
): Session {
  const home = mkdtempSync(join(tmpdir(), "levity-codex-home-"));
  const work = mkdtempSync(join(tmpdir(), "levity-codex-work-"));
  mkdirSync(join(home, ".codex"), { recursive: true });
  const settings = [
    ...(options.effort ? [`model_reasoning_effort = "${options.effort}"`] : []),
    ...(options.summary ? [`model_reasoning_summary = "${options.summary}"`] : []),
  ];
  writeFileSync(
    join(home, ".codex", "config.toml"),
    codexConfigToml(origin, {
      settings,
      provider: options.websockets ? ["supports_websockets = true"] : [],
    }),
  );
  return { home, work };
}

async function codex(session: Session, proxy: string, args: string[]): Promise<Run> {
  const child = Bun.spawn([CODEX!, ...args], {
    cwd: session.work,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: session.home,
      LEVITY_API_KEY: KEY,
      // Anything Codex would fetch from the internet goes to the trap and fails at once.
      HTTPS_PROXY: proxy,
      HTTP_PROXY: proxy,
      ALL_PROXY: proxy,
      NO_PROXY: "127.0.0.1,localhost",
      NO_COLOR: "1",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    const [stdout, stderr] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    return { code: await child.exited, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

const EXEC = [
  "exec",
  "--skip-git-repo-check",
  "--dangerously-bypass-approvals-and-sandbox",
  "--color",
  "never",
];
const RESUME = [
  "exec",
  "resume",
  "--last",
  "--skip-git-repo-check",
  "--dangerously-bypass-approvals-and-sandbox",
];

interface UpstreamRuns {
  plain: Run;
  shell: Run;
  patch: Run;
  patchedFile: string | undefined;
  shown: Run[];
  kept: Run[];
  ws: Run;
  wsSent: string[];
  wsConnections: number;
  /** The request bodies Codex sent over HTTP, from levity's request log, in order. */
  bodies: any[];
  /** The working directory of the session that kept thinking through a tool loop: its requests name it. */
  keptWork: string;
  fake?: FakeUpstream;
}

interface Harness {
  gateway: TestGateway;
  fakes: FakeUpstream[];
  stop(): Promise<void>;
}

/** levity in front of one upstream, every model mapped to it, bodies in the request log. */
function harness(name: UpstreamName): Harness & { fake?: FakeUpstream } {
  const proxy = `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  request_log: { enabled: true, log_bodies: true, body_max_kb: 2048, flush_ms: 50 }\n`;
  let fake: FakeUpstream | undefined;
  let upstream: Parameters<typeof upstreamsYaml>[0][number];
  let model = "scripted-model";
  if (name === "openai") {
    // OpenAI's own API: Codex's requests are forwarded as they are, not translated.
    fake = fakeOpenAI("sk-fake-openai");
    upstream = {
      name,
      protocol: "openai",
      base_url: `${fake.url}/v1`,
      apis: ALL_OPENAI_APIS,
      accounts: [{ name: "fake", key: "sk-fake-openai" }],
    };
  } else if (name === "gemini") {
    fake = fakeGemini("fake-gemini-key");
    upstream = {
      name,
      protocol: "gemini",
      base_url: fake.url,
      accounts: [{ name: "fake", key: "fake-gemini-key" }],
    };
  } else if (name === "anthropic") {
    fake = fakeAnthropic("sk-fake-anthropic");
    upstream = {
      name,
      protocol: "anthropic",
      base_url: fake.url,
      accounts: [{ name: "fake", key: "sk-fake-anthropic" }],
    };
  } else if (name === "compatible" || name === "deepseek") {
    const provider: CompatibleProvider = name === "compatible" ? "generic" : "deepseek";
    fake = fakeCompatible(`sk-fake-${provider}`, provider);
    // DeepSeek's thinking mode is its -reasoner model; the profile is named, the fake's host being loopback.
    if (name === "deepseek") model = "deepseek-reasoner";
    upstream = {
      name,
      protocol: "openai",
      base_url: `${fake.url}/v1`,
      ...(name === "deepseek" ? { profile: "deepseek" } : {}),
      accounts: [{ name: "fake", key: `sk-fake-${provider}` }],
    };
  } else {
    upstream = { name, protocol: "echo" };
  }
  const gateway = startGateway({
    gateway: proxy + upstreamsYaml([upstream]),
    mappings: `wildcard:\n  "**": ${name}/${model}\n`,
  });
  return {
    gateway,
    fake,
    fakes: fake ? [fake] : [],
    async stop() {
      await gateway.stop();
      await fake?.stop();
    },
  };
}

/**
 * Codex's request bodies as levity's request log has them. Rows are written in batches: wait for
 * every request a passing run makes; after a failed run fewer come, and the assertions say why.
 */
async function loggedBodies(gateway: TestGateway, count: number): Promise<any[]> {
  const rows = () =>
    readRequestDb(join(gateway.dir, "data")).rows.filter(
      (row) => row.route === "/v1/responses" && row.request_body,
    );
  const all = await waitUntil(
    `${count} requests in the log`,
    () => rows().length >= count && rows(),
  ).catch(() => rows());
  return all.map((row) => JSON.parse(row.request_body));
}

const sessions: Session[] = [];
const stops: (() => Promise<void>)[] = [];
const results = new Map<UpstreamName, UpstreamRuns>();
let trap: ReturnType<typeof proxyTrap>;
let started = 0;

async function runUpstream(name: UpstreamName, proxy: string): Promise<void> {
  const h = harness(name);
  stops.push(() => h.stop());
  const open = (options: Parameters<typeof newSession>[1] = {}, origin = h.gateway.origin) => {
    const session = newSession(origin, options);
    sessions.push(session);
    return session;
  };
  // a, b, c and e: one session, each turn a new `codex exec resume` replaying the whole conversation.
  const main = open();
  const plain = await codex(main, proxy, [...EXEC, PLAIN]);
  const shell = await codex(main, proxy, [...RESUME, SHELL]);
  const patch = await codex(main, proxy, [
    ...RESUME,
    name === "echo" ? APPLY_PATCH_ECHO : APPLY_PATCH,
  ]);
  const file = join(main.work, "hello.txt");
  const patchedFile = existsSync(file) ? readFileSync(file, "utf8") : undefined;
  // d: thinking shown (a summary asked for), then kept through a tool loop with Codex's default of no summary.
  const shownSession = open({ effort: "high", summary: "detailed" });
  const shown = [
    await codex(shownSession, proxy, [...EXEC, PLAIN]),
    await codex(shownSession, proxy, [...RESUME, SHELL]),
  ];
  const keptSession = open({ effort: "high" });
  const kept = [
    await codex(keptSession, proxy, [...EXEC, PLAIN]),
    await codex(keptSession, proxy, [...RESUME, SHELL]),
  ];
  // e over Codex's WebSocket transport, through a relay that keeps what Codex sends on it.
  const relay: WsRelay = wsRelay(h.gateway.origin);
  stops.push(() => relay.stop());
  const ws = await codex(open({ effort: "high", websockets: true }, relay.origin), proxy, [
    ...EXEC,
    SHELL,
  ]);
  // plain 1, shell 2, patch 2, shown 1 + 2, kept 1 + 2, and the WebSocket turn's 2.
  const bodies = await loggedBodies(h.gateway, 13);
  results.set(name, {
    plain,
    shell,
    patch,
    patchedFile,
    shown,
    kept,
    keptWork: keptSession.work,
    ws,
    wsSent: [...relay.sent],
    wsConnections: relay.connections(),
    bodies,
    fake: h.fake,
  });
}

const explain = (run: Run) =>
  `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr.slice(-4000)}`;

function expectRun(
  run: Run,
  pattern: string | RegExp,
  where: "stdout" | "stderr" = "stdout",
): void {
  const text = where === "stdout" ? run.stdout : run.stderr;
  const ok =
    run.code === 0 && (typeof pattern === "string" ? text.includes(pattern) : pattern.test(text));
  if (!ok)
    throw new Error(`codex did not finish with ${pattern} in its ${where}:\n${explain(run)}`);
}

const inputItems = (body: any): any[] => (Array.isArray(body.input) ? body.input : []);

describe.skipIf(!CODEX)("the Codex CLI through levity", () => {
  beforeAll(async () => {
    trap = proxyTrap();
    const proxy = await trap.url;
    started = performance.now();
    // The upstreams share nothing: their sessions run side by side.
    await Promise.all(UPSTREAMS.map((name) => runUpstream(name, proxy)));
    console.log(
      `codex-matrix: ${UPSTREAMS.length} upstreams, ${UPSTREAMS.length * 8} codex runs in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await trap?.stop();
    for (const session of sessions) {
      rmSync(session.home, { recursive: true, force: true });
      rmSync(session.work, { recursive: true, force: true });
    }
  });

  test("Codex reaches for nothing outside loopback", () => {
    expect(trap.asked).toEqual([]);
  });

  for (const name of UPSTREAMS) {
    describe(name, () => {
      const runs = () => results.get(name)!;

      test("a. a plain prompt", () => {
        expectRun(runs().plain, "codex-ok");
      });

      test("b. a turn that calls the shell tool and answers with its output", () => {
        expectRun(runs().shell, TOOL_RAN);
        // Codex ran it itself: its transcript shows the command and its output.
        expectRun(runs().shell, /printf tool-ran-%d 42[\s\S]*succeeded/, "stderr");
      });

      test("c. a turn that calls the freeform apply_patch tool, which creates the file", () => {
        expectRun(runs().patch, "A hello.txt");
        expect(runs().patchedFile).toBe("hi\n");
        // Codex got a custom_tool_call whose input is the patch, and sent back its output.
        const last = runs()
          .bodies.filter((body) =>
            inputItems(body).some((item) => item.type === "custom_tool_call"),
          )
          .at(-1);
        const call = inputItems(last).find((item) => item.type === "custom_tool_call");
        expect(call).toMatchObject({ name: "apply_patch", input: PATCH });
        expect(
          inputItems(last).find((item) => item.type === "custom_tool_call_output"),
        ).toMatchObject({ call_id: call.call_id });
        const tool = last.tools.find((t: any) => t.name === "apply_patch");
        expect(tool.type).toBe("custom");
      });

      test("d. reasoning: thinking asked for with model_reasoning_effort is shown, and kept through a tool loop", () => {
        const [shown, shownTool] = runs().shown;
        expectRun(shown!, "codex-ok");
        expectRun(shown!, THOUGHT[name], "stderr");
        expectRun(shownTool!, TOOL_RAN);
        const [kept, keptTool] = runs().kept;
        expectRun(kept!, "codex-ok");
        expectRun(keptTool!, TOOL_RAN);
        // With no summary asked for, Codex shows no thinking: it only carries it. (The OpenAI fake summarises unasked.)
        if (name !== "openai") expect(kept!.stderr).not.toContain(THOUGHT[name]);
        const effortBodies = runs().bodies.filter((body) => body.reasoning?.effort === "high");
        expect(effortBodies.length).toBeGreaterThan(0);
        // What the upstream got in that tool loop: the thinking it gave, whole, where it needs it back.
        const loop = (runs().fake?.requests ?? [])
          .filter((r) => r.text.includes(runs().keptWork))
          .map((r) => r.json)
          .at(-1);
        if (name === "anthropic") {
          // Anthropic checks thinking against its signature, and wants it first in the tool loop's turn.
          expect(loop.thinking?.type).toBe("enabled");
          const turn = loop.messages.findLast((m: any) => m.role === "assistant");
          expect(turn.content[0]).toMatchObject({
            type: "thinking",
            thinking: expect.stringContaining(THOUGHT[name]),
          });
        }
        if (name === "deepseek") {
          // DeepSeek refuses a tool-calling turn sent back without its reasoning_content.
          const turn = loop.messages.findLast((m: any) => m.role === "assistant" && m.tool_calls);
          expect(turn.reasoning_content).toContain(THOUGHT[name]);
        }
        if (name === "anthropic" || name === "echo") {
          // Signed thinking goes out as encrypted_content, its signature and text together, and comes back in Codex's next request.
          const replayed = effortBodies
            .flatMap(inputItems)
            .filter((item) => item.type === "reasoning");
          expect(replayed.length).toBeGreaterThan(0);
          for (const item of replayed) {
            expect(item.encrypted_content).toStartWith("lv2.");
            const carried = JSON.parse(
              Buffer.from(String(item.encrypted_content).slice(4), "base64url").toString(),
            );
            // Issued by this upstream (then its account group and model family).
            expect(carried).toMatchObject({
              i: expect.stringMatching(new RegExp(`^${name}\\|`)),
              v: expect.any(String),
              t: expect.stringMatching(/\S/),
            });
          }
        }
      });

      test("e. multi-turn: each resumed turn replays the whole conversation with store: false", () => {
        const http = runs().bodies;
        for (const body of http) {
          expect(body.store).toBe(false);
          expect(body.include).toContain("reasoning.encrypted_content");
          expect(body.previous_response_id).toBeUndefined();
        }
        // The patch turn's request holds the first turn's answer and the shell turn's call and output.
        const patchTurn = http.find((body) =>
          inputItems(body).some((item) => item.type === "custom_tool_call"),
        )!;
        const items = inputItems(patchTurn);
        expect(
          items.some(
            (item) =>
              item.type === "message" &&
              item.role === "assistant" &&
              JSON.stringify(item.content).includes("codex-ok"),
          ),
        ).toBe(true);
        expect(
          items.some((item) => item.type === "function_call" && item.name === "exec_command"),
        ).toBe(true);
        expect(
          items.some(
            (item) =>
              item.type === "function_call_output" && String(item.output).includes(TOOL_RAN),
          ),
        ).toBe(true);
      });

      test("e. over Codex's WebSocket transport: the tool loop continues with previous_response_id", () => {
        expectRun(runs().ws, TOOL_RAN);
        expect(runs().wsConnections).toBeGreaterThan(0);
        const creates = runs()
          .wsSent.map((text) => JSON.parse(text))
          .filter((message) => message.type === "response.create" && message.generate !== false);
        expect(creates.length).toBeGreaterThanOrEqual(2);
        const continued = creates.at(-1);
        expect(typeof continued.previous_response_id).toBe("string");
        expect(inputItems(continued).map((item) => item.type)).toEqual(["function_call_output"]);
      });
    });
  }
});
