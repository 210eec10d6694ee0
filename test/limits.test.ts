import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  REPO,
  resetAccounts,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// Bad input and broken upstreams get a clear answer in the client's own shape, never a 500.

let oa: FakeUpstream;
let gw: TestGateway;
let closedPort: number;

beforeAll(async () => {
  oa = fakeOpenAI("sk-upstream-1234");
  const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  closedPort = closed.port!;
  await closed.stop(true);
  gw = startGateway({
    gateway:
      "proxy:\n  cooldown_wait: 0\n  max_body_mb: 1\n  request_timeout: 1\n" +
      upstreamsYaml([
        { name: "echo", protocol: "echo" },
        {
          name: "oa",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: "sk-upstream-1234" }],
        },
        {
          name: "gone",
          protocol: "anthropic",
          base_url: `http://127.0.0.1:${closedPort}`,
          accounts: [{ name: "a", key: "k" }],
        },
      ]),
    mappings: "exact:\n  slow: oa/slow\n  claude-gone: gone/x\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await oa.stop();
}); // Scripted failures cool the accounts they hit; each test starts with healthy ones.
afterEach(() => resetAccounts(gw.origin));

const post = (
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array> | FormData,
  headers: Record<string, string> = {},
) => fetch(gw.origin + path, { method: "POST", body, headers });

describe("request bodies", () => {
  test("over max_body_mb with a declared length: 413 in the client's shape", async () => {
    const big = JSON.stringify({
      model: "m",
      messages: [{ role: "user", content: "x".repeat(1024 * 1024 + 1) }],
    });
    const openai = await post("/v1/chat/completions", big);
    expect(openai.status).toBe(413);
    expect((await bodyOf(openai)).error.message).toContain("proxy.max_body_mb");
    const anthropic = await post("/v1/messages", big);
    expect((await bodyOf(anthropic)).error.type).toBe("request_too_large");
  });

  test("a route's own max_body_mb in routes.yaml holds for a JSON route too; the others keep proxy.max_body_mb", async () => {
    const routes = readFileSync(join(REPO, "routes.yaml"), "utf8").replace(
      "path: /v1/embeddings, dialect: openai-chat, operation: embeddings,",
      "path: /v1/embeddings, dialect: openai-chat, operation: embeddings, max_body_mb: 1,",
    );
    expect(routes).toContain("max_body_mb: 1,");
    const small = startGateway({ routes });
    try {
      const input = "x".repeat(1536 * 1024);
      const send = (path: string, body: object) =>
        fetch(small.origin + path, { method: "POST", body: JSON.stringify(body) });
      const embeddings = await send("/v1/embeddings", { model: "echo", input });
      expect(embeddings.status).toBe(413);
      const chat = await send("/v1/chat/completions", {
        model: "echo",
        messages: [{ role: "user", content: input }],
      });
      expect(chat.status).toBe(200);
      await chat.arrayBuffer();
    } finally {
      await small.stop();
    }
  });

  test("over max_body_mb as a chunked stream: 413 without reading the rest", async () => {
    let sent = 0;
    const chunk = new Uint8Array(256 * 1024).fill(0x20);
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const response = await post("/v1/chat/completions", endless);
    expect(response.status).toBe(413);
    // The gateway stopped reading long before the client ran out of body to send.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  test.each([
    ["/v1/chat/completions", "not json", "openai", "not valid JSON"],
    ["/v1/messages", "[1,2]", "anthropic", "must be a JSON object, not an array"],
    ["/v1beta/models/g:generateContent", "", "gemini", "empty"],
  ])("%s with body %j: 400 in %s shape", async (path, body, family, words) => {
    const response = await post(path, body);
    expect(response.status).toBe(400);
    const parsed = await bodyOf(response);
    expect(parsed.error.message).toContain(words);
    if (family === "gemini") expect(parsed.error.status).toBe("INVALID_ARGUMENT");
    if (family === "anthropic") expect(parsed.type).toBe("error");
  });

  test("invalid UTF-8: 400", async () => {
    const response = await post(
      "/v1/chat/completions",
      new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    );
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error.message).toContain("UTF-8");
  });

  test("multipart where JSON is expected: 415", async () => {
    const form = new FormData();
    form.set("model", "m");
    const response = await post("/v1/chat/completions", form);
    expect(response.status).toBe(415);
  });

  test("messages of the wrong type: 400 naming the field", async () => {
    const response = await post(
      "/v1/chat/completions",
      JSON.stringify({ model: "m", messages: "hi" }),
    );
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error.param).toBe("messages");
  });
});

describe("broken upstreams", () => {
  test("connection refused: 502 in the client's shape, naming the upstream", async () => {
    const askGone = () =>
      post(
        "/v1/messages",
        JSON.stringify({
          model: "claude-gone",
          max_tokens: 8,
          messages: [{ role: "user", content: "x" }],
        }),
      );
    const response = await askGone();
    expect(response.status).toBe(502);
    const body = await bodyOf(response);
    expect(body.type).toBe("error");
    expect(body.error.message).toContain('could not reach upstream "gone"');
    expect(body.error.message).toContain(`127.0.0.1:${closedPort}`);
    // Its one account now cools: the next request is refused at once, and says why it cools,
    // not only that it does (an unreachable upstream is not a rate limit).
    const next = await askGone();
    expect(next.status).toBe(429);
    const refused = (await bodyOf(next)).error.message;
    expect(refused).toContain('All usable accounts of upstream "gone" are cooling down');
    expect(refused).toEndWith("It cools because the upstream could not be reached.");
  });

  test("no response within request_timeout: 504, and the upstream request is aborted", async () => {
    const gaveUp = oa.stallOnce();
    const response = await post(
      "/v1/chat/completions",
      JSON.stringify({ model: "slow", messages: [{ role: "user", content: "x" }] }),
    );
    expect(response.status).toBe(504);
    expect((await bodyOf(response)).error.message).toContain("within 1 s (proxy.request_timeout");
    await gaveUp;
  });
});

describe("methods", () => {
  test("HEAD /healthz answers like GET, without a body", async () => {
    const response = await fetch(`${gw.origin}/healthz`, { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });
});
