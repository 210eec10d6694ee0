import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { startGateway, tempDir, writeConfig, type TestGateway } from "./support/gateway.ts";
import { runLevity, serveLevityWith } from "./support/process.ts";
import { rawRequest } from "./support/raw-client.ts";

/*
 * DNS rebinding (issue 14, item 4): every path refuses a Host that names levity by an outside
 * name. The admin key (item 7): client keys never open the admin surface; with auth off, only
 * this machine's CLI and levity's own page do. CORS (item 12): /metrics and admin data never
 * carry CORS headers.
 */

const CLIENT = "sk-host-client-1b2c3d";
const ADMIN = "sk-host-admin-9e8f7a";
const PROMPT = "the secret prompt 4d5e";

const READS = [
  "/levity/logs",
  "/levity/accounts",
  "/levity/status",
  "/levity/usage",
  "/ui",
  "/metrics",
  "/v1/models",
  "/healthz",
  "/",
  "/v1beta/models",
];

function get(
  port: number,
  path: string,
  host: string | undefined,
  extra = "",
): Promise<{ status: number; text: string }> {
  const head =
    host === undefined
      ? `GET ${path} HTTP/1.0\r\n`
      : `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`;
  return rawRequest(port, `${head}${extra}\r\n`);
}

/** The body of a raw HTTP/1.1 answer, chunked or not. */
function bodyOf(text: string): string {
  const head = text.indexOf("\r\n\r\n");
  let rest = text.slice(head + 4);
  if (!/transfer-encoding: chunked/i.test(text.slice(0, head))) return rest;
  let body = "";
  for (;;) {
    const line = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return body;
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

describe("auth off (the loopback default): a foreign Host is refused on every path", () => {
  let gw: TestGateway;
  let port: number;
  beforeAll(async () => {
    gw = startGateway({
      gateway:
        "proxy:\n  request_log: { log_bodies: true, flush_ms: 10 }\nupstreams:\n  - { name: echo, protocol: echo }\n",
    });
    port = gw.server.port;
    // Something worth stealing: a logged prompt.
    const answer = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: PROMPT }] }),
    });
    expect(answer.status).toBe(200);
    await answer.text();
  });
  afterAll(() => gw.stop());

  test("GET on every readable path with Host evil.example.com: 421, nothing read, no CORS header", async () => {
    for (const path of READS) {
      const { status, text } = await get(
        port,
        path,
        `evil.example.com:${port}`,
        "Origin: http://evil.example.com\r\n",
      );
      expect(status, path).toBe(421);
      expect(text).not.toContain(PROMPT);
      expect(text).not.toMatch(/"accounts"|echo|<html/i);
      expect(text.toLowerCase()).not.toContain("access-control-allow-origin");
      expect(bodyOf(text)).toContain("proxy.allowed_hosts");
    }
  });

  test("the refusal speaks the path's dialect", async () => {
    const openai = JSON.parse(bodyOf((await get(port, "/v1/models", "evil.example.com")).text));
    expect(openai.error.type).toBe("invalid_request_error");
    const anthropic = JSON.parse(
      bodyOf((await get(port, "/v1/messages", "evil.example.com")).text),
    );
    expect(anthropic.type).toBe("error");
    const gemini = JSON.parse(bodyOf((await get(port, "/v1beta/models", "evil.example.com")).text));
    expect(gemini.error.code).toBe(421);
  });

  test("POST, OPTIONS and a WebSocket upgrade with a foreign Host: 421, nothing reaches the upstream", async () => {
    const chat = JSON.stringify({ model: "m", messages: [{ role: "user", content: "rebound" }] });
    const post = await rawRequest(
      port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: rebind.attacker.test\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\nConnection: close\r\n\r\n${chat}`,
    );
    expect(post.status).toBe(421);
    expect(post.text).not.toContain("rebound");
    const preflight = await rawRequest(
      port,
      "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: rebind.attacker.test\r\nOrigin: http://rebind.attacker.test\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    expect(preflight.status).toBe(421);
    const upgrade = await rawRequest(
      port,
      "GET /v1/responses HTTP/1.1\r\nHost: rebind.attacker.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    expect(upgrade.status).toBe(421);
  });

  test("hosts that are not one host (user info, spaces, two Host headers) are refused", async () => {
    for (const host of [`evil.example.com@127.0.0.1:${port}`, "127.0.0.1 evil", "127.0.0.1/evil"]) {
      expect((await get(port, "/healthz", host)).status, host).toBe(421);
    }
    const twice = await rawRequest(
      port,
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n",
    );
    expect(twice.status).not.toBe(200);
  });

  test("loopback names, and a request with no Host at all (HTTP/1.0, never a browser), are served", async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      "LOCALHOST",
      "localhost.",
      `app.localhost:${port}`,
      "127.9.8.7",
      `[::1]:${port}`,
      "127.0.0.1",
    ]) {
      expect((await get(port, "/healthz", host)).status, host).toBe(200);
    }
    const noHost = await get(port, "/levity/status", undefined);
    expect(noHost.status).toBe(200);
    expect(bodyOf(noHost.text)).toContain('"version"');
  });

  test("without a Host, a URL in the query or a path segment is not taken for the path", async () => {
    // The runtime hands such a request over as a bare path: "://" in it is not where a path starts.
    for (const path of [
      "/no-such-path?next=http://x/healthz",
      "/no-such-path?next=https://x/levity/status",
      "/a://b/healthz",
    ])
      expect((await get(port, path, undefined)).status, path).toBe(404);
    expect((await get(port, "/healthz?next=http://x/no-such-path", undefined)).status).toBe(200);
  });

  test("the machine's own LAN address is not admitted while levity listens on loopback only", async () => {
    expect((await get(port, "/healthz", `${hostname()}:${port}`)).status).toBe(421);
  });
});

describe("proxy.allowed_hosts and LAN mode", () => {
  test("a name listed in allowed_hosts, or under a listed *.domain, is served; others are not", async () => {
    const gw = startGateway({
      gateway: 'proxy:\n  allowed_hosts: [levity.example.test, "*.corp.test"]\n',
    });
    try {
      const port = gw.server.port;
      expect((await get(port, "/levity/status", `levity.example.test:${port}`)).status).toBe(200);
      expect((await get(port, "/healthz", "LEVITY.example.test")).status).toBe(200);
      expect((await get(port, "/healthz", "gw.corp.test")).status).toBe(200);
      expect((await get(port, "/healthz", "corp.test")).status).toBe(421);
      expect((await get(port, "/healthz", "levity.example.test.evil.test")).status).toBe(421);
    } finally {
      await gw.stop();
    }
  });

  test("allowed_hosts must be host names: a URL is a config problem", async () => {
    const dir = tempDir();
    try {
      writeConfig(dir, { gateway: "proxy:\n  allowed_hosts: [http://levity.example.test]\n" });
      const bad = await runLevity(["check", "--config", dir], { cwd: dir });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr + bad.stdout).toContain("allowed_hosts");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("with allow_lan_access, the machine's own addresses and name are served, a foreign name is not", async () => {
    const gw = startGateway({
      gateway: `proxy:\n  allow_lan_access: true\n  api_key: ${CLIENT}\n`,
    });
    try {
      const port = gw.server.port;
      const own = Object.values(networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((a) => !a.internal && a.family === "IPv4")
        .map((a) => a.address);
      for (const host of [...own.slice(0, 2), hostname()])
        expect((await get(port, "/healthz", `${host}:${port}`)).status, host).toBe(200);
      expect((await get(port, "/healthz", `evil.example.com:${port}`)).status).toBe(421);
    } finally {
      await gw.stop();
    }
  });
});

describe("the admin key", () => {
  test("auth on, no admin_key: client keys never open the admin surface, and the refusal says to add proxy.admin_key", async () => {
    const gw = startGateway({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT}\n  api_keys: [{ name: laptop, key: ${CLIENT}-b }]\n`,
    });
    try {
      for (const key of [CLIENT, `${CLIENT}-b`, undefined]) {
        for (const path of [
          "/levity/status",
          "/levity/accounts",
          "/levity/logs",
          "/levity/usage",
        ]) {
          const response = await fetch(gw.origin + path, {
            headers: key ? { authorization: `Bearer ${key}` } : {},
          });
          expect(response.status, `${path} ${key}`).toBe(403);
          const body = (await response.json()) as { error: { message: string } };
          expect(body.error.message).toContain("proxy.admin_key");
          expect(body.error.message).toContain("levity init");
        }
        const reset = await fetch(`${gw.origin}/levity/accounts/reset`, {
          method: "POST",
          headers: key ? { authorization: `Bearer ${key}` } : {},
        });
        expect(reset.status).toBe(403);
        await reset.text();
      }
      // The API and /metrics still take the client key.
      const metrics = await fetch(`${gw.origin}/metrics`, {
        headers: { authorization: `Bearer ${CLIENT}` },
      });
      expect(metrics.status).toBe(200);
      await metrics.text();
    } finally {
      await gw.stop();
    }
  });

  test("with an admin_key, only it opens the admin surface", async () => {
    const gw = startGateway({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT}\n  admin_key: ${ADMIN}\n`,
    });
    try {
      const client = await fetch(`${gw.origin}/levity/accounts`, {
        headers: { authorization: `Bearer ${CLIENT}` },
      });
      expect(client.status).toBe(401);
      await client.text();
      const admin = await fetch(`${gw.origin}/levity/accounts`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(admin.status).toBe(200);
      await admin.text();
    } finally {
      await gw.stop();
    }
  });

  test("auth off, no admin_key: this machine without Origin, or levity's own page, and no other web page", async () => {
    const gw = startGateway({ gateway: "upstreams:\n  - { name: echo, protocol: echo }\n" });
    try {
      const plain = await fetch(`${gw.origin}/levity/accounts`);
      expect(plain.status).toBe(200);
      await plain.text();
      const own = await fetch(`${gw.origin}/levity/accounts`, { headers: { origin: gw.origin } });
      expect(own.status).toBe(200);
      await own.text();
      // The monitor page's buttons: a browser sends Origin on a same-origin POST.
      const ownPost = await fetch(`${gw.origin}/levity/accounts/reset`, {
        method: "POST",
        headers: { origin: gw.origin },
      });
      expect(ownPost.status).toBe(200);
      await ownPost.text();
      const otherPost = await fetch(`${gw.origin}/levity/accounts/reset`, {
        method: "POST",
        headers: { origin: `http://127.0.0.1:${gw.server.port + 1}` },
      });
      expect(otherPost.status).toBe(403);
      await otherPost.text();
      for (const origin of [
        "http://evil.example.com",
        `http://localhost:${gw.server.port + 1}`,
        "null",
      ]) {
        const other = await fetch(`${gw.origin}/levity/logs`, { headers: { origin } });
        expect(other.status, origin).toBe(403);
        expect(await other.text()).not.toContain('"requests"');
      }
    } finally {
      await gw.stop();
    }
  });

  test("levity init writes an admin_key of its own, and says where it is", async () => {
    const home = tempDir();
    try {
      const { code, stdout } = await runLevity(["init", join(home, "conf")], { cwd: home });
      expect(code).toBe(0);
      expect(stdout).toContain("proxy.admin_key");
      const written = parse(readFileSync(join(home, "conf/gateway.yaml"), "utf8")).proxy;
      expect(written.admin_key).toMatch(/^sk-levity-admin-[A-Za-z0-9_-]{32}$/);
      expect(written.api_key).toMatch(/^sk-levity-/);
      expect(written.admin_key).not.toBe(written.api_key);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("the CLI against a gateway with auth off and no admin key", () => {
  let served: Awaited<ReturnType<typeof serveLevityWith>>;
  beforeAll(async () => {
    served = await serveLevityWith({ gateway: "upstreams:\n  - { name: echo, protocol: echo }\n" });
    const answer = await fetch(`${served.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    await answer.text();
  });
  afterAll(() => served.stop());

  test("levity accounts and levity logs still read the gateway", async () => {
    const accounts = await runLevity(["accounts", "--port", String(served.port)], {
      cwd: served.dir,
    });
    expect(accounts.stderr).toBe("");
    expect(accounts.code).toBe(0);
    expect(accounts.stdout).toContain("echo");
    const logs = await runLevity(["logs", "--port", String(served.port), "--json"], {
      cwd: served.dir,
    });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("/v1/chat/completions");
  });
});

describe("the CLI against a gateway with auth on and no admin key", () => {
  test("levity accounts is refused, and says to add proxy.admin_key; a client key in LEVITY_ADMIN_KEY does not help", async () => {
    const served = await serveLevityWith({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT}\n`,
    });
    try {
      for (const env of [{}, { LEVITY_ADMIN_KEY: CLIENT }] as Record<string, string>[]) {
        const { code, stderr } = await runLevity(
          ["accounts", "--config", served.dir, "--port", String(served.port)],
          { cwd: served.dir, env },
        );
        expect(code).toBe(1);
        expect(stderr).toContain("proxy.admin_key");
        expect(stderr).toContain("levity init");
      }
    } finally {
      await served.stop();
    }
  });
});

describe("host-check's parts", () => {
  test("hostNameOf, isLoopbackPeer and sameOrigin", async () => {
    const { hostNameOf, isLoopbackPeer, sameOrigin } = await import("../src/http/host-check.ts");
    expect([
      hostNameOf("127.1:80"),
      hostNameOf("[0:0:0:0:0:0:0:1]:1"),
      hostNameOf("Evil.COM."),
      hostNameOf("a@b"),
      hostNameOf(""),
    ]).toEqual(["127.0.0.1", "[::1]", "evil.com", undefined, undefined]);
    expect([
      isLoopbackPeer("127.0.0.1"),
      isLoopbackPeer("::1"),
      isLoopbackPeer("::ffff:127.0.0.1"),
      isLoopbackPeer("192.0.2.2"),
      isLoopbackPeer(undefined),
    ]).toEqual([true, true, true, false, false]);
    expect([
      sameOrigin("http://127.0.0.1:8045", "127.0.0.1:8045"),
      sameOrigin("http://127.0.0.1:8046", "127.0.0.1:8045"),
      sameOrigin("null", "127.0.0.1"),
      sameOrigin("http://localhost", null),
    ]).toEqual([true, false, false, false]);
  });
});

describe("CORS never covers /metrics or admin data", () => {
  test("metrics_public with cors_origins ['*']: /metrics carries no Access-Control-Allow-Origin, nor does its preflight", async () => {
    const gw = startGateway({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT}\n  admin_key: ${ADMIN}\n  metrics_public: true\n`,
    });
    try {
      const origin = "https://evil.example.com";
      const metrics = await fetch(`${gw.origin}/metrics`, { headers: { origin } });
      expect(metrics.status).toBe(200);
      await metrics.text();
      expect(metrics.headers.get("access-control-allow-origin")).toBeNull();
      const preflight = await fetch(`${gw.origin}/metrics`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "GET" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      const admin = await fetch(`${gw.origin}/levity/status`, {
        headers: { origin, authorization: `Bearer ${ADMIN}` },
      });
      expect(admin.status).toBe(200);
      await admin.text();
      expect(admin.headers.get("access-control-allow-origin")).toBeNull();
      // The API itself still answers browsers, as cors_origins says.
      const models = await fetch(`${gw.origin}/v1/models`, {
        headers: { origin, authorization: `Bearer ${CLIENT}` },
      });
      await models.text();
      expect(models.headers.get("access-control-allow-origin")).toBe(origin);
    } finally {
      await gw.stop();
    }
  });
});
