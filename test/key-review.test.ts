import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { countersFrom } from "../src/keys/counter-store.ts";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { makeKey } from "./support/keys.ts";
import { serveLevity } from "./support/process.ts";
import { waitUntil } from "./support/wait.ts";
import {
  resetAccounts,
  startGateway,
  tempDir,
  writeConfig,
  type TestGateway,
  upstreamsYaml,
} from "./support/gateway.ts";

/*
 * A hostile review of the client keys: every request a key's limits admitted is settled however
 * it ends (upstream failure, a 400 from the operation after admission, a client that hangs up
 * mid-stream, a token count), the model a key is checked against is the model that is served,
 * and bad input to the admin API is a 4xx, never a 500.
 */

const ADMIN = "sk-admin-review-0123456789";
const SECRET = "sk-test-review-0123456789";
let oa: FakeUpstream;
let gw: TestGateway;

const MAPPINGS =
  "exact:\n  gpt-4o-real: oa/gpt-4o-real\n  gemini-cheap: oa/gpt-4o-real\ndefault: oa/o3-real\n";

function gatewayYaml(extraKeys = ""): string {
  return (
    `proxy:\n  auth_mode: strict\n  admin_key: ${ADMIN}\n` +
    `  api_keys:\n    - { name: team, key: ${SECRET}, rpm: 1000, tpm: 1000000, concurrency: 50, models: [gpt-4o-real, gemini-cheap] }\n` +
    extraKeys +
    upstreamsYaml([
      {
        name: "oa",
        protocol: "openai",
        base_url: `${oa.url}/v1`,
        accounts: [{ name: "a", key: "sk-up-openai" }],
      },
    ])
  );
}

beforeAll(() => {
  oa = fakeOpenAI("sk-up-openai");
  gw = startGateway({ gateway: gatewayYaml(), mappings: MAPPINGS });
});
afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
const client = { authorization: `Bearer ${SECRET}`, "content-type": "application/json" };

async function inFlight(name = "team"): Promise<number> {
  const response = await fetch(`${gw.origin}/levity/keys/${name}`, { headers: admin });
  const body: any = await response.json();
  return body.usage.in_flight;
}

/** In flight is settled once the answer's record is: poll the admin API briefly, never sleep blindly. */
async function inFlightSettles(name = "team"): Promise<number> {
  return waitUntil(
    "nothing in flight",
    async () => ((await inFlight(name)) === 0 ? 0 : false),
    3000,
  ).catch(() => inFlight(name));
}

const chat = (body: unknown) =>
  fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: client,
    body: JSON.stringify(body),
  });

describe("every admitted request is settled", () => {
  test("an upstream failure", async () => {
    oa.replyOnce({
      status: 400,
      body: JSON.stringify({
        error: { message: "bad", type: "invalid_request_error", param: null, code: null },
      }),
    });
    const r = await chat({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] });
    await r.text();
    expect(r.status).toBe(400);
    expect(await inFlightSettles()).toBe(0);
  });

  test("a 400 from the operation after admission", async () => {
    // Anthropic's shape to an OpenAI upstream: levity's own translation refuses it, after admission.
    const r = await fetch(`${gw.origin}/v1/messages`, {
      method: "POST",
      headers: { ...client, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "gpt-4o-real", max_tokens: 10, messages: "not a list" }),
    });
    await r.text();
    expect(r.status).toBe(400);
    expect(await inFlightSettles()).toBe(0);
  });

  test("a client that hangs up mid-stream", async () => {
    const held = oa.holdOnce(
      `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-real", choices: [{ index: 0, delta: { role: "assistant", content: "he" }, finish_reason: null }] })}\n\n`,
    );
    const abort = new AbortController();
    const r = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: client,
      body: JSON.stringify({
        model: "gpt-4o-real",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
      signal: abort.signal,
    });
    const reader = r.body!.getReader();
    await reader.read();
    abort.abort();
    await held.aborted;
    expect(await inFlightSettles()).toBe(0);
  });

  test("a token count", async () => {
    const r = await fetch(`${gw.origin}/v1/messages/count_tokens`, {
      method: "POST",
      headers: { ...client, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] }),
    });
    await r.text();
    expect(await inFlightSettles()).toBe(0);
  });

  test("a refused model name the operation rejects", async () => {
    const r = await chat({ model: "", messages: [{ role: "user", content: "hi" }] });
    await r.text();
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(await inFlightSettles()).toBe(0);
  });
});

describe("the model checked is the model served", () => {
  // Checked as "gemini-cheap" (allowed) but served as "models/gemini-cheap", which only the default maps: a bypass.
  test("a Gemini path naming models/NAME inside its segment is checked as the name served", async () => {
    const before = oa.requests.length;
    const r = await fetch(`${gw.origin}/v1beta/models/models%2Fgemini-cheap:generateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": SECRET, "content-type": "application/json" },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    });
    const body: any = await r.json();
    expect(r.status).toBe(403);
    expect(r.headers.get("x-levity-limit")).toBe("models");
    expect(body.error.message).toContain('"models/gemini-cheap"');
    expect(oa.requests.length).toBe(before);
  });

  // OpenAI's images API serves dall-e-2 when no model is named; a key limited to other models must not get it.
  test("an image request naming no model is checked as the default model it is served by", async () => {
    const before = oa.requests.length;
    const r = await fetch(`${gw.origin}/v1/images/generations`, {
      method: "POST",
      headers: client,
      body: JSON.stringify({ prompt: "a cat" }),
    });
    const body: any = await r.json();
    expect(r.status).toBe(403);
    expect(body.error.code).toBe("model_not_allowed");
    expect(body.error.message).toContain('"dall-e-2"');
    expect(oa.requests.length).toBe(before);
    expect(await inFlightSettles()).toBe(0);
  });
});

describe("bad input to the admin API", () => {
  const bodies: unknown[] = [
    { name: "__proto__" },
    { name: "constructor" },
    { name: "ok-1", __proto__: { rpm: 5 } },
    { name: "x".repeat(100_000) },
    { name: "ünï" },
    { name: "a/b" },
    { name: "a b\nc" },
    { name: 5 },
    { name: "t1", rpm: "ten" },
    { name: "t2", rpm: -1 },
    { name: "t3", rpm: 1e308 },
    { name: "t4", rpm: 1.5 },
    { name: "t5", models: "gpt-*" },
    { name: "t6", models: [5] },
    { name: "t7", models: ["x".repeat(100_000)] },
    { name: "t8", ips: ["not-a-cidr"] },
    { name: "t9", expires: "tomorrow-ish" },
    { name: "t10", expires: 1e17 },
    { name: "t11", monthly_usd: "NaN" },
    { name: "t12", extra: true },
    [],
    null,
    "string",
  ];
  for (const [i, body] of bodies.entries()) {
    test(`POST #${i} ${JSON.stringify(body)?.slice(0, 60)}`, async () => {
      const r = await fetch(`${gw.origin}/levity/keys`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify(body),
      });
      const text = await r.text();
      expect(r.status).toBeLessThan(500);
      expect(text).not.toContain("internal error");
    });
  }
  test("PATCH with bad changes, and names that break URLs", async () => {
    const made = await makeKey(gw.origin, ADMIN, { name: "patchme" });
    expect(made.status).toBe(201);
    for (const body of [
      { __proto__: { rpm: 5 } },
      JSON.parse('{"__proto__": {"rpm": 5}}'),
      { rpm: "x" },
      { models: null, rpm: null },
      { name: "other" },
      { revoked_at: 1 },
      [],
      null,
    ]) {
      const r = await fetch(`${gw.origin}/levity/keys/patchme`, {
        method: "PATCH",
        headers: admin,
        body: JSON.stringify(body),
      });
      const text = await r.text();
      expect(`${r.status} ${text}`).not.toMatch(/^5/);
    }
    for (const path of [
      "%2e%2e",
      "%00",
      "__proto__",
      "constructor",
      "%E0%A4%A",
      "a%2Fb",
      "x".repeat(5000),
    ]) {
      for (const method of ["GET", "PATCH"]) {
        const r = await fetch(`${gw.origin}/levity/keys/${path}`, {
          method,
          headers: admin,
          ...(method === "PATCH" ? { body: "{}" } : {}),
        });
        const text = await r.text();
        expect(`${method} ${path.slice(0, 20)} ${r.status} ${text}`).not.toMatch(/ 5\d\d /);
      }
      const r = await fetch(`${gw.origin}/levity/keys/${path}/revoke`, {
        method: "POST",
        headers: admin,
      });
      const text = await r.text();
      expect(`revoke ${path.slice(0, 20)} ${r.status} ${text}`).not.toMatch(/ 5\d\d /);
    }
  });
  test("a client key never opens the admin API", async () => {
    for (const [method, path] of [
      ["GET", "/levity/keys"],
      ["POST", "/levity/keys"],
      ["GET", "/levity/keys/team"],
      ["PATCH", "/levity/keys/team"],
    ]) {
      const r = await fetch(`${gw.origin}${path}`, {
        method,
        headers: client,
        ...(method !== "GET" ? { body: "{}" } : {}),
      });
      await r.text();
      expect(r.status).toBe(401);
    }
  });
});

/** The Responses API over a WebSocket, as Codex speaks it: each message read in turn. */
async function openSocket(): Promise<{ ws: WebSocket; next: () => Promise<any> }> {
  const ws = new WebSocket(`${gw.origin.replace(/^http/, "ws")}/v1/responses`, {
    headers: { authorization: `Bearer ${SECRET}` },
  } as unknown as string[]);
  const inbox: any[] = [];
  const waiting: ((m: any) => void)[] = [];
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    const wake = waiting.shift();
    if (wake) wake(message);
    else inbox.push(message);
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("WebSocket failed to open")), {
      once: true,
    });
  });
  const next = () =>
    inbox.length > 0
      ? Promise.resolve(inbox.shift())
      : new Promise<any>((resolve) => waiting.push(resolve));
  return { ws, next };
}

describe("Responses over a WebSocket", () => {
  // The hang-up and failure tests above may leave the one account cooling.
  beforeEach(() => resetAccounts(gw.origin, ADMIN));
  test("each message is held to the key's models, and settled", async () => {
    const { ws, next } = await openSocket();
    try {
      const before = oa.requests.length;
      ws.send(
        JSON.stringify({ type: "response.create", model: "o3-real", input: "hi", store: false }),
      );
      const refused = await next();
      expect(refused.type).toBe("error");
      expect(JSON.stringify(refused)).toContain("model_not_allowed");
      expect(oa.requests.length).toBe(before);
      ws.send(
        JSON.stringify({
          type: "response.create",
          model: "gpt-4o-real",
          input: "hi",
          store: false,
        }),
      );
      for (;;) {
        const event = await next();
        if (["response.completed", "response.failed", "error"].includes(event.type)) {
          expect(JSON.stringify(event)).toContain("response.completed");
          break;
        }
      }
      expect(await inFlightSettles()).toBe(0);
    } finally {
      ws.close();
    }
  });

  test("a socket closed while its answer is still coming leaves nothing in flight", async () => {
    const quiet = oa.quietOnce({ headers: true });
    try {
      const { ws } = await openSocket();
      const before = oa.requests.length;
      ws.send(
        JSON.stringify({
          type: "response.create",
          model: "gpt-4o-real",
          input: "hi",
          store: false,
        }),
      );
      await waitUntil("the upstream is asked", () => oa.requests.length > before);
      expect(await inFlight()).toBe(1);
      ws.close();
      expect(await inFlightSettles()).toBe(0);
    } finally {
      quiet.release();
    }
  });
});

describe("a key's record changes", () => {
  test("new models on a made key are the ones checked from the next request", async () => {
    const made = await makeKey(gw.origin, ADMIN, { name: "mover", models: ["gpt-4o-real"] });
    const ask = async (model: string) => {
      const r = await fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${made.secret}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
      });
      await r.text();
      return r.headers.get("x-levity-limit");
    };
    expect(await ask("o3-real")).toBe("models");
    const patched = await fetch(`${gw.origin}/levity/keys/mover`, {
      method: "PATCH",
      headers: admin,
      body: JSON.stringify({ models: ["o3-*"] }),
    });
    expect(patched.status).toBe(200);
    expect(await ask("gpt-4o-real")).toBe("models");
    expect(await inFlightSettles("mover")).toBe(0);
  });

  // A made key whose name gateway.yaml later gives to another key: the name is gateway.yaml's, and
  // the made key, hidden from the list and closed to revoke, must not keep working unseen.
  test("a made key shadowed by a gateway.yaml key of the same name is refused", async () => {
    const made = await makeKey(gw.origin, ADMIN, { name: "dup" });
    expect(made.status).toBe(201);
    writeConfig(gw.dir, {
      gateway: gatewayYaml("    - { name: dup, key: sk-test-dup-yaml-0123456789 }\n"),
    });
    try {
      expect(gw.server.reload("test")).toBe(true);
      const revoke = await fetch(`${gw.origin}/levity/keys/dup/revoke`, {
        method: "POST",
        headers: admin,
      });
      await revoke.text();
      // gateway.yaml's key is revoked there, not here, so the made one cannot be revoked either.
      expect(revoke.status).toBe(400);
      const r = await fetch(`${gw.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${made.secret}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] }),
      });
      await r.text();
      expect(r.status).toBe(401);
    } finally {
      writeConfig(gw.dir, { gateway: gatewayYaml() });
      gw.server.reload("test");
    }
  });
});

// The brief of the state database: a made key's digest is in its digest column and nowhere else.
test("the state database holds a made key's digest in its digest column only", async () => {
  const made = await makeKey(gw.origin, ADMIN, { name: "stored", rpm: 5 });
  expect(made.status).toBe(201);
  const digest = createHash("sha256").update(made.secret!).digest("hex");
  const db = new Database(join(gw.server.holder.snapshot.proxy.dataDir, "levity.db"), {
    readonly: true,
  });
  try {
    const row = db
      .query<{ digest: string; record: string }, []>(
        "SELECT digest, record FROM client_keys WHERE name = 'stored'",
      )
      .get();
    expect(row?.digest).toBe(digest);
    expect(row?.record).not.toContain(digest);
    expect(JSON.parse(row!.record).rpm).toBe(5);
  } finally {
    db.close();
  }
  // Read back from the row, the key still works.
  const r = await fetch(`${gw.origin}/v1/models`, {
    headers: { authorization: `Bearer ${made.secret}` },
  });
  await r.text();
  expect(r.status).toBe(200);
});

// The README's word on budgets: spend is what the price table says, so an unpriced model spends nothing.
test("a key's monthly budget counts no spend for a model without a price", async () => {
  await resetAccounts(gw.origin, ADMIN);
  const made = await makeKey(gw.origin, ADMIN, { name: "unpriced", monthly_usd: 0.000001 });
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${made.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] }),
    });
    await r.text();
    expect(r.status).toBe(200);
  }
  const view: any = await (
    await fetch(`${gw.origin}/levity/keys/unpriced`, { headers: admin })
  ).json();
  expect(view.usage.usd_this_month).toBe(0);
  expect(view.usage.in_flight).toBe(0);
});

// A since past JavaScript's dates was parsed, then broke the answer that writes it out (a 500).
test("GET /levity/usage?by= with a since no date can hold is a 400 naming since", async () => {
  for (const since of ["99999999999d", "99999999999999999999", "7d"]) {
    const r = await fetch(`${gw.origin}/levity/usage?by=key&since=${since}`, { headers: admin });
    const body: any = await r.json();
    if (since === "7d") expect(r.status).toBe(200);
    else {
      expect(r.status).toBe(400);
      expect(body.error.param).toBe("since");
    }
  }
});

// README: counters are written within a second of a change, so a kill -9 after that loses nothing.
test("a kill -9 a second after the requests keeps their count: the key's rpm still holds after the restart", async () => {
  const dir = tempDir();
  const secret = "sk-test-crash-0123456789";
  writeConfig(dir, {
    gateway:
      `proxy:\n  auth_mode: strict\n  admin_key: ${ADMIN}\n` +
      `  api_keys:\n    - { name: crash, key: ${secret}, rpm: 3 }\n` +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-up-openai" }],
        },
      ]),
    mappings: MAPPINGS,
  });
  const ask = (origin: string) =>
    fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-real", messages: [{ role: "user", content: "hi" }] }),
    }).then(async (r) => {
      await r.text();
      return r.status;
    });
  const counted = () => {
    const db = new Database(join(dir, "data", "levity.db"), { readonly: true });
    try {
      const row = db
        .query<{ counters: string }, []>("SELECT counters FROM key_counters WHERE name = 'crash'")
        .get();
      return row ? countersFrom(row.counters).requests.amounts.reduce((a, b) => a + b) : 0;
    } catch {
      return 0;
    } finally {
      db.close();
    }
  };
  await resetAccounts(gw.origin, ADMIN);
  const first = await serveLevity(["--config", dir]);
  try {
    for (let i = 0; i < 3; i++) expect(await ask(first.origin)).toBe(200);
    const sent = performance.now();
    await waitUntil("the three requests on disk", () => counted() === 3, 3000);
    console.log(
      `counters on disk ${Math.round(performance.now() - sent)} ms after the last answer`,
    );
  } finally {
    first.kill("SIGKILL");
    await first.exited;
  }
  const second = await serveLevity(["--config", dir]);
  try {
    expect(await ask(second.origin)).toBe(429);
  } finally {
    second.kill("SIGTERM");
    await second.exited;
  }
}, 20_000);

// A key limited to networks listed its models from anywhere: the check was only on counted routes.
test("a key limited to other networks is refused on the model list too", async () => {
  const made = await makeKey(gw.origin, ADMIN, { name: "faraway", ips: ["10.0.0.0/8"] });
  for (const path of ["/v1/models", "/v1/models/gpt-4o-real"]) {
    const r = await fetch(`${gw.origin}${path}`, {
      headers: { authorization: `Bearer ${made.secret}` },
    });
    const body: any = await r.json();
    expect(r.status).toBe(403);
    expect(body.error.code).toBe("ip_not_allowed");
  }
});
