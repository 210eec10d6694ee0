import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";
import { expectErrorShape, type Family } from "./support/error-shape.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { resetAccounts, upstreamsYaml } from "./support/gateway.ts";
import { mulberry32 } from "./support/prng.ts";
import { serveLevityWith } from "./support/process.ts";
import { rawUpstream, type RawRequest, type RawUpstream } from "./support/raw-upstream.ts";

/*
 * The adversarial fuzzer: where test/fuzz.test.ts mutates valid requests at random, this one
 * generates what is expensive on purpose (issue 14): recursive and wide tool schemas, many small
 * turns, many parts, huge single values, many media URLs, and a hostile upstream (compression
 * bombs, bodies that never end, one huge line, absurd retry hints, hostile headers). levity runs
 * as its own process; while each case runs, /healthz is polled and must answer within 100 ms,
 * the case must get an answer in the client's own shape (never a 500), and levity's RSS must stay
 * under the bound the README states. Seeded: LEVITY_ADVERSARIAL_SEED=<n> reproduces a run.
 */

const SEED = Number(process.env.LEVITY_ADVERSARIAL_SEED ?? 20261126);
const HEALTH_LIMIT_MS = 100;
const RSS_BOUND_MB = 600;
const CLIENT_KEY = "sk-adversarial-client";
const ADMIN_KEY = "sk-adversarial-admin";

let gemini: FakeUpstream;
let hostile: RawUpstream;
let levity: Awaited<ReturnType<typeof serveLevityWith>>;
let hostileScript: (request: RawRequest, socket: Socket) => void = (_request, socket) =>
  socket.destroy();

beforeAll(async () => {
  gemini = fakeGemini("gm-adversarial-key");
  hostile = await rawUpstream((request, socket) => hostileScript(request, socket));
  levity = await serveLevityWith(
    {
      gateway:
        `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n  admin_key: ${ADMIN_KEY}\n  cooldown_wait: 0\n  timeouts: { idle: 2, total: 4 }\n` +
        upstreamsYaml([
          { name: "echo", protocol: "echo" },
          {
            name: "gm",
            protocol: "gemini",
            base_url: gemini.url,
            accounts: [{ name: "a", key: "gm-adversarial-key" }],
          },
          {
            name: "bad",
            protocol: "openai",
            base_url: `${hostile.url}/v1`,
            accounts: [{ name: "a", key: "sk-adversarial-upstream" }],
          },
        ]),
      mappings:
        "exact:\n  to-gemini: gm/gemini-2.5-flash-real\n  to-echo: echo/echo\n  to-hostile: bad/m\n",
    },
    // As a service runs it: with the allocator's holes kept, a burst of large bodies peaks higher
    // (BENCHMARKS.md, issue 20, nineteenth session), and the RSS bound must hold for that.
    { ...SERVICE_ENVIRONMENT },
  );
});

afterAll(async () => {
  await levity.stop();
  await gemini.stop();
  await hostile.stop();
});

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** Runs `send` while /healthz is polled; returns the slowest health answer and the peak RSS. */
async function underWatch<T>(
  send: () => Promise<T>,
): Promise<{ result: T; slowestMs: number; peakMb: number }> {
  let running = true;
  let slowestMs = 0;
  let peakMb = 0;
  const poll = (async () => {
    while (running) {
      const started = performance.now();
      await fetch(`${levity.origin}/healthz`);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      peakMb = Math.max(peakMb, rssMb(levity.proc.pid));
      await Bun.sleep(10);
    }
  })();
  try {
    return { result: await send(), slowestMs, peakMb };
  } finally {
    running = false;
    await poll;
  }
}

interface Case {
  name: string;
  family: Family;
  path: string;
  headers?: Record<string, string>;
  /** Built before the watch starts, so the test's own work is not what /healthz waits for. */
  body: string;
  /** Set up the hostile upstream for this case. */
  upstream?: (request: RawRequest, socket: Socket) => void;
}

const openai = (model: string, extra: Record<string, unknown>) =>
  JSON.stringify({ model, ...extra });

/** A schema whose definitions refer to each other, `width` properties each. */
function recursiveSchema(random: () => number): unknown {
  const defs = 1 + Math.floor(random() * 3);
  const width = 2 + Math.floor(random() * 7);
  const $defs: Record<string, unknown> = {};
  for (let d = 0; d < defs; d++) {
    const properties: Record<string, unknown> = {};
    for (let p = 0; p < width; p++)
      properties[`p${p}`] = { $ref: `#/$defs/d${Math.floor(random() * defs)}` };
    $defs[`d${d}`] = { type: "object", properties };
  }
  return { $ref: "#/$defs/d0", $defs };
}

function clientCases(random: () => number): Case[] {
  const tool = (parameters: unknown) => [
    { type: "function", function: { name: "t", description: "a tool", parameters } },
  ];
  const wide = Object.fromEntries(
    Array.from({ length: 5_000 + Math.floor(random() * 15_000) }, (_, i) => [
      `f${i}`,
      { type: "string" },
    ]),
  );
  // Either well within proxy.limits.max_messages (served) or past it (refused before any work).
  const turns =
    random() < 0.5 ? 5_000 + Math.floor(random() * 10_000) : 60_000 + Math.floor(random() * 90_000);
  const parts = 10_000 + Math.floor(random() * 40_000);
  const urls = 30 + Math.floor(random() * 170);
  return [
    {
      name: "a recursive tool schema, to Gemini",
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-gemini", {
        messages: [{ role: "user", content: "hi" }],
        tools: tool(recursiveSchema(random)),
      }),
    },
    {
      name: "a mutually recursive tool schema, to Gemini",
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-gemini", {
        messages: [{ role: "user", content: "hi" }],
        tools: tool(recursiveSchema(random)),
      }),
    },
    {
      name: `a tool schema ${Object.keys(wide).length} properties wide, to Gemini`,
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-gemini", {
        messages: [{ role: "user", content: "hi" }],
        tools: tool({ type: "object", properties: wide }),
      }),
    },
    {
      name: `${turns} consecutive user turns, to Gemini`,
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-gemini", {
        messages: Array.from({ length: turns }, (_, i) => ({ role: "user", content: `m${i}` })),
      }),
    },
    {
      name: `${parts} parts in one Anthropic message, to echo`,
      family: "anthropic",
      path: "/v1/messages",
      headers: { "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "to-echo",
        max_tokens: 10,
        messages: [
          {
            role: "user",
            content: Array.from({ length: parts }, (_, i) => ({ type: "text", text: `p${i}` })),
          },
        ],
      }),
    },
    {
      name: "one 4 MB string, to echo",
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-echo", {
        messages: [{ role: "user", content: "y".repeat(4 * 1024 * 1024) }],
      }),
    },
    {
      name: `${urls} image URLs on loopback, to Gemini`,
      family: "openai",
      path: "/v1/chat/completions",
      body: openai("to-gemini", {
        messages: [
          {
            role: "user",
            content: Array.from({ length: urls }, (_, i) => ({
              type: "image_url",
              image_url: { url: `${levity?.origin ?? "http://127.0.0.1:9"}/levity/status?i=${i}` },
            })),
          },
        ],
      }),
    },
  ];
}

function head(status: number, headers: Record<string, string>): string {
  return `HTTP/1.1 ${status} X\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

function upstreamCases(random: () => number): Case[] {
  const chat = (stream: boolean) =>
    openai("to-hostile", { messages: [{ role: "user", content: "hi" }], stream });
  const bombMb = 64 + Math.floor(random() * 192);
  const bomb = gzipSync(Buffer.alloc(bombMb * 1024 * 1024, 0x20));
  const lineMb = 32 + Math.floor(random() * 32);
  const MEGABYTE_OF_X = Buffer.alloc(1024 * 1024, "x");
  return [
    {
      name: `a gzip body that inflates to ${bombMb} MB`,
      family: "openai",
      path: "/v1/chat/completions",
      body: chat(false),
      upstream: (_r, socket) =>
        socket.end(
          Buffer.concat([
            Buffer.from(
              head(200, {
                "content-type": "application/json",
                "content-encoding": "gzip",
                "content-length": String(bomb.length),
              }),
            ),
            bomb,
          ]),
        ),
    },
    {
      name: "a whole answer that never ends",
      family: "openai",
      path: "/v1/chat/completions",
      body: chat(false),
      upstream: (_r, socket) => {
        socket.write(
          head(200, { "content-type": "application/json", "transfer-encoding": "chunked" }),
        );
        const chunk = `${(64 * 1024).toString(16)}\r\n${"{".repeat(64 * 1024)}\r\n`;
        const timer = setInterval(
          () => (socket.destroyed ? clearInterval(timer) : socket.write(chunk)),
          1,
        );
        socket.on("close", () => clearInterval(timer));
      },
    },
    {
      name: `one SSE line of ${lineMb} MB before any content`,
      family: "openai",
      path: "/v1/chat/completions",
      body: chat(true),
      // Written a megabyte at a time as the socket drains, from one buffer made once: built and
      // written whole, the 33-64 MB string stalled this test process, whose /healthz watch then
      // read that stall (up to 108 ms) as the gateway's.
      upstream: (_r, socket) => {
        const size = lineMb * MEGABYTE_OF_X.length;
        socket.write(
          `${head(200, { "content-type": "text/event-stream", "content-length": String(6 + size) })}data: `,
        );
        let sent = 0;
        const more = () => {
          while (sent < size && !socket.destroyed) {
            sent += MEGABYTE_OF_X.length;
            if (!socket.write(MEGABYTE_OF_X)) return void socket.once("drain", more);
          }
          socket.end();
        };
        more();
      },
    },
    {
      name: "Retry-After: 1e13 and hostile headers on a 429",
      family: "openai",
      path: "/v1/chat/completions",
      body: chat(false),
      upstream: (_r, socket) => {
        const body = JSON.stringify({
          error: {
            message: "slow down",
            type: "requests",
            param: null,
            code: "rate_limit_exceeded",
          },
        });
        socket.end(
          `${head(429, { "content-type": "application/json", "retry-after": "10000000000000", "retry-after-ms": "1e300", "set-cookie": "a=b", "access-control-allow-origin": "*", "content-length": String(body.length) })}${body}`,
        );
      },
    },
  ];
}

describe(`adversarial cases (seed ${SEED})`, () => {
  const random = mulberry32(SEED);
  const cases = [...clientCases(random), ...upstreamCases(random)];
  for (const c of cases) {
    test(c.name, async () => {
      if (c.upstream) hostileScript = c.upstream;
      // Each case meets a healthy account: the one before may have cooled it, as it should.
      await resetAccounts(levity.origin, ADMIN_KEY);
      // Built here, before the watch: a case's body can be megabytes.
      const body = c.name.includes("image URLs")
        ? c.body.replaceAll("http://127.0.0.1:9", levity.origin)
        : c.body;
      const { result, slowestMs, peakMb } = await underWatch(async () => {
        const response = await fetch(`${levity.origin}${c.path}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${CLIENT_KEY}`,
            "x-api-key": CLIENT_KEY,
            "content-type": "application/json",
            ...c.headers,
          },
          body,
        });
        return { status: response.status, text: await response.text() };
      });
      const report = `seed ${SEED}, case "${c.name}": status ${result.status}, slowest /healthz ${slowestMs.toFixed(0)} ms, peak RSS ${peakMb.toFixed(0)} MB`;
      console.log(report);
      expect({ report, status500: result.status === 500 }).toEqual({ report, status500: false });
      if (result.status >= 400) expectErrorShape(c.family, JSON.parse(result.text), result.status);
      expect({ report, healthWithinLimit: slowestMs < HEALTH_LIMIT_MS }).toEqual({
        report,
        healthWithinLimit: true,
      });
      expect({ report, rssWithinBound: peakMb < RSS_BOUND_MB }).toEqual({
        report,
        rssWithinBound: true,
      });
      // The admin views and metrics still answer (an absurd hint once made them 500).
      for (const path of ["/metrics", "/levity/accounts", "/levity/status"]) {
        const view = await fetch(`${levity.origin}${path}`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        expect({ path, status: view.status }).toEqual({ path, status: 200 });
      }
    }, 60_000);
  }
});
