import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { upstreamsYaml } from "./support/gateway.ts";
import { serveLevityWith } from "./support/process.ts";
import { rawRequest } from "./support/raw-client.ts";

/*
 * levity as its own process, configured with recognisable secrets, driven through every surface
 * that could leak one; then everything it wrote (its output, its data directory, every answer
 * it gave) is searched for each secret. Also: auth tricks, CORS on the admin surface, and what
 * it listens on.
 */

const CLIENT = "sk-secret-client-7f3a91";
const NAMED = "sk-secret-named-c0ffee";
const ADMIN = "sk-secret-admin-b4d2e8";
const UPSTREAM_A = "sk-secret-upstream-a-5521";
const UPSTREAM_B = "sk-secret-upstream-b-9034";
const TYPO = "sk-secret-client-7f3a9X";
const SECRETS = [CLIENT, NAMED, ADMIN, UPSTREAM_A, UPSTREAM_B, TYPO];

let oa: FakeUpstream;
let gateway: Awaited<ReturnType<typeof serveLevityWith>>;
/** Every byte the gateway answered, for the final search. */
const answered: string[] = [];

beforeAll(async () => {
  oa = fakeOpenAI([UPSTREAM_A, UPSTREAM_B]);
  gateway = await serveLevityWith({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT}\n  admin_key: ${ADMIN}\n  api_keys:\n    - { name: laptop, key: ${NAMED} }\n  cooldown_wait: 0\n  request_log: { log_bodies: true, flush_ms: 50 }\n` +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [
            { name: "a", key: UPSTREAM_A },
            { name: "b", key: UPSTREAM_B },
          ],
        },
      ]).replace("    protocol: openai\n", "    protocol: openai\n    strategy: fill_first\n"),
    mappings: "exact:\n  m: oa/gpt-4o-real\n",
  });
});
afterAll(async () => {
  await gateway.stop();
  await oa.stop();
});

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(gateway.origin + path, init);
  const body = await response.text();
  answered.push(`${response.status} ${JSON.stringify([...response.headers])} ${body}`);
  return new Response(body, { status: response.status, headers: response.headers });
}

/** Exact bytes, for what fetch would normalise away; the answer is kept for the final search. */
async function raw(request: string): Promise<{ status: number; text: string }> {
  const answer = await rawRequest(gateway.port, request);
  answered.push(answer.text);
  return answer;
}

const chatBody = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] });

describe("auth cannot be bypassed", () => {
  const PROTECTED = [
    "GET /levity/status",
    "GET /levity/accounts",
    "GET /levity/logs",
    "GET /levity/usage",
    "POST /levity/reload",
    "POST /levity/accounts/reset",
    "GET /metrics",
    "GET /v1/models",
    "POST /v1/chat/completions",
    "POST /v1/messages",
  ];
  const variants = (path: string) => [
    path,
    `${path}/`,
    path.replace(/\//g, "//"),
    `/v1/..${path}`,
    `/v1/%2e%2e${path}`,
    path.toUpperCase(),
    path.replace("levity", "%6cevity"),
    `${path}?key=${TYPO}`,
    `${path}%00`,
    `${path};.css`,
  ];

  test("no key, or a wrong one, through path tricks and aliases: never a 2xx, never the upstream", async () => {
    const before = oa.requests.length;
    for (const entry of [
      ...PROTECTED,
      "POST /chat/completions",
      "GET /models",
      "POST /v1/v1/chat/completions",
    ]) {
      const [method, path] = entry.split(" ") as [string, string];
      for (const variant of variants(path)) {
        const body = method === "POST" ? chatBody : "";
        const { status } = await raw(
          `${method} ${variant} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        expect(status >= 400 && status < 500, `${method} ${variant} -> ${status}`).toBe(true);
      }
    }
    expect(oa.requests.length).toBe(before);
  });

  test("methods: HEAD, PUT, DELETE, PATCH and TRACE on protected paths get no data", async () => {
    for (const path of ["/levity/status", "/levity/accounts", "/v1/chat/completions", "/metrics"]) {
      for (const method of ["HEAD", "PUT", "DELETE", "PATCH", "TRACE"]) {
        const { status, text } = await raw(
          `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`,
        );
        expect(status >= 400 && status < 500, `${method} ${path} -> ${status}`).toBe(true);
        expect(text).not.toContain('"accounts"');
      }
    }
  });

  test("OPTIONS with a body is a bare preflight: 204, nothing read, nothing forwarded", async () => {
    const before = oa.requests.length;
    const { status, text } = await raw(
      `OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${chatBody.length}\r\n\r\n${chatBody}`,
    );
    expect(status).toBe(204);
    expect(text.slice(text.indexOf("\r\n\r\n") + 4)).toBe("");
    expect(oa.requests.length).toBe(before);
  });

  test("duplicated headers: a wrong key beside a right one is refused; a client key twice is not an admin key", async () => {
    const wrongThenRight = await raw(
      `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TYPO}\r\nAuthorization: Bearer ${CLIENT}\r\n\r\n`,
    );
    expect(wrongThenRight.status).toBe(401);
    const rightThenWrong = await raw(
      `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT}\r\nAuthorization: Bearer ${TYPO}\r\n\r\n`,
    );
    expect(rightThenWrong.status).toBe(401);
    const clientTwice = await raw(
      `GET /levity/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT}\r\nx-api-key: ${CLIENT}\r\n\r\n`,
    );
    expect(clientTwice.status).toBe(401);
  });

  test("a client key never opens the admin surface or the monitor's data; the admin key does", async () => {
    for (const path of ["/levity/status", "/levity/accounts", "/levity/logs", "/levity/usage"]) {
      expect((await call(path, { headers: { authorization: `Bearer ${CLIENT}` } })).status).toBe(
        401,
      );
      expect((await call(path, { headers: { "x-api-key": NAMED } })).status).toBe(401);
      expect((await call(path, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(
        200,
      );
    }
  });
});

describe("CORS", () => {
  test("no other origin may read admin data or the page, even with cors_origins: ['*']", async () => {
    const evil = "https://evil.example";
    const admin = await call("/levity/accounts", {
      headers: { authorization: `Bearer ${ADMIN}`, origin: evil },
    });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await call("/levity/accounts", {
      method: "OPTIONS",
      headers: {
        origin: evil,
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(
      (await call("/ui", { headers: { origin: evil } })).headers.get("access-control-allow-origin"),
    ).toBeNull();
    // The API itself stays open to browser clients, as cors_origins says.
    const api = await call("/v1/models", {
      headers: { authorization: `Bearer ${CLIENT}`, origin: evil },
    });
    expect(api.headers.get("access-control-allow-origin")).toBe(evil);
  });
});

describe("what it listens on", () => {
  test("with allow_lan_access: false, every listening socket of the process is on loopback", () => {
    const pid = gateway.proc.pid;
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode) inodes.add(inode);
      } catch {
        // the descriptor closed while we looked
      }
    }
    const listening: string[] = [];
    // A kernel without IPv6 has no tcp6 table.
    for (const table of ["tcp", "tcp6"].filter((t) => existsSync(`/proc/${pid}/net/${t}`))) {
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        // local_address is fields[1]; st is fields[3] (0A: LISTEN); inode is fields[9].
        if (fields[3] === "0A" && inodes.has(fields[9]!)) listening.push(fields[1]!);
      }
    }
    expect(listening.length).toBeGreaterThan(0);
    const loopback = (address: string) =>
      address.startsWith("0100007F:") || address.startsWith("00000000000000000000000001000000:");
    expect(listening.filter((address) => !loopback(address))).toEqual([]);
  });
});

describe("secrets", () => {
  test("no key appears in anything levity wrote: answers, headers, metrics, the page, its output, its data files", async () => {
    // Traffic through every placement of every client key, and upstream failures that quote the account key.
    const placements: Record<string, string>[] = [
      { authorization: `Bearer ${CLIENT}` },
      { "x-api-key": NAMED },
      { "x-goog-api-key": CLIENT },
    ];
    for (const headers of placements) {
      expect(
        (await call("/v1/chat/completions", { method: "POST", headers, body: chatBody })).status,
      ).toBe(200);
    }
    expect(
      (
        await call(`/v1beta/models/m:generateContent?key=${CLIENT}`, {
          method: "POST",
          body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
        })
      ).status,
    ).toBe(200);
    oa.replyOnce(
      {
        status: 401,
        body: JSON.stringify({
          error: {
            message: `Incorrect API key provided: ${UPSTREAM_A}.`,
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        }),
      },
      UPSTREAM_A,
    );
    oa.replyOnce(
      {
        status: 429,
        body: JSON.stringify({
          error: {
            message: `Rate limit reached for key ${UPSTREAM_B}.`,
            type: "requests",
            param: null,
            code: "rate_limit_exceeded",
          },
        }),
      },
      UPSTREAM_B,
    );
    const failed = await call("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}` },
      body: chatBody,
    });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    await call("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${TYPO}` },
      body: chatBody,
    });
    await call(`/v1/models?key=${TYPO}`);
    await call("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${CLIENT}`, "content-type": "application/json" },
      body: "{broken",
    });
    // Every read-only surface.
    for (const path of [
      "/metrics",
      "/levity/status",
      "/levity/accounts",
      "/levity/logs?limit=500",
      "/levity/usage",
    ])
      await call(path, { headers: { authorization: `Bearer ${ADMIN}` } });
    await call("/ui");
    await call("/healthz");

    await gateway.stop();
    await Promise.all([gateway.stdout.finished, gateway.stderr.finished]);
    const written: [string, string][] = [
      ["stdout", gateway.stdout.text],
      ["stderr", gateway.stderr.text],
      ...answered.map((text, i) => [`answer ${i}`, text] as [string, string]),
    ];
    const walk = (at: string): void => {
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        const path = join(at, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (!/\.yaml$/.test(entry.name))
          written.push([path, readFileSync(path).toString("latin1")]);
      }
    };
    walk(gateway.dir);
    // The search must be able to find something: the log holds the requests, the page its markup.
    expect(
      written.some(([where, text]) => where.endsWith("requests.db") && text.includes("hello")),
    ).toBe(true);
    const leaks = written.flatMap(([where, text]) =>
      SECRETS.filter(
        (secret) => text.includes(secret) || text.includes(encodeURIComponent(secret)),
      ).map((secret) => `${secret} in ${where}`),
    );
    expect(leaks).toEqual([]);
  });
});
