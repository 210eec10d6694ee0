import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { oneLine } from "../src/log.ts";
import { openSqliteStore } from "../src/state/sqlite-store.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  resetAccounts,
  startGateway,
  tempDir,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { serveLevityWith } from "./support/process.ts";
import { readRequestDb } from "./support/request-db.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * What an upstream says is data, not instructions, and what levity keeps is its user's alone:
 * its log lines cannot be forged by an upstream's words, its headers reach the client only from
 * an allow-list, a logged answer never holds the account's key, and its files are private.
 */

const CLIENT_KEY = "sk-upstream-words-client";
const ADMIN_KEY = "sk-upstream-words-admin";
const ACCOUNT_KEY = "sk-upstream-words-account-key";

let oa: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI(ACCOUNT_KEY);
  gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n  admin_key: ${ADMIN_KEY}\n  cooldown_wait: 0\n  request_log: { log_bodies: true, flush_ms: 20 }\n` +
      upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: ACCOUNT_KEY }],
        },
      ]),
    mappings: "exact:\n  m: oa/gpt-4o-real\n",
  });
});

afterAll(async () => {
  await gw.stop();
  await oa.stop();
});

// A scripted failure cools the only account; each test starts with it healthy.
afterEach(() => resetAccounts(gw.origin, ADMIN_KEY));

const chat = (content = "hi") =>
  fetch(`${gw.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content }] }),
  });

const completion = (content: string) =>
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-real",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });

describe("an upstream's words", () => {
  test.each([
    ["a line break", "a\nb", "a\\nb"],
    ["CR LF", "a\r\nb", "a\\r\\nb"],
    ["a control character", "a\u001bb", "a\\u001bb"],
    ["a Unicode line separator", "a\u2028b", "a\\u2028b"],
    ["a tab, left as it is", "a\tb", "a\tb"],
  ])("%s in a log message stays on one line", (_name, message, logged) =>
    expect(oneLine(message)).toBe(logged),
  );

  test("an upstream error whose message holds a line break cannot forge a log line (levity as a process, its own log)", async () => {
    const levity = await serveLevityWith({
      gateway:
        `proxy:\n  cooldown_wait: 0\n` +
        upstreamsYaml([
          {
            name: "oa",
            protocol: "openai",
            base_url: `${oa.url}/v1`,
            accounts: [{ name: "a", key: ACCOUNT_KEY }],
          },
        ]),
    });
    try {
      oa.replyOnce({
        status: 500,
        body: JSON.stringify({
          error: {
            message: "boom\n2026-01-01T00:00:00.000Z INFO forged: all is well",
            type: "server_error",
          },
        }),
      });
      await fetch(`${levity.origin}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
      });
      await levity.stderr.waitFor(/boom/);
      const lines = levity.stderr.text.split("\n");
      expect(
        lines.some((line) => line.includes("boom\\n2026-01-01T00:00:00.000Z INFO forged")),
      ).toBe(true);
      expect(lines.some((line) => line.startsWith("2026-01-01T00:00:00.000Z INFO forged"))).toBe(
        false,
      );
    } finally {
      await levity.stop();
    }
  });

  test("only the headers a client reads pass on: no cookies, no CORS of the upstream's, nothing it echoes", async () => {
    oa.replyOnce({
      status: 200,
      body: completion("fine"),
      headers: {
        "set-cookie": "session=1",
        "access-control-allow-origin": "*",
        "x-echo": ACCOUNT_KEY,
        "x-ratelimit-remaining-requests": "42",
        "retry-after": "1",
      },
    });
    const response = await chat();
    expect(response.status).toBe(200);
    expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("42");
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("x-echo")).toBeNull();
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect([...response.headers.values()].some((value) => value.includes(ACCOUNT_KEY))).toBe(false);
  });

  test("a logged answer that quotes the account's key keeps the key out of the log", async () => {
    oa.replyOnce({ status: 200, body: completion(`your key is ${ACCOUNT_KEY}`) });
    const response = await chat("which key?");
    const requestId = response.headers.get("x-request-id")!;
    // The client gets what the upstream said; the log does not keep the key.
    expect(await response.text()).toContain(ACCOUNT_KEY);
    const dataDir = join(gw.dir, "data");
    await waitUntil("the answer in the request log", () =>
      readRequestDb(dataDir).rows.some((row) => row.request_id === requestId && row.response_body),
    );
    const row = readRequestDb(dataDir).rows.find((r) => r.request_id === requestId)!;
    expect(row.response_body).toContain("your key is [account key]");
    expect(row.response_body).not.toContain(ACCOUNT_KEY);
  });
});

describe("at rest", () => {
  test("the data directory is 0700 and every database file 0600, whatever the umask", async () => {
    await chat("something to store");
    const dataDir = join(gw.dir, "data");
    await waitUntil("the request log's WAL file", () =>
      existsSync(join(dataDir, "requests.db-wal")),
    );
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    expect(mode(dataDir)).toBe("700");
    for (const name of [
      "levity.db",
      "levity.db-wal",
      "levity.db-shm",
      "requests.db",
      "requests.db-wal",
      "requests.db-shm",
    ]) {
      const path = join(dataDir, name);
      if (existsSync(path)) expect({ name, mode: mode(path) }).toEqual({ name, mode: "600" });
    }
    expect(existsSync(join(dataDir, "requests.db"))).toBe(true);
  });
});

describe("stored conversations", () => {
  test("are bounded in size: past the bound the oldest go first, and a recent conversation is whole", () => {
    const dir = tempDir();
    const store = openSqliteStore(join(dir, "levity.db"), { maxResponseBytes: 10_000 });
    try {
      const turn = (n: number) => [
        {
          role: "user" as const,
          parts: [{ type: "text" as const, text: `${n}:${"x".repeat(1_000)}` }],
        },
      ];
      for (let n = 0; n < 30; n++)
        store.saveResponse({
          id: `resp_${n}`,
          previousId: n > 0 ? `resp_${n - 1}` : undefined,
          model: "m",
          input: turn(n),
          output: [{ type: "text", text: "ok" }],
        });
      expect(store.hasResponse("resp_0")).toBe(false);
      expect(store.hasResponse("resp_29")).toBe(true);
      // About nine tenths of 10,000 characters' worth is kept: eight of these turns.
      const kept = Array.from({ length: 30 }, (_, n) => store.hasResponse(`resp_${n}`)).filter(
        Boolean,
      ).length;
      expect(kept).toBeGreaterThanOrEqual(7);
      expect(kept).toBeLessThanOrEqual(10);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
