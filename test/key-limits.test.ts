import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { expectErrorShape, type Family } from "./support/error-shape.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { makeKey } from "./support/keys.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * Every refusal a client key's rules make, through each dialect's own SDK: the exact status, error
 * shape and headers, the SDK's own reading of it, and that nothing reached the upstream.
 */

const FAMILIES: Family[] = ["openai", "anthropic", "gemini"];
const MODEL: Record<Family, string> = {
  openai: "gpt-4o-real",
  anthropic: "claude-sonnet-4-5-real",
  gemini: "gemini-2.5-flash-real",
};

/** A key per rule and dialect, so that each case counts against its own. */
const RULES: Record<string, string> = {
  open: "{}",
  models: '{ models: ["*-haiku-*", "text-embedding-*"] }',
  rpm: "{ rpm: 1 }",
  tpm: "{ tpm: 5 }",
  concurrency: "{ concurrency: 1 }",
  daily: "{ daily_tokens: 5 }",
  monthly: "{ monthly_usd: 0 }",
  expired: '{ expires: "2020-01-01" }',
  ips: '{ ips: ["10.0.0.0/8", "fd00::/8"] }',
  spend: "{ monthly_usd: 0.01 }",
};
const secretOf = (rule: string, family: Family) => `sk-test-${rule}-${family}-0123456789`;

function keysYaml(): string {
  const lines = ["  api_keys:"];
  for (const rule of Object.keys(RULES))
    for (const family of FAMILIES) {
      const limits = RULES[rule]!.slice(1, -1).trim();
      lines.push(
        `    - { name: ${rule}-${family}, key: ${secretOf(rule, family)}${limits ? `, ${limits}` : ""} }`,
      );
    }
  return `${lines.join("\n")}\n`;
}

let oa: FakeUpstream;
let an: FakeUpstream;
let gm: FakeUpstream;
let gw: TestGateway;
const upstreamOf = (family: Family) => ({ openai: oa, anthropic: an, gemini: gm })[family];

beforeAll(() => {
  oa = fakeOpenAI("sk-up-openai");
  an = fakeAnthropic("sk-up-anthropic");
  gm = fakeGemini("sk-up-gemini");
  gw = startGateway({
    gateway:
      "proxy:\n  auth_mode: strict\n  cooldown_wait: 0\n  admin_key: sk-test-admin-0123456789\n" +
      // As behind a load balancer on this machine: the client's address is the one it forwards.
      "  trusted_proxies: [127.0.0.1]\n" +
      keysYaml() +
      // Dear enough that one short answer spends more than a cent.
      'prices:\n  "*-real": { input: 10000, output: 10000 }\n' +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-up-openai" }],
        },
        {
          name: "an",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "a", key: "sk-up-anthropic" }],
        },
        {
          name: "gm",
          protocol: "gemini",
          base_url: gm.url,
          accounts: [{ name: "a", key: "sk-up-gemini" }],
        },
      ]),
    mappings: `exact:\n${FAMILIES.map((f) => `  ${MODEL[f]}: ${{ openai: "oa", anthropic: "an", gemini: "gm" }[f]}/${MODEL[f]}`).join("\n")}\n`,
  });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), gm.stop()]);
});

interface Seen {
  status: number;
  headers: Headers;
  body: any;
}

/** Each dialect's SDK at its defaults (retries included), with every answer it got kept aside. */
function clientFor(family: Family, secret: string) {
  const seen: Seen[] = [];
  const recording = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(input, init);
    const text = await response.clone().text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    seen.push({ status: response.status, headers: response.headers, body });
    return response;
  };
  const ask = async (): Promise<unknown> => {
    if (family === "openai") {
      const client = new OpenAI({ apiKey: secret, baseURL: `${gw.origin}/v1`, fetch: recording });
      return client.chat.completions.create({
        model: MODEL.openai,
        messages: [{ role: "user", content: "hi" }],
      });
    }
    if (family === "anthropic") {
      const client = new Anthropic({ apiKey: secret, baseURL: gw.origin, fetch: recording });
      return client.messages.create({
        model: MODEL.anthropic,
        max_tokens: 50,
        messages: [{ role: "user", content: "hi" }],
      });
    }
    const client = new GoogleGenAI({
      apiKey: secret,
      httpOptions: { baseUrl: gw.origin, fetch: recording },
    });
    return client.models.generateContent({ model: MODEL.gemini, contents: "hi" });
  };
  return { seen, ask };
}

/** The error the SDK threw, with its status as the SDK read it. */
async function refused(ask: () => Promise<unknown>): Promise<{ status: number; name: string }> {
  try {
    await ask();
  } catch (error) {
    return {
      status: (error as { status: number }).status,
      name: (error as Error).constructor.name,
    };
  }
  throw new Error("the request was not refused");
}

const SDK_ERRORS: Record<number, Record<Family, string>> = {
  401: { openai: "AuthenticationError", anthropic: "AuthenticationError", gemini: "ApiError" },
  403: { openai: "PermissionDeniedError", anthropic: "PermissionDeniedError", gemini: "ApiError" },
  429: { openai: "RateLimitError", anthropic: "RateLimitError", gemini: "ApiError" },
};

/** Sends one refused request and checks what every dialect's client must get; returns the last answer. */
async function expectRefusal(
  family: Family,
  rule: string,
  status: number,
  message: RegExp,
): Promise<Seen> {
  const upstream = upstreamOf(family);
  const before = upstream.requests.length;
  const client = clientFor(family, secretOf(rule, family));
  const error = await refused(client.ask);
  expect(error).toEqual({ status, name: SDK_ERRORS[status]![family] });
  const last = client.seen.at(-1)!;
  expect(last.status).toBe(status);
  expect(expectErrorShape(family, last.body, status)).toMatch(message);
  expect(last.headers.get("x-request-id")).toMatch(/^req_/);
  expect(upstream.requests.length).toBe(before);
  return last;
}

describe.each(FAMILIES)("%s client", (family) => {
  test("a key without limits is served", async () => {
    const client = clientFor(family, secretOf("open", family));
    await client.ask();
    expect(client.seen.map((s) => s.status)).toEqual([200]);
  });

  test("an unknown key: 401, not retried, nothing sent upstream", async () => {
    const last = await expectRefusal(
      family,
      "unknown",
      401,
      /is not one of this levity gateway's client keys/,
    );
    expect(last.headers.get("x-should-retry")).toBe("false");
  });

  test("a revoked key (made with the admin API): 401 naming the key and when it was revoked", async () => {
    const made = await makeKey(gw.origin, "sk-test-admin-0123456789", {
      name: `revoked-${family}`,
    });
    const served = clientFor(family, made.secret!);
    await served.ask();
    expect(served.seen.map((s) => s.status)).toEqual([200]);
    const revoked = await fetch(`${gw.origin}/levity/keys/revoked-${family}/revoke`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test-admin-0123456789" },
    });
    expect(revoked.status).toBe(200);
    const upstream = upstreamOf(family);
    const before = upstream.requests.length;
    const client = clientFor(family, made.secret!);
    expect(await refused(client.ask)).toEqual({ status: 401, name: SDK_ERRORS[401]![family] });
    const last = client.seen.at(-1)!;
    expect(expectErrorShape(family, last.body, 401)).toMatch(
      new RegExp(`"revoked-${family}" was revoked at \\d{4}-\\d{2}-\\d{2}T`),
    );
    expect(last.headers.get("x-should-retry")).toBe("false");
    expect(client.seen.length).toBe(1);
    expect(upstream.requests.length).toBe(before);
  });

  test("an expired key: 401 naming the key and when it expired", async () => {
    await expectRefusal(
      family,
      "expired",
      401,
      new RegExp(`"expired-${family}" expired at 2020-01-02T00:00:00.000Z`),
    );
  });

  test("a model the key may not use: 403 naming the globs it may", async () => {
    const last = await expectRefusal(
      family,
      "models",
      403,
      new RegExp(
        `may not use the model "${MODEL[family]}"; it may use \\*-haiku-\\*, text-embedding-\\*`,
      ),
    );
    if (family === "openai")
      expect(last.body.error).toMatchObject({
        type: "permission_error",
        code: "model_not_allowed",
        param: "model",
      });
    if (family === "anthropic") expect(last.body.error.type).toBe("permission_error");
    if (family === "gemini") expect(last.body.error.status).toBe("PERMISSION_DENIED");
  });

  test("the refused request is logged with its key and the model it named", async () => {
    const refused = await waitUntil("the refusal in the request log", async () => {
      const answer = await fetch(`${gw.origin}/levity/logs?limit=1000`, {
        headers: { authorization: "Bearer sk-test-admin-0123456789" },
      });
      const { requests } = (await answer.json()) as { requests: any[] };
      return requests.find((r) => r.clientKey === `models-${family}` && r.status === 403);
    });
    expect(refused.requestedModel).toBe(MODEL[family]);
  });

  test("an address outside the key's networks: 403", async () => {
    const last = await expectRefusal(
      family,
      "ips",
      403,
      /may not be used from this address; it is limited to 10\.0\.0\.0\/8, fd00::\/8/,
    );
    expect(last.headers.get("x-levity-limit")).toBe("ips");
  });

  test("rpm: the second request in the minute is a 429 with Retry-After from the window", async () => {
    const first = clientFor(family, secretOf("rpm", family));
    await first.ask();
    const client = clientFor(family, secretOf("rpm", family));
    // The SDKs wait out a short Retry-After and ask again: the first answer is the refusal itself.
    const OpenAIish = family !== "gemini";
    const before = upstreamOf(family).requests.length;
    const probe = await fetch(
      `${gw.origin}${probePath(family)}`,
      probeInit(family, secretOf("rpm", family)),
    );
    const body = (await probe.json()) as any;
    expect(probe.status).toBe(429);
    expectErrorShape(family, body, 429);
    const wait = Number(probe.headers.get("retry-after"));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    expect(probe.headers.get("x-should-retry")).toBeNull();
    expect(body.error.message).toMatch(
      new RegExp(`"rpm-${family}" has sent 1 requests in the last minute, its limit \\(rpm 1\\)`),
    );
    if (family === "openai")
      expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
    if (family === "anthropic") expect(body.error.type).toBe("rate_limit_error");
    if (family === "gemini") {
      expect(body.error.status).toBe("RESOURCE_EXHAUSTED");
      expect(body.error.details).toContainEqual({
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        retryDelay: `${wait}s`,
      });
    }
    expect(upstreamOf(family).requests.length).toBe(before);
    // The SDK reads it as its rate-limit error (with retries off, so the test does not wait a minute).
    if (OpenAIish) {
      const error = await refused(() =>
        family === "openai"
          ? new OpenAI({
              apiKey: secretOf("rpm", family),
              baseURL: `${gw.origin}/v1`,
              maxRetries: 0,
            }).chat.completions.create({
              model: MODEL.openai,
              messages: [{ role: "user", content: "hi" }],
            })
          : new Anthropic({
              apiKey: secretOf("rpm", family),
              baseURL: gw.origin,
              maxRetries: 0,
            }).messages.create({
              model: MODEL.anthropic,
              max_tokens: 5,
              messages: [{ role: "user", content: "hi" }],
            }),
      );
      expect(error).toEqual({ status: 429, name: "RateLimitError" });
    } else expect(await refused(client.ask)).toEqual({ status: 429, name: "ApiError" });
  });

  test("tpm: once the first answer's usage is in the window, the next request is a 429", async () => {
    const first = clientFor(family, secretOf("tpm", family));
    await first.ask();
    const before = upstreamOf(family).requests.length;
    const probe = await fetch(
      `${gw.origin}${probePath(family)}`,
      probeInit(family, secretOf("tpm", family)),
    );
    const body = (await probe.json()) as any;
    expect(probe.status).toBe(429);
    expect(expectErrorShape(family, body, 429)).toMatch(
      /tokens in the last minute, and this request needs about \d+ more, over its limit \(tpm 5\)/,
    );
    expect(probe.headers.get("x-levity-limit")).toBe("tpm");
    expect(Number(probe.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    if (family === "openai")
      expect(body.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
    expect(upstreamOf(family).requests.length).toBe(before);
  });

  test("concurrency: a second request while the first is in flight is a 429", async () => {
    const upstream = upstreamOf(family);
    const held = upstream.quietOnce({ key: `sk-up-${family}` });
    const first = clientFor(family, secretOf("concurrency", family));
    const answered = first.ask();
    await held.received;
    const before = upstream.requests.length;
    const probe = await fetch(
      `${gw.origin}${probePath(family)}`,
      probeInit(family, secretOf("concurrency", family)),
    );
    const body = (await probe.json()) as any;
    expect(probe.status).toBe(429);
    expect(expectErrorShape(family, body, 429)).toMatch(
      /has 1 requests in flight, its limit \(concurrency 1\)/,
    );
    expect(probe.headers.get("retry-after")).toBe("1");
    expect(upstream.requests.length).toBe(before);
    held.release();
    await answered;
    // Once the first has finished, the key may send again.
    const again = await fetch(
      `${gw.origin}${probePath(family)}`,
      probeInit(family, secretOf("concurrency", family)),
    );
    expect(again.status).toBe(200);
    await again.body?.cancel();
  });

  test("daily tokens spent: a 429 the SDK does not retry, with the reset time", async () => {
    await clientFor(family, secretOf("daily", family)).ask();
    const last = await expectRefusal(
      family,
      "daily",
      429,
      /of its 5 tokens for today \(UTC\).*Its daily tokens reset at \d{4}-\d{2}-\d{2}T00:00:00\.000Z/,
    );
    expectBudgetHeaders(family, last);
  });

  test("the answer that crosses the monthly budget is served, at its price; the next is refused, naming what was spent", async () => {
    const client = clientFor(family, secretOf("spend", family));
    await client.ask();
    const logs = (await (
      await fetch(`${gw.origin}/levity/logs?limit=50`, {
        headers: { authorization: "Bearer sk-test-admin-0123456789" },
      })
    ).json()) as {
      requests: { clientKey: string; costUsd: number; inputTokens: number; outputTokens: number }[];
    };
    const served = logs.requests.find((r) => r.clientKey === `spend-${family}`)!;
    expect(served.costUsd).toBeCloseTo(
      ((served.inputTokens + served.outputTokens) * 10000) / 1e6,
      10,
    );
    expect(served.costUsd).toBeGreaterThan(0.01);
    const last = await expectRefusal(
      family,
      "spend",
      429,
      new RegExp(
        `has spent \\$${served.costUsd.toFixed(2).replace(".", "\\.")} of its \\$0\\.01 budget for this month`,
      ),
    );
    expectBudgetHeaders(family, last);
  });

  test("monthly budget spent: a 429 the SDK does not retry, with the reset time", async () => {
    const client = clientFor(family, secretOf("monthly", family));
    const error = await refused(client.ask);
    expect(error.status).toBe(429);
    // Asked once: the SDKs' retries are not spent on a budget that returns next month.
    expect(client.seen.length).toBe(1);
    const last = client.seen[0]!;
    expect(expectErrorShape(family, last.body, 429)).toMatch(
      /has spent \$0\.00 of its \$0\.00 budget for this month \(UTC\)\. Its budget resets at \d{4}-\d{2}-01T00:00:00\.000Z/,
    );
    expectBudgetHeaders(family, last);
  });
});

function expectBudgetHeaders(family: Family, seen: Seen): void {
  const resets = Date.parse(seen.headers.get("x-levity-limit-resets-at") ?? "");
  expect(resets).toBeGreaterThan(Date.now());
  const wait = Number(seen.headers.get("retry-after"));
  expect(Math.abs(Date.now() + wait * 1000 - resets)).toBeLessThan(5000);
  expect(seen.headers.get("x-should-retry")).toBe("false");
  if (family === "openai")
    expect(seen.body.error).toMatchObject({
      type: "usage_limit_reached",
      code: "insufficient_quota",
      param: null,
      resets_at: Math.floor(resets / 1000),
      resets_in_seconds: wait,
    });
  if (family === "anthropic") expect(seen.body.error.type).toBe("rate_limit_error");
  if (family === "gemini") {
    const quota = seen.body.error.details.find((d: { "@type": string }) =>
      d["@type"].endsWith("QuotaFailure"),
    );
    expect(quota.violations[0].quotaId).toMatch(/Budget$/);
    expect(quota.violations[0].quotaId).not.toMatch(/PerDay|Daily/);
    const retry = seen.body.error.details.find((d: { "@type": string }) =>
      d["@type"].endsWith("RetryInfo"),
    );
    expect(retry.retryDelay).toBe(`${wait}s`);
  }
}

function probePath(family: Family): string {
  if (family === "openai") return "/v1/chat/completions";
  if (family === "anthropic") return "/v1/messages";
  return `/v1beta/models/${MODEL.gemini}:generateContent`;
}

function probeInit(family: Family, secret: string): RequestInit {
  const body =
    family === "openai"
      ? { model: MODEL.openai, messages: [{ role: "user", content: "hi" }] }
      : family === "anthropic"
        ? { model: MODEL.anthropic, max_tokens: 5, messages: [{ role: "user", content: "hi" }] }
        : { contents: [{ role: "user", parts: [{ text: "hi" }] }] };
  const auth: Record<string, string> =
    family === "openai"
      ? { authorization: `Bearer ${secret}` }
      : family === "anthropic"
        ? { "x-api-key": secret, "anthropic-version": "2023-06-01" }
        : { "x-goog-api-key": secret };
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify(body),
  };
}

test("a key limited to some models is listed only those, and asking for another by name is a 404", async () => {
  const listed = async (secret: string) => {
    const client = new OpenAI({ apiKey: secret, baseURL: `${gw.origin}/v1` });
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    return ids;
  };
  const all = await listed(secretOf("open", "openai"));
  expect(all).toContain("gpt-4o-real");
  expect(all).toContain("claude-haiku-4-5-real");
  const limited = await listed(secretOf("models", "openai"));
  expect(limited).toContain("claude-haiku-4-5-real");
  expect(limited.every((id) => /-haiku-|^text-embedding-/.test(id))).toBe(true);
  const one = await fetch(`${gw.origin}/v1/models/gpt-4o-real`, {
    headers: { authorization: `Bearer ${secretOf("models", "openai")}` },
  });
  expect(one.status).toBe(404);
  expect(expectErrorShape("openai", await one.json(), 404)).toContain(
    "not one this client key may use",
  );
});

test("behind a trusted load balancer, a key's networks are checked against the address it forwards, read from the right", async () => {
  const send = (forwarded: string) =>
    fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${secretOf("ips", "openai")}`,
        "content-type": "application/json",
        "x-forwarded-for": forwarded,
      },
      body: JSON.stringify({ model: MODEL.openai, messages: [{ role: "user", content: "hi" }] }),
    }).then(async (r) => {
      await r.text();
      return r.status;
    });
  expect(await send("10.2.3.4")).toBe(200);
  expect(await send("203.0.113.9")).toBe(403);
  // A client that writes an allowed address itself: the balancer appends the real one after it.
  expect(await send("10.2.3.4, 203.0.113.9")).toBe(403);
});
