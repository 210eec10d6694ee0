import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import OpenAI from "openai";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  restartGateway,
  startGateway,
  tempDir,
  writeConfig,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { makeKey } from "./support/keys.ts";
import { runLevity, serveLevity } from "./support/process.ts";
import { rmSync } from "node:fs";
import { rememberSecret } from "./support/secret-audit.ts";

// Client keys managed without editing gateway.yaml: the admin API under /levity/keys and
// `levity keys` on the command line, against the real gateway on loopback. A key's secret is in
// the one answer that makes it; neither it nor its SHA-256 is anywhere else.

const ADMIN_KEY = "sk-admin-keys-0123456789";
const DESK_KEY = "sk-client-desk-keys-0123456789";
const UPSTREAM_KEY = "sk-upstream-keys-0123456789";
const PROCESSES = 30_000;

const digestOf = (secret: string) => createHash("sha256").update(secret).digest("hex");

let oa: FakeUpstream;
let gw: TestGateway;
/** Auth off and no admin key: `keys add` warns that no client is asked for a key yet. */
let open: TestGateway;
/** Every secret made here, to be looked for where it must not be. */
const made: string[] = [];

const admin = (path: string, init: RequestInit = {}, origin = gw.origin) =>
  fetch(`${origin}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
  });
const patch = (name: string, body: unknown) =>
  admin(`/levity/keys/${name}`, { method: "PATCH", body: JSON.stringify(body) });

/** What an operator can read of the gateway: each must hold no secret and no digest. */
async function everythingShown(): Promise<Record<string, string>> {
  return {
    list: await (await admin("/levity/keys")).text(),
    metrics: await (await admin("/metrics")).text(),
    requestLog: await (await admin("/levity/logs?limit=1000")).text(),
    log: gw.log.lines.join("\n"),
  };
}

function expectNoSecretIn(texts: Record<string, string>): void {
  for (const secret of made)
    for (const [where, text] of Object.entries(texts)) {
      expect({ where, leaked: text.includes(secret) }).toEqual({ where, leaked: false });
      expect({ where, digest: text.includes(digestOf(secret)) }).toEqual({ where, digest: false });
    }
}

beforeAll(() => {
  oa = fakeOpenAI(UPSTREAM_KEY);
  const upstreams = upstreamsYaml([
    {
      name: "oa",
      protocol: "openai",
      base_url: `${oa.url}/v1`,
      accounts: [{ name: "main", key: UPSTREAM_KEY }],
    },
  ]);
  gw = startGateway({
    gateway: `proxy:
  auth_mode: strict
  api_keys: [{ name: desk, key: ${DESK_KEY}, rpm: 600 }]
  admin_key: ${ADMIN_KEY}
  request_log: { flush_ms: 20 }
${upstreams}`,
    mappings: "default: oa/gpt-4o-real\n",
  });
  open = startGateway({ gateway: upstreams, mappings: "default: oa/gpt-4o-real\n" });
});

afterAll(async () => {
  await gw?.stop();
  await open?.stop();
  await oa?.stop();
});

describe("the keys admin API", () => {
  test("POST /levity/keys makes a key: 201 with its view and its secret, the only answer that holds it", async () => {
    const answer = await makeKey(gw.origin, ADMIN_KEY, {
      name: "alice",
      models: ["gpt-*", "o3"],
      rpm: 60,
      tpm: 50_000,
      concurrency: 4,
      daily_tokens: 1_000_000,
      monthly_usd: 25.5,
      expires: "2030-12-31",
      ips: ["127.0.0.1/32", "10.0.0.0/8"],
    });
    expect(answer.status).toBe(201);
    made.push(answer.secret!);
    expect(answer.secret).toMatch(/^sk-levity-[A-Za-z0-9_-]{32}$/);
    expect(Object.keys(answer.body).sort()).toEqual(["key", "secret"]);
    const view = answer.body.key;
    expect(view).toMatchObject({
      name: "alice",
      source: "levity",
      status: "active",
      limits: {
        models: ["gpt-*", "o3"],
        rpm: 60,
        tpm: 50_000,
        concurrency: 4,
        daily_tokens: 1_000_000,
        monthly_usd: 25.5,
        // A bare date: the key works through that whole day (UTC).
        expires: "2031-01-01T00:00:00.000Z",
        ips: ["127.0.0.1/32", "10.0.0.0/8"],
      },
      usage: {
        requests_last_minute: 0,
        tokens_last_minute: 0,
        in_flight: 0,
        tokens_today: 0,
        usd_this_month: 0,
      },
    });
    expect(Date.now() - Date.parse(view.created_at)).toBeLessThan(60_000);
    expect(view.revoked_at).toBeUndefined();
    const day = new Date(view.usage.day_resets_at);
    expect([day.getUTCHours(), day.getUTCMinutes(), day.getUTCSeconds()]).toEqual([0, 0, 0]);
    expect(new Date(view.usage.month_resets_at).getUTCDate()).toBe(1);
    expect(JSON.stringify(view)).not.toContain(answer.secret!);
    expect(JSON.stringify(view)).not.toContain(digestOf(answer.secret!));

    // A key whose expiry has passed is listed as expired.
    const old = await makeKey(gw.origin, ADMIN_KEY, { name: "old", expires: "2020-01-01" });
    expect(old.status).toBe(201);
    made.push(old.secret!);
    expect([old.body.key.status, old.body.key.limits.expires]).toEqual([
      "expired",
      "2020-01-02T00:00:00.000Z",
    ]);
    expect((await admin("/levity/keys/old/revoke", { method: "POST" })).status).toBe(200);

    // A key with no limits at all.
    const bare = await makeKey(gw.origin, ADMIN_KEY, { name: "bob@example.com" });
    expect(bare.status).toBe(201);
    made.push(bare.secret!);
    expect(bare.body.key.limits).toEqual({});
  });

  test("GET lists gateway.yaml's keys first (read-only) and the made ones by name; GET one, or 404", async () => {
    const list = await bodyOf(await admin("/levity/keys"));
    expect(list.keys.map((k: any) => [k.name, k.source, k.status])).toEqual([
      ["desk", "gateway.yaml", "active"],
      ["alice", "levity", "active"],
      ["bob@example.com", "levity", "active"],
      ["old", "levity", "revoked"],
    ]);
    expect(list.keys[0].limits).toEqual({ rpm: 600 });
    for (const key of list.keys) expect(key.secret).toBeUndefined();

    const one = await admin("/levity/keys/alice");
    expect(one.status).toBe(200);
    expect(await bodyOf(one)).toEqual(list.keys[1]);
    // A name with an '@', percent-encoded as a client may send it.
    expect((await bodyOf(await admin("/levity/keys/bob%40example.com"))).name).toBe(
      "bob@example.com",
    );

    const missing = await admin("/levity/keys/nobody");
    expect(missing.status).toBe(404);
    const error = (await bodyOf(missing)).error;
    expect(error.message).toContain('No key is named "nobody"');
  });

  test("a name taken is 409, bad limits are 400 naming the field, an unknown field or a bad name 400", async () => {
    const taken = await makeKey(gw.origin, ADMIN_KEY, { name: "alice" });
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toContain('A key named "alice" already exists');
    // gateway.yaml's names are taken too.
    expect((await makeKey(gw.origin, ADMIN_KEY, { name: "desk" })).status).toBe(409);

    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: "c1", rpm: 0 }, /^rpm must be at least 1/],
      [{ name: "c2", rpm: "fast" }, /^rpm must be a number/],
      [{ name: "c3", monthly_usd: -1 }, /^monthly_usd must be at least 0/],
      [{ name: "c4", expires: "someday" }, /^expires must be a date/],
      [{ name: "c5", ips: ["not-a-network"] }, /^ips\.0 must be an address or a CIDR network/],
      [{ name: "c6", models: [] }, /^models must name at least one model/],
      [{ name: "c7", colour: "blue" }, /colour/],
      [{ rpm: 5 }, /^name /],
      [{ name: "has space" }, /is not a key name/],
    ];
    for (const [body, message] of cases) {
      const answer = await makeKey(gw.origin, ADMIN_KEY, body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.body.error.message).toMatch(message);
      expect(answer.secret).toBeUndefined();
    }
    // A body that is not JSON is a 400 too, never a 500.
    const garbled = await admin("/levity/keys", { method: "POST", body: "{name:" });
    expect(garbled.status).toBe(400);
    // None of them was made.
    const names = (await bodyOf(await admin("/levity/keys"))).keys.map((k: any) => k.name);
    expect(names).toEqual(["desk", "alice", "bob@example.com", "old"]);
  });

  test("PATCH changes limits (null removes one); gateway.yaml's keys are changed there; unknown is 404", async () => {
    const changed = await patch("alice", { rpm: 120, daily_tokens: null, ips: null });
    expect(changed.status).toBe(200);
    const view = await bodyOf(changed);
    expect(view.limits.rpm).toBe(120);
    expect(view.limits.daily_tokens).toBeUndefined();
    expect(view.limits.ips).toBeUndefined();
    expect(view.limits.models).toEqual(["gpt-*", "o3"]);
    expect((await bodyOf(await admin("/levity/keys/alice"))).limits).toEqual(view.limits);

    const bad = await patch("alice", { tpm: 1.5 });
    expect(bad.status).toBe(400);
    expect((await bodyOf(bad)).error.message).toMatch(/^tpm must be a whole number/);

    const config = await patch("desk", { rpm: 1 });
    expect(config.status).toBe(400);
    expect((await bodyOf(config)).error.message).toContain("defined in gateway.yaml");

    expect((await patch("nobody", { rpm: 1 })).status).toBe(404);
  });

  test("revoke marks the key revoked with its time, once; gateway.yaml's keys cannot be", async () => {
    const revoked = await admin("/levity/keys/bob@example.com/revoke", { method: "POST" });
    expect(revoked.status).toBe(200);
    const view = await bodyOf(revoked);
    expect(view.status).toBe("revoked");
    expect(Date.now() - Date.parse(view.revoked_at)).toBeLessThan(60_000);
    const again = await bodyOf(
      await admin("/levity/keys/bob@example.com/revoke", { method: "POST" }),
    );
    expect(again.revoked_at).toBe(view.revoked_at);

    const config = await admin("/levity/keys/desk/revoke", { method: "POST" });
    expect(config.status).toBe(400);
    expect((await bodyOf(config)).error.message).toContain("defined in gateway.yaml");
    expect((await admin("/levity/keys/nobody/revoke", { method: "POST" })).status).toBe(404);
  });

  test("the keys API is the admin key's only: no key, or a client key, is 401", async () => {
    for (const authorization of [undefined, `Bearer ${DESK_KEY}`, `Bearer ${made[0]}`]) {
      const list = await fetch(`${gw.origin}/levity/keys`, {
        headers: authorization ? { authorization } : {},
      });
      expect(list.status).toBe(401);
      const add = await fetch(`${gw.origin}/levity/keys`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({ name: "intruder" }),
      });
      expect(add.status).toBe(401);
    }
  });

  test("made keys, their limits and revocations outlive a restart", async () => {
    gw = await restartGateway(gw);
    const keys = (await bodyOf(await admin("/levity/keys"))).keys;
    expect(keys.map((k: any) => [k.name, k.status, k.limits.rpm])).toEqual([
      ["desk", "active", 600],
      ["alice", "active", 120],
      ["bob@example.com", "revoked", undefined],
      ["old", "revoked", undefined],
    ]);
  });

  test("a made key is a client key for the OpenAI SDK; a revoked one gets 401", async () => {
    const answer = await makeKey(gw.origin, ADMIN_KEY, { name: "carol" });
    made.push(answer.secret!);
    const client = new OpenAI({
      apiKey: answer.secret!,
      baseURL: `${gw.origin}/v1`,
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(reply.choices[0]!.message.content).toBeTruthy();
    await admin("/levity/keys/carol/revoke", { method: "POST" });
    const refused = await client.chat.completions
      .create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test("no secret and no digest in the list, /metrics, the request log or the gateway's log", async () => {
    // Traffic, so the log and the metrics have something to say.
    const client = new OpenAI({ apiKey: DESK_KEY, baseURL: `${gw.origin}/v1`, maxRetries: 0 });
    await client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "hi" }],
    });
    for (const secret of made)
      await fetch(`${gw.origin}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    expect(made.length).toBeGreaterThanOrEqual(2);
    expectNoSecretIn(await everythingShown());
    expect(gw.log.lines.join("\n")).toContain('admin added the client key "alice"');
  });
});

describe("levity keys", () => {
  const env = { LEVITY_ADMIN_KEY: ADMIN_KEY };
  const keys = (args: string[], origin = gw.origin, extra: Record<string, string> = env) =>
    runLevity(["keys", ...args, "--url", origin], { env: extra });

  test(
    "add prints the secret once with how a client sends it; list, show, update and revoke name the key",
    async () => {
      const add = await keys([
        "add",
        "dave",
        "--models",
        "gpt-*",
        "--models",
        "claude-*",
        "--rpm",
        "30",
        "--daily-tokens",
        "200000",
        "--monthly-usd",
        "10",
        "--expires",
        "2030-06-30",
        "--ips",
        "127.0.0.1",
      ]);
      expect(add.code).toBe(0);
      const secret = /^ {2}(sk-levity-\S+)$/m.exec(add.stdout)?.[1];
      expect(secret).toBeDefined();
      rememberSecret(secret!);
      made.push(secret!);
      expect(add.stdout).toContain("will not be shown again");
      expect(add.stdout).toContain(`A client sends it to ${gw.origin} as Authorization: Bearer`);
      // This gateway asks for keys: no warning.
      expect(add.stderr).toBe("");

      const list = await keys(["list"]);
      expect(list.code).toBe(0);
      const lines = list.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(
        /^NAME\s+SOURCE\s+STATUS\s+LIMITS\s+REQ\/MIN\s+TOKENS TODAY\s+\$ MONTH$/,
      );
      expect(lines.find((l) => l.startsWith("desk"))).toMatch(
        /^desk\s+gateway\.yaml\s+active\s+rpm=600\s+\d+\s+\d+\s+\$0\.00$/,
      );
      expect(lines.find((l) => l.startsWith("dave"))).toMatch(
        /^dave\s+levity\s+active\s+models=gpt-\*,claude-\* rpm=30 daily_tokens=200000 monthly_usd=\$10\.00 expires=2030-06-30 ips=127\.0\.0\.1\s+0\s+0\s+\$0\.00$/,
      );
      expect(lines.find((l) => l.startsWith("bob@example.com"))).toMatch(/\srevoked\s/);

      const show = await keys(["show", "dave"]);
      expect(show.code).toBe(0);
      expect(show.stdout).toMatch(/^name:\s+dave$/m);
      expect(show.stdout).toMatch(/^status:\s+active$/m);
      expect(show.stdout).toMatch(/^today:\s+0 tokens \(resets \d{4}-\d\d-\d\dT00:00:00\.000Z\)$/m);

      const update = await keys(["update", "dave", "--rpm", "90", "--no-daily-tokens", "--no-ips"]);
      expect(update.code).toBe(0);
      expect(update.stdout).toMatch(
        /^limits:\s+models=gpt-\*,claude-\* rpm=90 monthly_usd=\$10\.00 expires=2030-06-30$/m,
      );

      const json = await keys(["show", "dave", "--json"]);
      expect(JSON.parse(json.stdout).limits.rpm).toBe(90);

      const revoke = await keys(["revoke", "dave"]);
      expect(revoke.code).toBe(0);
      expect(revoke.stdout).toMatch(
        /^Revoked the key "dave" at \d{4}-.+Z: a client sending it is refused/,
      );
      expect(
        JSON.parse((await keys(["list", "--json"])).stdout).find((k: any) => k.name === "dave")
          .status,
      ).toBe("revoked");

      for (const output of [list.stdout, show.stdout, update.stdout, json.stdout, revoke.stdout]) {
        expect(output).not.toContain(secret!);
        expect(output).not.toContain(digestOf(secret!));
      }
    },
    PROCESSES,
  );

  test(
    "its mistakes are said plainly: a gateway.yaml key, a bad limit, no change, a missing name, unknown keys",
    async () => {
      const config = await keys(["update", "desk", "--rpm", "1"]);
      expect(config.code).toBe(1);
      expect(config.stderr).toContain("defined in gateway.yaml");

      const bad = await keys(["add", "erin", "--rpm", "lots"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("rpm must be a number");
      expect(bad.stdout).toBe("");

      const nothing = await keys(["update", "alice"]);
      expect(nothing.code).toBe(2);
      expect(nothing.stderr).toContain("say what to change");

      const both = await keys(["update", "alice", "--rpm", "5", "--no-rpm"]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("--rpm and --no-rpm");

      const unnamed = await keys(["show"]);
      expect(unnamed.code).toBe(2);
      expect(unnamed.stderr).toContain("name the key");

      const missing = await keys(["show", "nobody"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('No key is named "nobody"');
    },
    PROCESSES,
  );

  test(
    "add warns when the gateway's auth is off: keys are not asked for until auth_mode says so",
    async () => {
      const add = await keys(["add", "frank", "--rpm", "10"], open.origin, {});
      expect(add.code).toBe(0);
      const secret = /^ {2}(sk-levity-\S+)$/m.exec(add.stdout)?.[1];
      rememberSecret(secret!);
      expect(add.stderr).toContain("auth is off");
      expect(add.stderr).toContain("auth_mode: strict");
      const json = await keys(["add", "grace", "--json"], open.origin, {});
      const answer = JSON.parse(json.stdout);
      rememberSecret(answer.secret);
      expect(answer.key.name).toBe("grace");
    },
    PROCESSES,
  );
});

describe("the start-up block", () => {
  test(
    "counts the keys made with levity keys add beside gateway.yaml's",
    async () => {
      const dir = tempDir();
      writeConfig(dir, {
        gateway: `proxy:\n  auth_mode: strict\n  api_key: ${DESK_KEY}\n  admin_key: ${ADMIN_KEY}\n`,
      });
      const first = await serveLevity(["--config", dir], { cwd: dir });
      expect(first.stdout.text).toContain("auth       strict: 1 client key, sent as");
      for (const name of ["one", "two", "gone"]) {
        const answer = await makeKey(first.origin, ADMIN_KEY, { name });
        made.push(answer.secret!);
      }
      const revoked = await fetch(`${first.origin}/levity/keys/gone/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      expect(revoked.status).toBe(200);
      first.kill();
      await first.exited;
      const again = await serveLevity(["--config", dir], { cwd: dir });
      expect(again.stdout.text).toContain(
        "auth       strict: 1 client key in gateway.yaml and 2 made with levity keys add, sent as",
      );
      again.kill();
      await again.exited;
      rmSync(dir, { recursive: true, force: true });
    },
    PROCESSES,
  );
});
