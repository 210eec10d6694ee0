import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { silentLogger } from "../src/log.ts";
import { openLogFile } from "../src/observe/sqlite-request-log.ts";
import { startGateway, tempDir, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { runLevity } from "./support/process.ts";
import { readRequestDb } from "./support/request-db.ts";
import { requestRecord } from "./support/request-record.ts";
import { waitUntil } from "./support/wait.ts";

// levity replay: a logged request of each client dialect sent again, through the real CLI process
// and the admin API, to another upstream, another account and another model; --dry-run and
// --diff; what cannot be replayed; the replay's own record; the client key's budget untouched.

const CLIENT_KEY = "sk-client-laptop-replay-0123456789";
const SMALL_KEY = "sk-client-small-replay-0123456789";
const ADMIN_KEY = "sk-admin-replay-0123456789abcdef";
const ACCOUNT_KEYS = {
  oa: ["sk-account-oa-first-secret-11", "sk-account-oa-second-secret-22"],
  an: ["sk-ant-account-first-secret-33", "sk-ant-account-second-secret-44"],
  gm: ["AIzaAccountGeminiFirstSecret55", "AIzaAccountGeminiSecondSecret66"],
};
const SECRETS = [CLIENT_KEY, SMALL_KEY, ADMIN_KEY, ...Object.values(ACCOUNT_KEYS).flat()];

let oa: FakeUpstream;
let an: FakeUpstream;
let gm: FakeUpstream;
let gw: TestGateway;

function gatewayYaml(logBodies: boolean): string {
  return `proxy:
  auth_mode: strict
  cooldown_wait: 0
  admin_key: ${ADMIN_KEY}
  api_keys:
    - { name: laptop, key: ${CLIENT_KEY} }
    - { name: small, key: ${SMALL_KEY}, daily_tokens: 40 }
  request_log:
    flush_ms: 20
    log_bodies: ${logBodies}
    body_max_kb: 2
${upstreamsYaml([
  {
    name: "oa",
    protocol: "openai",
    base_url: `${oa.url}/v1`,
    apis: ["chat", "responses"],
    accounts: [
      { name: "a", key: ACCOUNT_KEYS.oa[0]! },
      { name: "b", key: ACCOUNT_KEYS.oa[1]! },
    ],
  },
  {
    name: "an",
    protocol: "anthropic",
    base_url: an.url,
    accounts: [
      { name: "x", key: ACCOUNT_KEYS.an[0]! },
      { name: "y", key: ACCOUNT_KEYS.an[1]! },
    ],
  },
  {
    name: "gm",
    protocol: "gemini",
    base_url: gm.url,
    accounts: [
      { name: "g", key: ACCOUNT_KEYS.gm[0]! },
      { name: "h", key: ACCOUNT_KEYS.gm[1]! },
    ],
  },
])}`;
}

const MAPPINGS = `exact:
  fast: oa/gpt-4o-real
  claude: an/claude-sonnet-4-5-real
  gem: gm/gemini-2.5-flash-real
  smart: [oa/gpt-4o-real, an/claude-haiku-4-5-real]
`;

beforeAll(() => {
  oa = fakeOpenAI(ACCOUNT_KEYS.oa);
  an = fakeAnthropic(ACCOUNT_KEYS.an);
  gm = fakeGemini(ACCOUNT_KEYS.gm);
  gw = startGateway({ gateway: gatewayYaml(true), mappings: MAPPINGS });
});

afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), gm.stop()]);
});

type Dialect = "openai-chat" | "openai-responses" | "anthropic" | "gemini";

interface Original {
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The client request of each dialect, as its SDK would send it, with the key it authenticates with. */
function original(dialect: Dialect, key = CLIENT_KEY, text = "Say hello"): Original {
  switch (dialect) {
    case "openai-chat":
      return {
        path: "/v1/chat/completions",
        headers: { authorization: `Bearer ${key}` },
        body: { model: "fast", messages: [{ role: "user", content: text }] },
      };
    case "openai-responses":
      return {
        path: "/v1/responses",
        headers: { authorization: `Bearer ${key}` },
        body: { model: "fast", input: text },
      };
    case "anthropic":
      return {
        path: "/v1/messages",
        headers: { "x-api-key": key, "anthropic-version": "2023-06-01" },
        body: { model: "claude", max_tokens: 200, messages: [{ role: "user", content: text }] },
      };
    case "gemini":
      return {
        path: "/v1beta/models/gem:generateContent",
        headers: { "x-goog-api-key": key },
        body: { contents: [{ role: "user", parts: [{ text }] }] },
      };
  }
}

async function send(request: Original): Promise<{ id: string; status: number; text: string }> {
  const response = await fetch(`${gw.origin}${request.path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...request.headers },
    body: JSON.stringify(request.body),
  });
  const text = await response.text();
  const id = response.headers.get("x-request-id")!;
  // In the log (written every 20 ms) before it is replayed.
  await waitUntil(`${id} in the log`, async () => (await logged(id)) !== undefined);
  return { id, status: response.status, text };
}

interface LoggedRecord {
  requestId: string;
  clientKey?: string;
  replayOf?: string;
  upstream?: string;
  account?: string;
  mappedModel?: string;
  status: number;
  requestBody?: string;
  responseBody?: string;
}

async function logs(): Promise<LoggedRecord[]> {
  const response = await fetch(`${gw.origin}/levity/logs?limit=500`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  return ((await response.json()) as { requests: LoggedRecord[] }).requests;
}

async function logged(id: string): Promise<LoggedRecord | undefined> {
  return (await logs()).find((r) => r.requestId === id);
}

/** Each account's request count, as levity accounts shows it. */
async function accountRequests(): Promise<Record<string, number>> {
  const response = await fetch(`${gw.origin}/levity/accounts`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  const { accounts } = (await response.json()) as {
    accounts: { upstream: string; account: string; requests: number }[];
  };
  return Object.fromEntries(accounts.map((a) => [`${a.upstream}/${a.account}`, a.requests]));
}

async function replay(...args: string[]) {
  const run = await runLevity(["replay", ...args, "--url", gw.origin], {
    env: { LEVITY_ADMIN_KEY: ADMIN_KEY },
  });
  expectNoSecret(run.stdout + run.stderr);
  return run;
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

async function adminReplay(id: string, body: unknown, key = ADMIN_KEY) {
  const response = await fetch(`${gw.origin}/levity/replay/${id}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  expectNoSecret(text);
  return { status: response.status, json: JSON.parse(text) };
}

/** What each dialect's original is sent to, and where each replay goes instead. */
const CASES: Record<
  Dialect,
  {
    upstream: FakeUpstream;
    home: string;
    model: string;
    otherAccount: string;
    otherAccountKey: string;
    otherModel: string;
    elsewhere: { to: string; fake: () => FakeUpstream; path: RegExp; keyHeader: string };
  }
> = {
  "openai-chat": {
    upstream: undefined as unknown as FakeUpstream,
    home: "oa",
    model: "gpt-4o-real",
    otherAccount: "oa/b",
    otherAccountKey: ACCOUNT_KEYS.oa[1]!,
    otherModel: "oa/o3-real",
    elsewhere: {
      to: "an/claude-haiku-4-5-real",
      fake: () => an,
      path: /\/v1\/messages$/,
      keyHeader: "x-api-key",
    },
  },
  "openai-responses": {
    upstream: undefined as unknown as FakeUpstream,
    home: "oa",
    model: "gpt-4o-real",
    otherAccount: "oa/b",
    otherAccountKey: ACCOUNT_KEYS.oa[1]!,
    otherModel: "oa/o3-real",
    elsewhere: {
      to: "gm/gemini-2.5-pro-real",
      fake: () => gm,
      path: /\/v1beta\/models\/gemini-2\.5-pro-real:generateContent$/,
      keyHeader: "x-goog-api-key",
    },
  },
  anthropic: {
    upstream: undefined as unknown as FakeUpstream,
    home: "an",
    model: "claude-sonnet-4-5-real",
    otherAccount: "an/y",
    otherAccountKey: ACCOUNT_KEYS.an[1]!,
    otherModel: "an/claude-haiku-4-5-real",
    elsewhere: {
      to: "gm/gemini-2.5-flash-real",
      fake: () => gm,
      path: /\/v1beta\/models\/gemini-2\.5-flash-real:generateContent$/,
      keyHeader: "x-goog-api-key",
    },
  },
  gemini: {
    upstream: undefined as unknown as FakeUpstream,
    home: "gm",
    model: "gemini-2.5-flash-real",
    otherAccount: "gm/h",
    otherAccountKey: ACCOUNT_KEYS.gm[1]!,
    otherModel: "gm/gemini-2.5-pro-real",
    elsewhere: {
      to: "oa/gpt-4o-real",
      fake: () => oa,
      path: /\/v1\/chat\/completions$/,
      keyHeader: "authorization",
    },
  },
};

const fakeNamed = (name: string) => ({ oa, an, gm })[name as "oa" | "an" | "gm"];

describe.each(Object.keys(CASES) as Dialect[])("a logged %s request", (dialect) => {
  const c = CASES[dialect];
  let id: string;
  let originalText: string;

  beforeAll(async () => {
    const sent = await send(original(dialect));
    expect(sent.status).toBe(200);
    id = sent.id;
    originalText = sent.text;
  });

  test("--dry-run to another upstream prints the exact upstream request, secrets masked, and sends nothing", async () => {
    const target = c.elsewhere.fake();
    const before = target.requests.length;
    const counted = await accountRequests();
    const run = await replay(id, "--to", c.elsewhere.to, "--dry-run");
    expect(run.code).toBe(0);
    expect(target.requests.length).toBe(before);
    // No account's turn was taken: every account's request count is as it was.
    expect(await accountRequests()).toEqual(counted);
    const [upstream, model] = [c.elsewhere.to.split("/")[0], c.elsewhere.to.split("/")[1]];
    expect(run.stdout).toContain(`Dry run of ${id}`);
    expect(run.stdout).toContain(`to ${c.elsewhere.to}: levity would send this to ${upstream}`);
    expect(run.stdout).toMatch(new RegExp(`^POST ${target.url}\\S+$`, "m"));
    expect(run.stdout.match(/^POST (\S+)$/m)![1]).toMatch(c.elsewhere.path);
    expect(run.stdout).toContain(`${c.elsewhere.keyHeader}: [masked]`);
    expect(run.stdout).toContain("content-type: application/json");
    // The body is the translated request, with the model asked for.
    const body = JSON.parse(run.stdout.slice(run.stdout.indexOf("\n{") + 1));
    if (upstream === "gm") expect(body.contents[0].parts[0].text).toBe("Say hello");
    else expect(JSON.stringify(body)).toContain(`"model":"${model}"`);
    // A dry run is not a request: nothing new in the log.
    expect((await logs()).filter((r) => r.replayOf === id && r.upstream === upstream)).toEqual([]);
  });

  test("--account sends it to another account of its upstream, logged as a replay of it", async () => {
    const home = fakeNamed(c.home);
    const before = home.requests.length;
    const run = await replay(id, "--account", c.otherAccount);
    expect(run.code).toBe(0);
    expect(home.requests.length).toBe(before + 1);
    expect(home.keysSeen().at(-1)).toBe(c.otherAccountKey);
    const [upstream, account] = c.otherAccount.split("/");
    const replayId = /as (req_\w+): 200 from /.exec(run.stdout)![1]!;
    expect(run.stdout).toContain(
      `: 200 from ${upstream}/${account} (model ${c.model}), 1 attempt.`,
    );
    // The answer in the client's own dialect, as the original was.
    const answer = JSON.parse(run.stdout.slice(run.stdout.indexOf("\n{") + 1));
    const shape = JSON.parse(originalText);
    expect(Object.keys(answer).sort()).toEqual(Object.keys(shape).sort());
    const record = await waitUntil("the replay's record", () => logged(replayId));
    expect(record).toMatchObject({ replayOf: id, upstream, account, status: 200 });
    // The operator's, not the client key's.
    expect(record.clientKey).toBeUndefined();
    expectNoSecret(JSON.stringify(record));
  });

  test("--to another model with --diff: the original's upstream request beside the new one", async () => {
    const run = await replay(id, "--to", c.otherModel, "--diff");
    expect(run.code).toBe(0);
    const [upstream, model] = c.otherModel.split("/") as [string, string];
    expect(run.stdout).toContain(`: 200 from ${upstream}/`);
    expect(run.stdout).toContain(
      `--- original: ${c.home}, account ${c.home === "oa" ? "a" : c.home === "an" ? "x" : "g"} (computed now as levity would send it`,
    );
    expect(run.stdout).toMatch(
      new RegExp(`^\\+\\+\\+ replay: ${upstream}, account \\w+ \\(as sent\\)$`, "m"),
    );
    const diff = run.stdout.slice(run.stdout.indexOf("--- original"));
    if (upstream === "gm") {
      // Gemini names the model in the URL.
      expect(diff).toMatch(new RegExp(`^- POST \\S+/models/${c.model}:generateContent$`, "m"));
      expect(diff).toMatch(new RegExp(`^\\+ POST \\S+/models/${model}:generateContent$`, "m"));
    } else {
      expect(diff).toMatch(new RegExp(`^- +"model": "${c.model}",?$`, "m"));
      expect(diff).toMatch(new RegExp(`^\\+ +"model": "${model}",?$`, "m"));
    }
    // Only what changed is marked: the prompt is the same on both sides.
    expect(diff).not.toMatch(/^[-+] .*Say hello/m);
  });

  test("--dry-run --diff to another upstream, through the admin API: both requests, nothing sent", async () => {
    const target = c.elsewhere.fake();
    const before = target.requests.length;
    const { status, json } = await adminReplay(id, {
      to: c.elsewhere.to,
      dryRun: true,
      diff: true,
    });
    expect(status).toBe(200);
    expect(target.requests.length).toBe(before);
    expect(json.replay).toBeUndefined();
    expect(json.diff.original.source).toBe("computed");
    expect(json.diff.replay.source).toBe("dry-run");
    expect(json.diff.original.request.upstream).toBe(c.home);
    expect(json.diff.replay.request.upstream).toBe(c.elsewhere.to.split("/")[0]);
    expect(json.diff.text).toMatch(/^- POST /m);
    expect(json.diff.text).toMatch(/^\+ POST /m);
    expect(json.upstreamRequest.headers[c.elsewhere.keyHeader]).toBe("[masked]");
  });
});

describe("--account alone", () => {
  test("on an upstream the original did not go to: the mapping's target there, or a 400 asking for --to", async () => {
    const { id } = await send({
      ...original("openai-chat"),
      body: { model: "smart", messages: [{ role: "user", content: "Say hello" }] },
    });
    expect((await logged(id))?.upstream).toBe("oa");
    const fallback = await replay(id, "--account", "an/y", "--dry-run");
    expect(fallback.code).toBe(0);
    expect(fallback.stdout).toContain(
      "to an/claude-haiku-4-5-real: levity would send this to an, account y, and sent nothing.",
    );
    const nowhere = await replay(id, "--account", "gm/h");
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain(
      `Request ${id} did not go to upstream "gm" and its mapping names no target there: give the model too, with to: "gm/MODEL".`,
    );
  });
});

describe("--json", () => {
  test("prints the admin API's answer as it is, one line", async () => {
    const { id } = await send(original("anthropic"));
    const run = await replay(id, "--dry-run", "--diff", "--json");
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    const answer = JSON.parse(run.stdout);
    expect(answer).toMatchObject({
      original: { requestId: id, dialect: "anthropic-messages", model: "claude", upstream: "an" },
      target: { to: 'the mapping of "claude"' },
      dryRun: true,
      upstreamRequest: { upstream: "an", method: "POST", headers: { "x-api-key": "[masked]" } },
      diff: { original: { source: "computed" }, replay: { source: "dry-run" } },
    });
  });
});

describe("token counts", () => {
  test("an Anthropic count_tokens request, dry run to Gemini: its countTokens call", async () => {
    const { id, status } = await send({
      path: "/v1/messages/count_tokens",
      headers: { "x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01" },
      body: { model: "claude", messages: [{ role: "user", content: "Count me" }] },
    });
    expect(status).toBe(200);
    const before = gm.requests.length;
    const run = await replay(id, "--to", "gm/gemini-2.5-flash-real", "--dry-run");
    expect(run.code).toBe(0);
    expect(gm.requests.length).toBe(before);
    expect(run.stdout).toMatch(/^POST \S+\/v1beta\/models\/gemini-2\.5-flash-real:countTokens$/m);
    expect(run.stdout).toContain("x-goog-api-key: [masked]");
    const sent = await replay(id, "--to", "gm/gemini-2.5-flash-real");
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/"input_tokens": \d+/);
  });
});

describe("Codex's inline compaction", () => {
  test("--to an upstream without Responses: the compaction is emulated there, not forwarded to the mapping's", async () => {
    const { id } = await send({
      ...original("openai-responses"),
      body: {
        model: "fast",
        store: false,
        input: [
          {
            type: "message",
            role: "user",
            content: [{ type: "input_text", text: "Fix the build" }],
          },
          { type: "compaction_trigger" },
        ],
      },
    });
    const [oaBefore, gmBefore] = [oa.requests.length, gm.requests.length];
    const run = await replay(id, "--to", "gm/gemini-2.5-flash-real");
    expect(run.code).toBe(0);
    expect(oa.requests.length).toBe(oaBefore);
    expect(gm.requests.length).toBe(gmBefore + 1);
    expect(JSON.stringify(gm.last().json)).toContain("Write the handoff summary");
    expect(run.stdout).toContain('"type": "compaction"');
  });
});

describe("what cannot be replayed", () => {
  test("an unknown id: 404 in the admin API's error shape; the CLI says so and exits 1", async () => {
    const { status, json } = await adminReplay("req_nosuchrequest", {});
    expect(status).toBe(404);
    expect(json.error.message).toContain('No request "req_nosuchrequest" in the request log');
    const run = await replay("req_nosuchrequest");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("answered 404");
    expect(run.stdout).toBe("");
  });

  test("no id: the usage, exit 2", async () => {
    const run = await replay();
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "levity replay: name the request to replay: levity replay REQUEST_ID",
    );
  });

  test("a bad --to: 400 naming the upstreams", async () => {
    const { id } = await send(original("openai-chat"));
    const { status, json } = await adminReplay(id, { to: "nowhere/some-model" });
    expect(status).toBe(400);
    expect(json.error.message).toBe(
      'to: no upstream is named "nowhere"; the upstreams are oa, an, gm.',
    );
    const run = await replay(id, "--to", "no-slash");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('to must be written UPSTREAM/MODEL, not "no-slash"');
    const control = await adminReplay(id, { to: "oa/gpt\u0000x" });
    expect(control.status).toBe(400);
    expect(control.json.error.message).toBe(
      "to: the model must be at most 256 printable characters.",
    );
    const unknownAccount = await adminReplay(id, { account: "oa/zz" });
    expect(unknownAccount.json.error.message).toBe(
      'account: upstream "oa" has no account "zz"; its accounts are a, b.',
    );
  });

  test("a dry run to an upstream whose accounts are all disabled says what levity would answer instead", async () => {
    const { id } = await send(original("openai-chat"));
    const admin = (path: string) =>
      fetch(`${gw.origin}/levity/accounts/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ upstream: "gm" }),
      });
    expect((await admin("disable")).status).toBe(200);
    try {
      const run = await replay(id, "--to", "gm/gemini-2.5-flash-real", "--dry-run");
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(
        `Dry run of ${id} (POST /v1/chat/completions, openai-chat, model fast) to gm/gemini-2.5-flash-real: levity would send nothing upstream and answer 503: No usable account left for upstream "gm": g: disabled by an admin`,
      );
    } finally {
      expect((await admin("enable")).status).toBe(200);
    }
  });

  test("a model list is no generation: 422, and the CLI exits 1", async () => {
    const list = await fetch(`${gw.origin}/v1/models`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
    });
    await list.text();
    const id = list.headers.get("x-request-id")!;
    await waitUntil(`${id} in the log`, async () => (await logged(id)) !== undefined);
    const { status } = await adminReplay(id, {});
    expect(status).toBe(422);
    const run = await replay(id);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `Request ${id} was GET /v1/models: only generation and token-count requests can be replayed.`,
    );
  });

  test("a replay the upstream refuses prints its answer and exits 1", async () => {
    const { id } = await send(original("openai-chat"));
    oa.replyOnce({
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        error: { message: "This model does not take that.", type: "invalid_request_error" },
      }),
    });
    const run = await replay(id, "--account", "oa/a");
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/as req_\w+: 400 from oa\/a \(model gpt-4o-real\), 1 attempt\./);
    expect(run.stdout).toContain('"message": "This model does not take that."');
  });

  test("only the admin key: a client key is refused", async () => {
    const { id } = await send(original("openai-chat"));
    const { status } = await adminReplay(id, {}, CLIENT_KEY);
    expect(status).toBe(401);
  });

  test("a body cut at body_max_kb is not replayed, and the message says how to keep it whole", async () => {
    const { id } = await send(original("openai-chat", CLIENT_KEY, "long ".repeat(600)));
    const before = oa.requests.length;
    const run = await replay(id);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `Request ${id}'s body was cut at request_log.body_max_kb (2 KB) when it was logged, and a half body is not replayed. Raise request_log.body_max_kb in gateway.yaml`,
    );
    expect(oa.requests.length).toBe(before);
  });

  test("a request logged without its body says how to turn body logging on", async () => {
    writeFileSync(join(gw.dir, "gateway.yaml"), gatewayYaml(false));
    await reload();
    try {
      const { id } = await send(original("anthropic"));
      const run = await replay(id, "--dry-run");
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `Request ${id} was logged without its body, so it cannot be replayed. The request log keeps bodies only with request_log.log_bodies: true in gateway.yaml`,
      );
    } finally {
      writeFileSync(join(gw.dir, "gateway.yaml"), gatewayYaml(true));
      await reload();
    }
  });
});

async function reload(): Promise<void> {
  const response = await fetch(`${gw.origin}/levity/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  expect(response.status).toBe(200);
}

describe("the replay's record and the client key", () => {
  test("a key whose daily budget the original used up: the replay is served and its usage does not grow", async () => {
    const first = await send(original("openai-chat", SMALL_KEY, "spend the budget ".repeat(20)));
    expect(first.status).toBe(200);
    // The budget is spent: the key's next request is refused.
    const refused = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${SMALL_KEY}` },
      body: JSON.stringify(original("openai-chat", SMALL_KEY).body),
    });
    expect(refused.status).toBe(429);
    const usage = async () =>
      (
        (await (
          await fetch(`${gw.origin}/levity/keys/small`, {
            headers: { authorization: `Bearer ${ADMIN_KEY}` },
          })
        ).json()) as { usage: { tokens_today: number; requests_last_minute: number } }
      ).usage;
    const before = await usage();
    expect(before.tokens_today).toBeGreaterThanOrEqual(40);
    const run = await replay(first.id);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/as req_\w+: 200 from oa\//);
    const replayId = /as (req_\w+): 200/.exec(run.stdout)![1]!;
    const record = await waitUntil("the replay's record", () => logged(replayId));
    expect(record.replayOf).toBe(first.id);
    expect(await usage()).toEqual(before);
    // The usage report counts it under no key ("-"), not under the original's.
    const byKey = (await (
      await fetch(`${gw.origin}/levity/usage?by=key&since=1h`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json()) as { rows: { name: string; requests: number }[] };
    const small = (await logs()).filter((r) => r.clientKey === "small").length;
    expect(byKey.rows.find((r) => r.name === "small")?.requests).toBe(small);
    expect(byKey.rows.find((r) => r.name === "-")?.requests).toBe(
      (await logs()).filter((r) => r.clientKey === undefined).length,
    );
  });

  test("levity logs marks a replay with the id it replays, in the SQLite file too", async () => {
    const { id } = await send(original("gemini"));
    const run = await replay(id);
    expect(run.code).toBe(0);
    const replayId = /as (req_\w+): 200/.exec(run.stdout)![1]!;
    await waitUntil("the replay's record", () => logged(replayId));
    const listed = await runLevity(["logs", "--url", gw.origin, "-n", "5"], {
      env: { LEVITY_ADMIN_KEY: ADMIN_KEY },
    });
    const line = listed.stdout.split("\n").find((l) => l.includes(replayId));
    expect(line ?? listed.stdout).toContain(`replay of ${id}`);
    const { rows } = readRequestDb(join(gw.dir, "data"));
    expect(rows.find((r) => r.request_id === replayId)?.replay_of).toBe(id);
    expect(rows.find((r) => r.request_id === id)?.replay_of).toBeNull();
  });

  test("a streamed original is replayed streamed, printed whole as its events came", async () => {
    const { id } = await send({
      ...original("openai-chat"),
      body: { ...original("openai-chat").body, stream: true },
    });
    const run = await replay(id, "--to", "an/claude-haiku-4-5-real");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(", streamed) as req_");
    expect(run.stdout).toMatch(/^data: \{"id":"chatcmpl-/m);
    expect(run.stdout.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  test("a streamed Gemini original is replayed in alt=sse events", async () => {
    const { id } = await send({
      ...original("gemini"),
      path: "/v1beta/models/gem:streamGenerateContent?alt=sse",
    });
    const before = gm.requests.length;
    const run = await replay(id, "--account", "gm/h");
    expect(run.code).toBe(0);
    expect(gm.requests.length).toBe(before + 1);
    expect(gm.last().path).toBe("/v1beta/models/gemini-2.5-flash-real:streamGenerateContent");
    expect(gm.last().query.get("alt")).toBe("sse");
    expect(run.stdout).toContain(", streamed) as req_");
    expect(run.stdout).toMatch(/^data: \{"candidates":/m);
  });
});

describe("requests.db", () => {
  test("a log file from before replay_of gains the column; its rows are no replays", () => {
    const dir = tempDir("levity-replay-db-");
    const path = join(dir, "requests.db");
    const old = new Database(path, { create: true });
    old.exec(`CREATE TABLE requests (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, request_id TEXT NOT NULL,
      client_key TEXT, method TEXT NOT NULL, route TEXT NOT NULL, unmatched INTEGER NOT NULL, dialect TEXT,
      requested_model TEXT, mapped_model TEXT, upstream TEXT, account TEXT, attempts INTEGER NOT NULL,
      status INTEGER NOT NULL, stream INTEGER NOT NULL, latency_ms REAL NOT NULL, ttfb_ms REAL NOT NULL,
      input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
      cache_write_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL, cost_usd REAL,
      error TEXT, request_body TEXT, response_body TEXT)`);
    old.exec(`INSERT INTO requests (time, request_id, method, route, unmatched, attempts, status, stream,
      latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
      VALUES (${Date.now()}, 'req_old', 'POST', '/v1/chat/completions', 0, 1, 200, 0, 1, 1, 10, 5, 0, 0)`);
    old.close();
    const log = openLogFile({
      path,
      retentionMs: 86_400_000,
      maxBytes: 1e9,
      log: silentLogger,
    });
    try {
      log.write([
        requestRecord("req_new", { inputTokens: 1, outputTokens: 1, replayOf: "req_old" }),
      ]);
      const [newest, oldest] = log.query({});
      expect(newest).toMatchObject({ requestId: "req_new", replayOf: "req_old" });
      expect(oldest!.requestId).toBe("req_old");
      expect(oldest).not.toHaveProperty("replayOf");
      expect(log.query({ requestId: "req_old" }).map((r) => r.requestId)).toEqual(["req_old"]);
    } finally {
      log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a replay and a sticky conversation", () => {
  test("a replay pinned to another account does not move the client's conversation there", async () => {
    const sticky = fakeAnthropic(ACCOUNT_KEYS.an);
    const own = startGateway({
      gateway: `proxy:
  auth_mode: strict
  cooldown_wait: 0
  admin_key: ${ADMIN_KEY}
  api_keys:
    - { name: laptop, key: ${CLIENT_KEY} }
  request_log: { flush_ms: 20, log_bodies: true }
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${sticky.url}
    strategy: sticky
    accounts:
      - { name: x, key: ${ACCOUNT_KEYS.an[0]} }
      - { name: y, key: ${ACCOUNT_KEYS.an[1]} }
`,
      mappings: "exact:\n  claude: an/claude-sonnet-4-5-real\n",
    });
    try {
      // One conversation, named by its user id: the sticky strategy keeps it on one account.
      const turn = () =>
        fetch(`${own.origin}/v1/messages`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-api-key": CLIENT_KEY,
            "anthropic-version": "2023-06-01",
          },
          body: JSON.stringify({
            model: "claude",
            max_tokens: 32,
            metadata: { user_id: "user-sticky-1" },
            messages: [{ role: "user", content: "hello" }],
          }),
        });
      const first = await turn();
      await first.text();
      const home = first.headers.get("x-account")!;
      const other = home === "x" ? "y" : "x";
      const id = first.headers.get("x-request-id")!;
      await waitUntil(`${id} in the log`, async () => {
        const response = await fetch(`${own.origin}/levity/logs?limit=10`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        });
        const { requests } = (await response.json()) as { requests: { requestId: string }[] };
        return requests.some((r) => r.requestId === id);
      });
      const replayed = await fetch(`${own.origin}/levity/replay/${id}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ account: `an/${other}` }),
      });
      expect(replayed.status).toBe(200);
      const answer = (await replayed.json()) as { upstreamRequest: { account: string } };
      expect(answer.upstreamRequest.account).toBe(other);
      const next = await turn();
      await next.text();
      expect(next.headers.get("x-account")).toBe(home);
    } finally {
      await own.stop();
      await sticky.stop();
    }
  });
});
