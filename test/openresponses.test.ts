import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ANTHROPIC_MODELS, fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeCompatible } from "./support/fake-compatible.ts";
import { fakeGemini, GEMINI_MODELS } from "./support/fake-gemini.ts";
import { fakeOpenAI, OPENAI_MODELS } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { rawRequest } from "./support/raw-client.ts";
import {
  ALL_OPENAI_APIS,
  REPO,
  startGateway,
  tempDir,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";

/*
 * The Open Responses compliance suite (a third-party tool in ../shared, run as it is, never
 * copied) against a live levity, once per upstream kind: the built-in echo, and Gemini,
 * Anthropic and a chat-only OpenAI-compatible provider through their fakes, so the Responses
 * dialect is proven over translation; and OpenAI itself, whose Responses API levity forwards
 * as it is (the fake's answers are then the ones judged, so they must be OpenAI's own shape).
 *
 * It needs no network: run.sh installs zod into $XDG_CACHE_HOME/openresponses-suite unless it
 * finds it there, so that folder's node_modules is a link to the repo's own (zod is an exact
 * devDependency). CI puts shared/ beside the clone; without it this fails, unless
 * LEVITY_SKIP_OPENRESPONSES=1 says to skip.
 */

const SUITE = resolve(REPO, "../shared/conformance/openresponses");
const SKIP = process.env.LEVITY_SKIP_OPENRESPONSES === "1";

/**
 * Suite tests an upstream cannot pass for a reason that is the upstream's, not levity's.
 * echo + tool-calling: the suite asks "What's the weather like in San Francisco?" and expects the
 * model to decide by itself to call get_weather. echo calls a tool only when the user names it
 * (or says "use the tool"), by design, so it answers with text; the fakes' scripted model does
 * decide to call it, and they prove levity renders the call.
 */
const UPSTREAM_LIMITS: Record<string, Record<string, string>> = {
  echo: { "tool-calling": "echo calls only the tools the user names" },
};

const KEYS = {
  anthropic: "sk-an-openresponses",
  gemini: "ge-openresponses",
  chat: "sk-chat-openresponses",
  openai: "sk-openai-openresponses",
};
let an: FakeUpstream;
let ge: FakeUpstream;
let chat: FakeUpstream;
let openai: FakeUpstream;
let gw: TestGateway;
let cache: string;

interface SuiteResult {
  id: string;
  status: "passed" | "failed" | "skipped";
  errors?: string[];
}

/** Runs the suite as its README says, with the same bun as this test, and returns its JSON report. */
async function runSuite(model: string): Promise<SuiteResult[]> {
  const proc = Bun.spawn(
    [
      join(SUITE, "run.sh"),
      "--base-url",
      `${gw.origin}/v1`,
      "--model",
      model,
      "--api-key",
      "sk-unused-by-levity",
      "--json",
    ],
    {
      cwd: REPO,
      env: {
        ...process.env,
        XDG_CACHE_HOME: cache,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  try {
    const [stdout, stderr] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    await proc.exited;
    const start = stdout.indexOf("{");
    if (start < 0)
      throw new Error(`the suite printed no report (exit ${proc.exitCode}):\n${stdout}\n${stderr}`);
    return (JSON.parse(stdout.slice(start)) as { results: SuiteResult[] }).results;
  } finally {
    proc.kill();
  }
}

beforeAll(() => {
  if (!existsSync(join(SUITE, "run.sh"))) {
    if (SKIP) return;
    throw new Error(
      `The Open Responses compliance suite is not at ${SUITE}: put shared/ beside the clone, or set LEVITY_SKIP_OPENRESPONSES=1 to skip these tests.`,
    );
  }
  if (!existsSync(join(REPO, "node_modules/zod/package.json")))
    throw new Error(
      "zod is not installed: run npm install (it is a devDependency the suite needs).",
    );
  cache = tempDir("levity-openresponses-cache-");
  mkdirSync(join(cache, "openresponses-suite"));
  symlinkSync(join(REPO, "node_modules"), join(cache, "openresponses-suite/node_modules"));
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini(KEYS.gemini);
  chat = fakeCompatible(KEYS.chat);
  openai = fakeOpenAI(KEYS.openai);
  const gateway = upstreamsYaml([
    { name: "echo", protocol: "echo" },
    {
      name: "anthropic",
      protocol: "anthropic",
      base_url: an.url,
      accounts: [{ name: "a", key: KEYS.anthropic }],
    },
    {
      name: "gemini",
      protocol: "gemini",
      base_url: ge.url,
      accounts: [{ name: "a", key: KEYS.gemini }],
    },
    // An OpenAI-compatible server on an unknown host serves chat only: Responses reach it translated.
    {
      name: "chat-only",
      protocol: "openai",
      base_url: `${chat.url}/v1`,
      accounts: [{ name: "a", key: KEYS.chat }],
    },
    // OpenAI itself: Responses (compaction included) are forwarded to it as they are.
    {
      name: "openai",
      protocol: "openai",
      base_url: `${openai.url}/v1`,
      apis: ALL_OPENAI_APIS,
      accounts: [{ name: "a", key: KEYS.openai }],
    },
  ]);
  const mappings = `exact:\n  via-echo: echo/echo\n  via-anthropic: anthropic/${ANTHROPIC_MODELS[0]}\n  via-gemini: gemini/${GEMINI_MODELS[0]}\n  via-chat-only: chat-only/chat-model\n  via-openai: openai/${OPENAI_MODELS[0]}\n`;
  gw = startGateway({ gateway, mappings });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([an?.stop(), ge?.stop(), chat?.stop(), openai?.stop()]);
  if (cache) rmSync(cache, { recursive: true, force: true });
});

/** The suite's tests, by id: a suite that gains or loses one makes this file say so. */
const SUITE_TESTS = [
  "basic-response",
  "assistant-phase",
  "response-output-phase-schema",
  "streaming-response",
  "websocket-response",
  "websocket-sequential-responses",
  "websocket-continuation",
  "websocket-reconnect-store-false-recovery",
  "websocket-previous-response-not-found",
  "websocket-failed-continuation-evicts-cache",
  "websocket-compact-new-chain",
  "system-prompt",
  "tool-calling",
  "image-input",
  "multi-turn",
  "compact-response",
  "compact-missing-model",
];

// One suite run per upstream, shared by that upstream's tests; runs go one after another.
const runs = new Map<string, Promise<SuiteResult[]>>();
let queue: Promise<unknown> = Promise.resolve();
function resultsFor(upstream: string): Promise<SuiteResult[]> {
  let run = runs.get(upstream);
  if (!run) {
    run = queue.then(() => runSuite(`via-${upstream}`));
    queue = run.catch(() => {});
    runs.set(upstream, run);
  }
  return run;
}

const present = existsSync(join(SUITE, "run.sh"));
describe.skipIf(SKIP && !present)("the Open Responses compliance suite", () => {
  for (const upstream of ["echo", "gemini", "anthropic", "chat-only", "openai"]) {
    describe(`through the ${upstream} upstream`, () => {
      test("runs the tests this file knows", async () => {
        expect((await resultsFor(upstream)).map((r) => r.id).sort()).toEqual(
          [...SUITE_TESTS].sort(),
        );
      }, 120_000);
      for (const id of SUITE_TESTS) {
        const limit = UPSTREAM_LIMITS[upstream]?.[id];
        if (limit) {
          test.skip(`${id} (not for this upstream: ${limit})`, () => {});
          continue;
        }
        test(`${id} passes`, async () => {
          const result = (await resultsFor(upstream)).find((r) => r.id === id);
          expect({
            id,
            status: result?.status,
            errors:
              result?.status === "passed" ? [] : (result?.errors ?? ["the suite did not run it"]),
          }).toEqual({ id, status: "passed", errors: [] });
        }, 120_000);
      }
    });
  }
});

/** The pieces of a chunked HTTP body, as the server wrote them. */
function httpChunks(answer: string): string[] {
  let rest = answer.slice(answer.indexOf("\r\n\r\n") + 4);
  const chunks: string[] = [];
  for (let size = parseInt(rest, 16); size > 0; size = parseInt(rest, 16)) {
    const start = rest.indexOf("\r\n") + 2;
    chunks.push(rest.slice(start, start + size));
    rest = rest.slice(start + size + 2);
  }
  return chunks;
}

// The suite's SSE parser (like some clients') loses an event whose lines arrive in two reads, so
// levity writes each event whole: every chunk of the HTTP body holds whole events, never part of one.
test.skipIf(SKIP && !present)("each streamed event is written whole", async () => {
  const input = Array.from({ length: 50 }, (_, i) => `word${i}`).join(" ");
  const body = JSON.stringify({ model: "via-echo", input, stream: true });
  const { status, text } = await rawRequest(
    Number(new URL(gw.origin).port),
    `POST /v1/responses HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  expect(status).toBe(200);
  const chunks = httpChunks(text);
  // A stream event's text is written at once (stream-render.ts): the item's done events and
  // response.completed share the last chunk, which ends with response.completed.
  expect(chunks.at(-1)).toMatch(/(^|\n\n)event: response\.completed\ndata: [^\n]+\n\n$/);
  // Several whole events may share a chunk; none may be cut.
  expect(chunks.filter((chunk) => !/^(event: [a-z_.]+\ndata: [^\n]+\n\n)+$/.test(chunk))).toEqual(
    [],
  );
});
