import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ConfigError } from "../src/config/problem.ts";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

const KEY = "sk-levity-test-key-1";
const SECOND = "sk-levity-laptop-key";
const WRONG = "sk-wrong-key-0000";

type Placement = (key: string) => { headers: Record<string, string>; query: string };
const PLACEMENTS: Record<string, Placement> = {
  "Authorization: Bearer": (k) => ({ headers: { authorization: `Bearer ${k}` }, query: "" }),
  "Authorization (raw)": (k) => ({ headers: { authorization: k }, query: "" }),
  "x-api-key": (k) => ({ headers: { "x-api-key": k }, query: "" }),
  "x-goog-api-key": (k) => ({ headers: { "x-goog-api-key": k }, query: "" }),
  "?key=": (k) => ({ headers: {}, query: `?key=${encodeURIComponent(k)}` }),
};

const CHAT = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });
const GEMINI = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });
const PATHS = [
  { method: "GET", path: "/healthz", exempt: true },
  { method: "GET", path: "/health", exempt: true },
  { method: "GET", path: "/v1/models", exempt: false },
  { method: "POST", path: "/v1/chat/completions", body: CHAT, exempt: false },
  { method: "POST", path: "/v1beta/models/gemini-x:generateContent", body: GEMINI, exempt: false },
];

interface Mode {
  name: string;
  yaml: string;
  /** Whether exempt paths (health) need a key, and whether protected paths do. */
  exemptNeedsKey: boolean;
  protectedNeedsKey: boolean;
}

const MODES: Mode[] = [
  {
    name: "off",
    yaml: `auth_mode: off\n  api_key: ${KEY}`,
    exemptNeedsKey: false,
    protectedNeedsKey: false,
  },
  {
    name: "strict",
    yaml: `auth_mode: strict\n  api_key: ${KEY}`,
    exemptNeedsKey: true,
    protectedNeedsKey: true,
  },
  {
    name: "all_except_health",
    yaml: `auth_mode: all_except_health\n  api_key: ${KEY}`,
    exemptNeedsKey: false,
    protectedNeedsKey: true,
  },
  {
    name: "auto, loopback only (= off)",
    yaml: `auth_mode: auto\n  api_key: ${KEY}`,
    exemptNeedsKey: false,
    protectedNeedsKey: false,
  },
  {
    name: "auto with allow_lan_access (= all_except_health)",
    yaml: `auth_mode: auto\n  allow_lan_access: true\n  api_key: ${KEY}`,
    exemptNeedsKey: false,
    protectedNeedsKey: true,
  },
];

async function call(
  gw: TestGateway,
  p: (typeof PATHS)[number],
  credential?: { headers: Record<string, string>; query: string },
) {
  const response = await fetch(`${gw.origin}${p.path}${credential?.query ?? ""}`, {
    method: p.method,
    headers: credential?.headers,
    body: p.body,
  });
  return { status: response.status, text: await response.text() };
}

describe.each(MODES)("auth_mode $name", (mode) => {
  let gw: TestGateway;
  beforeAll(() => {
    gw = startGateway({ gateway: `proxy:\n  ${mode.yaml}\n` });
  });
  afterAll(() => gw.stop());

  for (const p of PATHS) {
    const needsKey = p.exempt ? mode.exemptNeedsKey : mode.protectedNeedsKey;
    test(`${p.method} ${p.path} without a key: ${needsKey ? 401 : 200}`, async () => {
      expect((await call(gw, p)).status).toBe(needsKey ? 401 : 200);
    });
    test(`${p.method} ${p.path} with a wrong key: ${needsKey ? 401 : 200}, and the key is not echoed`, async () => {
      const result = await call(gw, p, PLACEMENTS["x-api-key"]!(WRONG));
      expect(result.status).toBe(needsKey ? 401 : 200);
      expect(result.text).not.toContain(WRONG);
    });
    for (const [placement, place] of Object.entries(PLACEMENTS)) {
      test(`${p.method} ${p.path} with the key in ${placement}: 200`, async () => {
        expect((await call(gw, p, place(KEY))).status).toBe(200);
      });
    }
  }
});

describe("credentials", () => {
  let gw: TestGateway;
  beforeAll(() => {
    gw = startGateway({
      gateway: `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  api_keys:\n    - { name: laptop, key: ${SECOND} }\n`,
    });
  });
  afterAll(() => gw.stop());

  test("a stale Authorization header does not hide a valid x-api-key", async () => {
    const response = await fetch(`${gw.origin}/v1/models`, {
      headers: { authorization: `Bearer ${WRONG}`, "x-api-key": KEY },
    });
    expect(response.status).toBe(200);
  });

  test("every named key in api_keys is accepted", async () => {
    const response = await fetch(`${gw.origin}/v1/models`, {
      headers: { authorization: `Bearer ${SECOND}` },
    });
    expect(response.status).toBe(200);
  });

  test("a refusal is 401 in the client's own shape, names the accepted headers and never echoes the key", async () => {
    const openai = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${WRONG}` },
      body: CHAT,
    });
    expect(openai.status).toBe(401);
    const o = await bodyOf(openai);
    expect(o.error).toMatchObject({
      type: "invalid_request_error",
      code: "invalid_api_key",
      param: null,
    });
    expect(o.error.message).toContain("Authorization");
    expect(o.error.message).toContain("x-api-key");
    expect(o.error.message).toContain("?key=");
    expect(JSON.stringify(o)).not.toContain(WRONG);

    const anthropic = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": WRONG, "anthropic-version": "2023-06-01" },
      body: "{}",
    });
    expect(anthropic.status).toBe(401);
    const a = await bodyOf(anthropic);
    expect(a).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    expect(a.error.message).toContain("x-api-key");
    expect(JSON.stringify(a)).not.toContain(WRONG);

    const gemini = await fetch(`${gw.origin}/v1beta/models/gemini-x:generateContent?key=${WRONG}`, {
      method: "POST",
      body: GEMINI,
    });
    expect(gemini.status).toBe(401);
    const g = await bodyOf(gemini);
    expect(g).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
    expect(JSON.stringify(g)).not.toContain(WRONG);
  });

  test("a request with no key is told that it carried none", async () => {
    const body = await bodyOf(await fetch(`${gw.origin}/v1/models`));
    expect(body.error.message).toContain("carried none");
  });

  test("an OPTIONS preflight needs no key and allows the headers the SDKs send", async () => {
    const response = await fetch(`${gw.origin}/v1/messages`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-api-key, anthropic-version, content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(response.headers.get("access-control-allow-headers")).toBe(
      "x-api-key, anthropic-version, content-type",
    );
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
  });

  test("a browser can read the routing headers on a CORS response", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, origin: "https://chat.example" },
      body: CHAT,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://chat.example");
    expect(response.headers.get("access-control-expose-headers")).toContain("x-mapped-model");
  });
});

describe("browser pages while auth is off", () => {
  let gw: TestGateway;
  beforeAll(() => {
    gw = startGateway({
      gateway: "proxy:\n  auth_mode: off\n  cors_origins: ['*', 'https://my-chat.example']\n",
    });
  });
  afterAll(() => gw.stop());

  test("a page from another site cannot spend the accounts", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
      body: CHAT,
    });
    expect(response.status).toBe(403);
    expect((await bodyOf(response)).error.message).toContain("auth is off");
  });

  test("a loopback page and an origin listed by name are served", async () => {
    for (const origin of [
      "http://localhost:5173",
      "http://127.0.0.1:3000",
      "https://my-chat.example",
    ]) {
      const response = await fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { origin },
        body: CHAT,
      });
      expect(response.status).toBe(200);
    }
  });

  test("CLIs and SDKs, which send no Origin, are served", async () => {
    expect(
      (await fetch(`${gw.origin}/v1/chat/completions`, { method: "POST", body: CHAT })).status,
    ).toBe(200);
  });
});

describe("LAN exposure", () => {
  test("allow_lan_access with auth off refuses to start", () => {
    let error: unknown;
    try {
      startGateway({ gateway: "proxy:\n  allow_lan_access: true\n  auth_mode: off\n" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).toMatchObject({
      key: "proxy.allow_lan_access",
      line: 2,
    });
    expect((error as ConfigError).message).toContain("allow_insecure_lan");
  });

  test("allow_insecure_lan: true is the explicit way to do it anyway", async () => {
    const gw = startGateway({
      gateway: "proxy:\n  allow_lan_access: true\n  allow_insecure_lan: true\n  auth_mode: off\n",
    });
    expect(gw.server.hostname).toBe("0.0.0.0");
    expect((await fetch(`${gw.origin}/v1/models`)).status).toBe(200);
    await gw.stop();
  });

  test("a mode that needs a key refuses to start without one", () => {
    expect(() => startGateway({ gateway: "proxy:\n  auth_mode: strict\n" })).toThrow(
      /needs a client key/,
    );
    expect(() => startGateway({ gateway: "proxy:\n  allow_lan_access: true\n" })).toThrow(
      /all_except_health, which needs a client key/,
    );
  });

  test("with an admin key and no client key in the file, a mode that needs a key starts: keys are made with levity keys add", async () => {
    const gw = startGateway({
      gateway: "proxy:\n  auth_mode: strict\n  admin_key: sk-admin-only-0123456789\n",
    });
    const refused = await fetch(`${gw.origin}/v1/models`);
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    await gw.stop();
  });
});
