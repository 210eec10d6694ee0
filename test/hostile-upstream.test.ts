import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "node:net";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { AccountPool } from "../src/pool/pool.ts";
import type { Account, Upstream } from "../src/config/snapshot.ts";
import type { AccountRecord, StateStore } from "../src/state/store.ts";
import { resetAccounts, startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import {
  answerWell,
  BLOCK_START,
  chatAnswer,
  chunk,
  MESSAGE_START,
  OPENAI_TAIL,
  textDelta,
} from "./support/raw-answers.ts";
import {
  httpResponse,
  rawUpstream,
  SSE_HEAD,
  sseChunk,
  type RawRequest,
  type RawUpstream,
} from "./support/raw-upstream.ts";
import { createHash } from "node:crypto";

/*
 * Upstreams that try to exhaust levity's memory or poison its state: a gzip bomb, a body that
 * never ends, keep-alive comments for ever before any content, one line without an end, a
 * translated stream that never finishes, and cooldown hints of absurd length. Account a of each
 * upstream misbehaves as the test scripts; account b answers properly, so a failure before the
 * commit point is retried there. The limits are set low (1 MB) to keep the tests fast; while each
 * runs, /healthz must answer within 100 ms and the process's RSS (the gateway runs in this
 * process) must grow by less than RSS_BOUND_MB.
 */

const KEY_A = "sk-hostile-aaaa-0001";
const KEY_B = "sk-hostile-bbbb-0002";
const MB = 1024 * 1024;
/** Growth of this process's resident memory allowed while one hostile answer is served. */
const RSS_BOUND_MB = 64;
const HEALTHZ_BOUND_MS = 100;
/** The longest cooldown an upstream's hint may set. */
const MAX_HINT_MS = 24 * 3_600_000;

let raw: RawUpstream;
let gw: TestGateway;
/** What account a's requests get in the current test (and b's too, when `both` is set). */
let fault: (request: RawRequest, socket: Socket) => void = () => {};
let both = false;

/**
 * Writes what `next` makes for as long as the socket is open (at the reader's pace), up to
 * `atMost` bytes: far past every limit, but an end, should a limit not hold.
 */
function pour(socket: Socket, next: () => string, atMost = 1024 * MB): void {
  let sent = 0;
  const write = (): void => {
    while (!socket.destroyed && sent < atMost) {
      const text = next();
      sent += text.length;
      if (!socket.write(text)) {
        socket.once("drain", write);
        return;
      }
    }
  };
  write();
}

function rssMb(): number {
  const line = readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+) kB/);
  return Number(line?.[1] ?? 0) / 1024;
}

interface Watched<T> {
  result: T;
  worstHealthzMs: number;
  rssGrowthMb: number;
}

/** Runs `work` while polling /healthz and sampling RSS: the slowest health answer and the peak growth. */
async function watched<T>(work: () => Promise<T>): Promise<Watched<T>> {
  Bun.gc(true);
  const before = rssMb();
  let peak = before;
  let worst = 0;
  let done = false;
  const poller = (async () => {
    while (!done) {
      const started = performance.now();
      const response = await fetch(`${gw.origin}/healthz`);
      await response.arrayBuffer();
      worst = Math.max(worst, performance.now() - started);
      peak = Math.max(peak, rssMb());
      // A pace for the poll, not a wait for an event.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    const result = await work();
    peak = Math.max(peak, rssMb());
    console.log(
      `  /healthz at worst ${worst.toFixed(1)} ms, RSS +${(peak - before).toFixed(1)} MB`,
    );
    return { result, worstHealthzMs: worst, rssGrowthMb: peak - before };
  } finally {
    done = true;
    await poller;
  }
}

function expectHealthy(run: Watched<unknown>): void {
  expect(run.worstHealthzMs).toBeLessThan(HEALTHZ_BOUND_MS);
  expect(run.rssGrowthMb).toBeLessThan(RSS_BOUND_MB);
}

async function chat(model: string, stream: boolean): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: response.status, text: await response.text() };
}

const logged = (needle: string) => gw.log.lines.some((line) => line.includes(needle));

let bomb: Buffer;

beforeAll(async () => {
  // 256 MB of zeros: about 250 KB of gzip, 256 times the 1 MB limit.
  bomb = gzipSync(Buffer.alloc(256 * MB), { level: 9 });
  raw = await rawUpstream((request, socket) => {
    const key =
      request.headers.authorization?.replace("Bearer ", "") ?? request.headers["x-api-key"];
    if (key === KEY_A || both) fault(request, socket);
    else answerWell(request, socket);
  });
  const accounts = [
    { name: "a", key: KEY_A },
    { name: "b", key: KEY_B },
  ];
  const yaml = upstreamsYaml([
    { name: "hostile", protocol: "openai", base_url: `${raw.url}/v1`, accounts },
    { name: "hostan", protocol: "anthropic", base_url: raw.url, accounts },
  ]).replace(
    /( {4}protocol: \w+\n)/g,
    "$1    strategy: fill_first\n    timeouts: { idle: 5, total: 20 }\n",
  );
  const limits = "  upstream_limits: { body_mb: 1, held_mb: 1, event_mb: 1, answer_mb: 1 }\n";
  gw = startGateway({
    gateway: `proxy:\n  auth_mode: off\n  cooldown_wait: 0\n${limits}${yaml}`,
    mappings: "exact:\n  m: hostile/m\n  claude-m: hostan/m\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await raw.stop();
});
afterEach(async () => {
  fault = () => {};
  both = false;
  await resetAccounts(gw.origin);
});

describe("an upstream that would exhaust memory", () => {
  test("a gzip bomb as a whole answer is refused at the limit on its decoded size, and the next account answers", async () => {
    fault = (_request, socket) => {
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${bomb.length}\r\n\r\n`,
      );
      socket.write(bomb);
    };
    const run = await watched(() => chat("m", false));
    expect(run.result.status).toBe(200);
    expect(JSON.parse(run.result.text).choices[0].message.content).toBe("fine");
    expect(logged("proxy.upstream_limits.body_mb")).toBe(true);
    expectHealthy(run);
  });

  test("levity asks for the encodings it undoes itself: gzip for a whole answer, none for a stream", async () => {
    const seen: string[] = [];
    both = true;
    fault = (request, socket) => {
      seen.push(
        `${JSON.parse(request.body).stream ? "stream" : "whole"}: ${request.headers["accept-encoding"]}`,
      );
      answerWell(request, socket);
    };
    expect((await chat("m", false)).status).toBe(200);
    expect((await chat("m", true)).status).toBe(200);
    expect(seen).toEqual(["whole: gzip", "stream: identity"]);
  });

  test("a gzipped answer within the limit is read", async () => {
    fault = (_request, socket) => {
      const body = gzipSync(chatAnswer("unzipped"));
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      socket.write(body);
    };
    const { status, text } = await chat("m", false);
    expect(status).toBe(200);
    expect(JSON.parse(text).choices[0].message.content).toBe("unzipped");
  });

  test("a stream compressed although levity asked for none is decoded as it is read", async () => {
    fault = (_request, socket) => {
      const body = gzipSync(
        [chunk({ role: "assistant", content: "zipped" }), ...OPENAI_TAIL].join(""),
      );
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      socket.write(body);
    };
    const { status, text } = await chat("m", true);
    expect(status).toBe(200);
    expect(text).toContain('"content":"zipped"');
    expect(text).toContain("data: [DONE]");
  });

  test("a compressed stream that inflates to comments for ever is cut at the limit on held bytes, and the next account answers", async () => {
    // 64 MB of keep-alive comments in about 64 KB of gzip.
    const comments = gzipSync(Buffer.from(`: ${"k".repeat(1022)}\n\n`.repeat(64 * 1024)), {
      level: 9,
    });
    fault = (_request, socket) => {
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\ncontent-length: ${comments.length}\r\n\r\n`,
      );
      socket.write(comments);
    };
    const run = await watched(() => chat("m", true));
    expect(run.result.status).toBe(200);
    expect(run.result.text).toContain('"content":"fine"');
    expect(logged("proxy.upstream_limits.held_mb")).toBe(true);
    expectHealthy(run);
  });

  test("a whole body that never ends is cut at the limit; when every account does it, the client gets a clear 502 in its dialect", async () => {
    both = true;
    fault = (_request, socket) => {
      socket.write(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
      );
      socket.write(sseChunk('{"choices":[{"message":{"content":"'));
      const piece = sseChunk("a".repeat(64 * 1024));
      pour(socket, () => piece);
    };
    const run = await watched(() => chat("m", false));
    expect(run.result.status).toBe(502);
    const error = JSON.parse(run.result.text).error;
    expect(error.message).toContain("proxy.upstream_limits.body_mb");
    expectHealthy(run);
  });

  test("keep-alive comments for ever before any content are cut at the limit on held bytes, and the next account answers", async () => {
    fault = (_request, socket) => {
      socket.write(SSE_HEAD);
      const piece = sseChunk(`: ${"k".repeat(16 * 1024)}\n\n`);
      pour(socket, () => piece);
    };
    const run = await watched(() => chat("m", true));
    expect(run.result.status).toBe(200);
    expect(run.result.text).toContain('"content":"fine"');
    expect(run.result.text).not.toContain("kkkk");
    expect(logged("proxy.upstream_limits.held_mb")).toBe(true);
    expectHealthy(run);
  });

  test("one SSE line that never ends is cut at the limit on one event, and the next account answers", async () => {
    fault = (_request, socket) => {
      socket.write(
        SSE_HEAD +
          sseChunk(MESSAGE_START + BLOCK_START) +
          sseChunk(
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"',
          ),
      );
      const piece = sseChunk("x".repeat(64 * 1024));
      pour(socket, () => piece);
    };
    // An OpenAI client of an Anthropic upstream: the translated path's SSE reader.
    const run = await watched(() => chat("claude-m", true));
    expect(run.result.status).toBe(200);
    expect(run.result.text).toContain('"content":"fine"');
    expect(logged("proxy.upstream_limits.event_mb")).toBe(true);
    expectHealthy(run);
  });

  test("a translated stream that never finishes ends at the limit on the assembled answer, with an error event", async () => {
    both = true;
    fault = (_request, socket) => {
      socket.write(SSE_HEAD + sseChunk(MESSAGE_START + BLOCK_START));
      const piece = sseChunk(textDelta("y".repeat(8 * 1024)));
      pour(socket, () => piece);
    };
    const run = await watched(() => chat("claude-m", true));
    expect(run.result.status).toBe(200);
    const lines = run.result.text.split("\n").filter((line) => line.startsWith("data: {"));
    const last = JSON.parse(lines.at(-1)!.slice(6));
    expect(last.error.message).toContain("proxy.upstream_limits.answer_mb");
    // About the limit's worth of text reached the client before the error, not more.
    expect(run.result.text.length).toBeLessThan(4 * MB);
    expectHealthy(run);
  });
});

describe("absurd cooldown hints", () => {
  async function coolWith(header: string): Promise<void> {
    fault = (_request, socket) =>
      socket.write(
        httpResponse(
          429,
          JSON.stringify({ error: { message: "slow down", type: "rate_limit" } }),
          "application/json",
          `${header}\r\n`,
        ),
      );
    const run = await watched(() => chat("m", false));
    expect(run.result.status).toBe(200);
    const accounts = await fetch(`${gw.origin}/levity/accounts`);
    expect(accounts.status).toBe(200);
    const view = (await accounts.json()) as
      | {
          upstream: string;
          account: string;
          state: string;
          modelCooldowns: Record<string, string>;
        }[]
      | {
          accounts: {
            upstream: string;
            account: string;
            state: string;
            modelCooldowns: Record<string, string>;
          }[];
        };
    const list = Array.isArray(view) ? view : view.accounts;
    const a = list.find((entry) => entry.upstream === "hostile" && entry.account === "a")!;
    expect(a.state).toBe("cooling");
    const until = Date.parse(a.modelCooldowns.m!);
    expect(until).toBeGreaterThan(Date.now() + MAX_HINT_MS - 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + MAX_HINT_MS);
    const metrics = await fetch(`${gw.origin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('levity_accounts{upstream="hostile",state="cooling"} 1');
    expectHealthy(run);
  }

  test("Retry-After: 1e13 seconds cools the account for 24 hours at most; the views and /metrics answer 200", () =>
    coolWith("retry-after: 10000000000000"));
  test("retry-after-ms: 1e300 likewise", () => coolWith("retry-after-ms: 1e300"));

  test("an absurd cooldown an older levity saved is cut to 24 hours when loaded", () => {
    const now = Date.now();
    const key = "sk-saved-cccc-0003";
    const record: AccountRecord = {
      upstream: "u",
      account: "c",
      keyDigest: createHash("sha256").update(key).digest("hex"),
      cooldownUntil: now + 1e16,
      modelCooldowns: { m: 8.64e15 + 1, n: now + 1e13 * 1000 },
      consecutiveFailures: 1,
    };
    const store = { accounts: () => [record], saveAccount: () => {} } as unknown as StateStore;
    const pool = new AccountPool(store, { accountChanged() {} }, { now: () => now });
    const account: Account = { name: "c", key, weight: 1, serves: () => true };
    const upstream = {
      name: "u",
      protocol: "openai",
      baseUrl: "",
      strategy: "round_robin",
      maxAttempts: 1,
      timeouts: { connect: 1, firstByte: 1, idle: 1, total: 1 },
      accounts: [account],
    } as Upstream;
    const [view] = pool.view([upstream]);
    expect(view!.state).toBe("cooling");
    expect(Date.parse(view!.coolingUntil!)).toBe(now + MAX_HINT_MS);
    expect(Object.values(view!.modelCooldowns).map(Date.parse)).toEqual([
      now + MAX_HINT_MS,
      now + MAX_HINT_MS,
    ]);
  });
});
