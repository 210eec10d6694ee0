import { ApiError, GoogleGenAI } from "@google/genai";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeCompatible } from "./support/fake-compatible.ts";
import { fakeVector } from "./support/fake-embeddings.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { resetAccounts, startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { waitUntil } from "./support/wait.ts";

/*
 * Embeddings through a live levity: the OpenAI SDK's embeddings.create and @google/genai's
 * embedContent (which the SDK always sends as :batchEmbedContents), and raw :embedContent, each
 * over an OpenAI and a Gemini fake that check what they receive; a 2,000-input batch split into
 * Gemini's batches of 100 and joined in order; token ids, dimensions, base64; refusals and
 * upstream errors in each client's shape; the pool's retry; the request log, metrics and model
 * lists. Then what Kilo Code's codebase indexer sends, replayed (its CLI cannot index headless).
 */

const KEYS = { openai: "sk-oa-embed", anthropic: "sk-an-embed", gemini: "ge-embed-key" };
const GEMINI_KEY_2 = "ge-embed-key-2";
const DEEPSEEK_KEY = "sk-ds-embed";
let oa: FakeUpstream;
let an: FakeUpstream;
let ge: FakeUpstream;
let ds: FakeUpstream;
let gw: TestGateway;
let openai: OpenAI;
let genai: GoogleGenAI;

const MAPPINGS = `exact:
  oa-embed: openai/text-embedding-3-small
  ada: openai/text-embedding-ada-002
  ge-embed: gemini/gemini-embedding-001
  claude-embed: anthropic/claude-embed
  claude-then-openai: [anthropic/claude-embed, openai/text-embedding-3-small]
  oa-missing: openai/no-such-embedding
  ge-missing: gemini/no-such-embedding
  echo-embed: echo/echo
  echo-fail: echo/echo-error-429
  ds-embed: deepseek/deepseek-embed
`;

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  an = fakeAnthropic(KEYS.anthropic);
  ge = fakeGemini([KEYS.gemini, GEMINI_KEY_2]);
  ds = fakeCompatible(DEEPSEEK_KEY, "deepseek");
  gw = startGateway({
    gateway:
      "proxy:\n  cooldown_wait: 0\n  request_log: { flush_ms: 10 }\n" +
      upstreamsYaml([
        {
          name: "openai",
          protocol: "openai",
          base_url: `${oa.url}/v1`,
          accounts: [{ name: "a", key: KEYS.openai }],
        },
        {
          name: "gemini",
          protocol: "gemini",
          base_url: ge.url,
          accounts: [
            { name: "a", key: KEYS.gemini },
            { name: "b", key: GEMINI_KEY_2 },
          ],
        },
        {
          name: "anthropic",
          protocol: "anthropic",
          base_url: an.url,
          accounts: [{ name: "a", key: KEYS.anthropic }],
        },
        { name: "echo", protocol: "echo" },
        {
          name: "deepseek",
          protocol: "openai",
          base_url: `${ds.url}/v1`,
          accounts: [{ name: "a", key: DEEPSEEK_KEY }],
        },
      ]),
    mappings: MAPPINGS,
  });
  openai = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1`, maxRetries: 0 });
  genai = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), an.stop(), ge.stop(), ds.stop()]);
});
afterEach(() => resetAccounts(gw.origin));

const embedCalls = (fake: FakeUpstream) =>
  fake.requests.filter((r) => /embed/i.test(r.path) && r.method === "POST");

/** The float32 values of a fake's vector, as a client decodes them. */
const expected = (text: string, size: number, gemini = false) =>
  gemini ? fakeVector(text, 3072).slice(0, size) : fakeVector(text, size);

/** What a client call threw (the SDKs' promises are thenables, read once here). */
async function failure(call: PromiseLike<unknown>): Promise<any> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error("the call succeeded");
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

describe("the OpenAI SDK's embeddings.create", () => {
  test("over an OpenAI upstream: the model mapped, base64 by default as the SDK asks, the upstream's usage", async () => {
    const before = embedCalls(oa).length;
    const answer = await openai.embeddings.create({
      model: "oa-embed",
      input: ["alpha", "beta"],
      dimensions: 4,
    });
    const sent = embedCalls(oa).slice(before);
    expect(sent).toHaveLength(1);
    // The SDK asks for base64 unless told otherwise, and decodes it.
    expect(sent[0]!.json).toEqual({
      model: "text-embedding-3-small",
      input: ["alpha", "beta"],
      encoding_format: "base64",
      dimensions: 4,
    });
    expect(sent[0]!.headers.get("authorization")).toBe(`Bearer ${KEYS.openai}`);
    expect(answer.data.map((d) => d.embedding)).toEqual([
      expected("alpha", 4),
      expected("beta", 4),
    ]);
    expect(answer.model).toBe("text-embedding-3-small");
    // The fake counts a token per 4 characters, rounded up: 2 + 1.
    expect(answer.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });

  test("float, a single string and token ids reach an OpenAI upstream as such", async () => {
    const before = embedCalls(oa).length;
    const floats = await openai.embeddings.create({
      model: "oa-embed",
      input: "one text",
      encoding_format: "float",
      dimensions: 3,
    });
    expect(floats.data[0]!.embedding).toEqual(expected("one text", 3));
    const tokens = await openai.embeddings.create({
      model: "oa-embed",
      input: [
        [1, 2, 3],
        [40, 50],
      ],
      dimensions: 3,
      encoding_format: "float",
    });
    expect(tokens.data.map((d) => d.embedding)).toEqual([
      expected("1 2 3", 3),
      expected("40 50", 3),
    ]);
    expect(tokens.usage.prompt_tokens).toBe(5);
    const sent = embedCalls(oa).slice(before);
    expect(sent.map((r) => r.json.input)).toEqual([
      ["one text"],
      [
        [1, 2, 3],
        [40, 50],
      ],
    ]);
    expect(sent.map((r) => r.json.encoding_format)).toEqual(["float", "float"]);
  });

  test("base64 asked of levity is little-endian float32, also when the upstream sent floats", async () => {
    const response = await post("/v1/embeddings", {
      model: "ge-embed",
      input: "little end",
      encoding_format: "base64",
      dimensions: 5,
    });
    const body = await bodyOf(response);
    const bytes = Buffer.from(body.data[0].embedding, "base64");
    const values = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(values).toEqual(expected("little end", 5, true));
  });

  test("Gemini's OpenAI-compatible Base URL (/v1beta/openai/) reaches the same endpoint", async () => {
    const client = new OpenAI({
      apiKey: "x",
      baseURL: `${gw.origin}/v1beta/openai`,
      maxRetries: 0,
    });
    const answer = await client.embeddings.create({ model: "ge-embed", input: "via openai" });
    expect(answer.data[0]!.embedding).toEqual(expected("via openai", 3072, true));
  });

  test("2,000 inputs over a Gemini upstream: 20 batchEmbedContents calls of 100, joined in order", async () => {
    const before = embedCalls(ge).length;
    const input = Array.from({ length: 2000 }, (_, i) => `chunk number ${i}`);
    const answer = await openai.embeddings.create({
      model: "ge-embed",
      input,
      dimensions: 6,
    });
    const sent = embedCalls(ge).slice(before);
    expect(sent).toHaveLength(20);
    for (const call of sent) {
      expect(call.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
      expect(call.headers.get("x-goog-api-key")).toMatch(/^ge-embed-key/);
      expect(call.json.requests).toHaveLength(100);
      for (const request of call.json.requests) {
        expect(request.model).toBe("models/gemini-embedding-001");
        expect(request.outputDimensionality).toBe(6);
      }
    }
    // Every input went once, whatever order the concurrent calls arrived in.
    const texts = sent.flatMap((c) => c.json.requests.map((r: any) => r.content.parts[0].text));
    expect(new Set(texts)).toEqual(new Set(input));
    expect(answer.data).toHaveLength(2000);
    for (const [i, item] of answer.data.entries()) {
      expect(item.index).toBe(i);
      expect(item.embedding).toEqual(expected(`chunk number ${i}`, 6, true));
    }
    // Gemini reports no usage for embeddings: levity counts the input, and says it counted.
    expect(answer.usage.prompt_tokens).toBeGreaterThan(2000);
    const raw = await post("/v1/embeddings", { model: "ge-embed", input: "x" });
    expect(raw.headers.get("x-levity-token-count")).toBe("estimate");
    expect(raw.headers.get("x-upstream")).toBe("gemini");
  });

  test("the calls run at once, and a batch that answers last still lands in its place", async () => {
    const before = embedCalls(ge).length;
    // The first call is held until every other one has arrived.
    const held = ge.quietOnce({ match: (r) => r.path.endsWith(":batchEmbedContents") });
    const input = Array.from({ length: 500 }, (_, i) => `held ${i}`);
    const pending = openai.embeddings.create({ model: "ge-embed", input, dimensions: 2 });
    await held.received;
    await waitUntil("the other four calls", () => embedCalls(ge).length - before === 5);
    held.release();
    const answer = await pending;
    expect(answer.data.map((d) => d.embedding)).toEqual(input.map((t) => expected(t, 2, true)));
  });

  test("over 300,000 tokens to an OpenAI upstream: split under its cap, which refuses the whole", async () => {
    // The fake counts a token per 4 characters: four inputs of 100,000 tokens.
    const input = ["a", "b", "c", "d"].map((c) => c.repeat(400_000));
    const direct = await fetch(`${oa.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS.openai}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "text-embedding-3-small", input }),
    });
    expect(direct.status).toBe(400);
    expect((await bodyOf(direct)).error.code).toBe("max_tokens_per_request");
    const before = embedCalls(oa).length;
    const answer = await openai.embeddings.create({ model: "oa-embed", input, dimensions: 2 });
    expect(answer.data.map((d) => d.embedding)).toEqual(input.map((t) => expected(t, 2)));
    expect(answer.usage.prompt_tokens).toBe(400_000);
    const sent = embedCalls(oa).slice(before);
    expect(sent.map((r) => r.json.input.length)).toEqual([2, 2]);
  });

  test("more than 2,048 inputs, an empty string and a bad encoding are refused in OpenAI's shape", async () => {
    const calls = oa.requests.length + ge.requests.length;
    const tooMany = Array.from({ length: 2049 }, (_, i) => `t${i}`);
    for (const [body, param] of [
      [{ model: "ge-embed", input: tooMany }, "input"],
      [{ model: "oa-embed", input: "" }, "input"],
      [{ model: "oa-embed", input: ["a", ""] }, "input[1]"],
      [{ model: "oa-embed", input: "a", encoding_format: "int8" }, "encoding_format"],
      [{ model: "oa-embed", input: "a", dimensions: 0 }, "dimensions"],
      [{ input: "a" }, "model"],
    ] as const) {
      const response = await post("/v1/embeddings", body);
      expect(response.status).toBe(400);
      const error = (await bodyOf(response)).error;
      expect(error.type).toBe("invalid_request_error");
      expect(error.param).toBe(param);
    }
    expect(oa.requests.length + ge.requests.length).toBe(calls);
  });

  test("token ids to a Gemini upstream, and any request to an Anthropic one, are refused naming the upstream", async () => {
    const calls = ge.requests.length + an.requests.length;
    const tokens = await failure(
      openai.embeddings.create({ model: "ge-embed", input: [[1, 2, 3]] }),
    );
    expect(tokens).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tokens.message).toMatch(/upstream "gemini" \(gemini\) embeds text, not token ids/);
    const claude = await failure(openai.embeddings.create({ model: "claude-embed", input: "a" }));
    expect(claude).toBeInstanceOf(OpenAI.BadRequestError);
    expect(claude.message).toMatch(/upstream "anthropic" \(anthropic\) has no embeddings API/);
    expect(ge.requests.length + an.requests.length).toBe(calls);
    // A fallback that can embed serves instead, with no Anthropic call.
    const served = await openai.embeddings.create({ model: "claude-then-openai", input: "a" });
    expect(served.data).toHaveLength(1);
    expect(an.requests.length).toBe(0);
  });

  test("an upstream's error reaches the client in OpenAI's shape: its own body from OpenAI, translated from Gemini", async () => {
    const fromOpenAI = await post("/v1/embeddings", { model: "oa-missing", input: "a" });
    expect(fromOpenAI.status).toBe(404);
    expect((await bodyOf(fromOpenAI)).error.code).toBe("model_not_found");
    const fromGemini = await failure(openai.embeddings.create({ model: "ge-missing", input: "a" }));
    expect(fromGemini).toBeInstanceOf(OpenAI.NotFoundError);
    expect(fromGemini.message).toMatch(/not supported for batchEmbedContents/);
    expect(fromGemini.headers.get("x-attempts")).toBe("1");
    // dimensions on a model that has none: OpenAI's 400, as it said it.
    const ada = await failure(
      openai.embeddings.create({ model: "ada", input: "a", dimensions: 8 }),
    );
    expect(ada).toBeInstanceOf(OpenAI.BadRequestError);
    expect(ada.message).toMatch(/does not support specifying dimensions/);
  });

  test("an OpenAI-compatible upstream with no embeddings route: a 404 that says so, not its bare answer; the account stays healthy", async () => {
    const error = await failure(openai.embeddings.create({ model: "ds-embed", input: "x" }));
    expect(error.status).toBe(404);
    expect(error.message).toContain('upstream "deepseek" has no embeddings endpoint');
    expect(error.message).not.toContain("Unknown request URL");
    const accounts = (await bodyOf(await fetch(`${gw.origin}/levity/accounts`))).accounts as any[];
    const deepseek = accounts.find((a) => a.upstream === "deepseek");
    expect(deepseek).toMatchObject({ account: "a", state: "healthy" });
  });

  test("a failed batch is retried by the pool on the next account, the whole request again", async () => {
    const before = embedCalls(ge).length;
    // The next call fails, whichever account makes it.
    ge.replyOnce({
      status: 503,
      body: JSON.stringify({
        error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" },
      }),
    });
    const response = await post("/v1/embeddings", {
      model: "ge-embed",
      input: Array.from({ length: 150 }, (_, i) => `r${i}`),
      dimensions: 2,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-attempts")).toBe("2");
    const body = await bodyOf(response);
    expect(body.data[149].embedding).toEqual(expected("r149", 2, true));
    // The failing account's other call may or may not have started; the other account made both.
    const winner = response.headers.get("x-account") === "a" ? KEYS.gemini : GEMINI_KEY_2;
    const sent = embedCalls(ge).slice(before);
    expect(sent[0]!.headers.get("x-goog-api-key")).not.toBe(winner);
    expect(sent.filter((r) => r.headers.get("x-goog-api-key") === winner)).toHaveLength(2);
  });
});

describe("@google/genai's embedContent and raw :embedContent", () => {
  test("one and many contents over a Gemini upstream: batchEmbedContents with taskType and outputDimensionality", async () => {
    const before = embedCalls(ge).length;
    const one = await genai.models.embedContent({
      model: "ge-embed",
      contents: "what is a gateway?",
      config: { taskType: "RETRIEVAL_QUERY", outputDimensionality: 4 },
    });
    expect(one.embeddings?.[0]?.values).toEqual(expected("what is a gateway?", 4, true));
    const many = await genai.models.embedContent({
      model: "ge-embed",
      contents: ["doc one", "doc two", "doc three"],
      config: { taskType: "RETRIEVAL_DOCUMENT", title: "Docs", outputDimensionality: 3 },
    });
    expect(many.embeddings?.map((e) => e.values)).toEqual(
      ["doc one", "doc two", "doc three"].map((t) => expected(t, 3, true)),
    );
    const sent = embedCalls(ge).slice(before);
    expect(sent.map((r) => r.path)).toEqual([
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
    ]);
    expect(sent[1]!.json.requests[2]).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "doc three" }], role: "user" },
      taskType: "RETRIEVAL_DOCUMENT",
      title: "Docs",
      outputDimensionality: 3,
    });
  });

  test("over an OpenAI upstream: /embeddings with the texts and dimensions, answered as Gemini's embeddings", async () => {
    const before = embedCalls(oa).length;
    const many = await genai.models.embedContent({
      model: "oa-embed",
      contents: ["first", "second"],
      // Gemini's own: an OpenAI upstream has no place for them, and they are left out.
      config: { outputDimensionality: 5, taskType: "CLUSTERING", title: "T" },
    });
    expect(many.embeddings?.map((e) => e.values)).toEqual([
      expected("first", 5),
      expected("second", 5),
    ]);
    const sent = embedCalls(oa).slice(before);
    expect(sent.map((r) => r.json)).toEqual([
      {
        model: "text-embedding-3-small",
        input: ["first", "second"],
        encoding_format: "float",
        dimensions: 5,
      },
    ]);
    expect(sent[0]!.headers.get("x-goog-api-key")).toBeNull();
  });

  test("raw :embedContent on v1beta and v1, over both upstreams, answers `embedding.values`", async () => {
    for (const [path, model, gemini] of [
      ["/v1beta/models/ge-embed:embedContent", "ge-embed", true],
      ["/v1/models/oa-embed:embedContent", "oa-embed", false],
    ] as const) {
      const response = await post(path, {
        model: `models/${model}`,
        content: { parts: [{ text: "raw" }] },
        outputDimensionality: 3,
      });
      expect(response.status).toBe(200);
      expect(await bodyOf(response)).toEqual({ embedding: { values: expected("raw", 3, gemini) } });
    }
  });

  test("errors in Gemini's shape: a refusal, the Gemini upstream's own body, an OpenAI upstream's translated", async () => {
    const bad = await post("/v1beta/models/ge-embed:embedContent", {
      content: { parts: [{ text: "a" }] },
      taskType: "SOMETHING",
    });
    expect(bad.status).toBe(400);
    expect((await bodyOf(bad)).error.status).toBe("INVALID_ARGUMENT");
    const missing = await failure(
      genai.models.embedContent({ model: "ge-missing", contents: "a" }),
    );
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing.status).toBe(404);
    expect(missing.message).toMatch(/not supported for batchEmbedContents/);
    const fromOpenAI = await failure(
      genai.models.embedContent({ model: "oa-missing", contents: "a" }),
    );
    expect(fromOpenAI).toBeInstanceOf(ApiError);
    expect(fromOpenAI.status).toBe(404);
    expect(fromOpenAI.message).toMatch(/does not exist/);
    const notFound = await post("/v1beta/models/oa-missing:embedContent", {
      content: { parts: [{ text: "a" }] },
    });
    expect((await bodyOf(notFound)).error).toMatchObject({ code: 404, status: "NOT_FOUND" });
    // What an OpenAI-compatible upstream cannot take: an image part, two sizes in one batch.
    const image = { parts: [{ inlineData: { mimeType: "image/png", data: "AAAA" } }] };
    const text = { parts: [{ text: "a" }] };
    for (const requests of [
      [{ content: image }],
      [
        { content: text, outputDimensionality: 2 },
        { content: text, outputDimensionality: 3 },
      ],
    ]) {
      const refused = await post("/v1beta/models/oa-embed:batchEmbedContents", { requests });
      expect(refused.status).toBe(400);
      expect((await bodyOf(refused)).error.message).toMatch(/^upstream "openai" \(openai\)/);
    }
    // Gemini takes the image part as it came.
    const before = embedCalls(ge).length;
    const toGemini = await post("/v1beta/models/ge-embed:batchEmbedContents", {
      requests: [{ content: image }],
    });
    expect(toGemini.status).toBe(200);
    expect(embedCalls(ge).slice(before)[0]!.json.requests[0].content).toEqual(image);
    const claude = await post("/v1beta/models/claude-embed:batchEmbedContents", {
      requests: [{ content: { parts: [{ text: "a" }] } }],
    });
    expect(claude.status).toBe(400);
    expect((await bodyOf(claude)).error.message).toMatch(/has no embeddings API/);
  });
});

describe("echo, the log, the metrics and the model lists", () => {
  test("echo embeds with no account: the same text the same unit vector, and rehearses errors", async () => {
    const first = await openai.embeddings.create({
      model: "echo-embed",
      input: ["same", "other", "same"],
      encoding_format: "float",
    });
    const [a, b, c] = first.data.map((d) => d.embedding);
    expect(a).toHaveLength(8);
    expect(a).toEqual(c!);
    expect(a).not.toEqual(b!);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 5);
    const failing = await failure(openai.embeddings.create({ model: "echo-fail", input: "x" }));
    expect(failing).toBeInstanceOf(OpenAI.RateLimitError);
  });

  test("each request is in the request log and the metrics, with its tokens", async () => {
    const response = await post("/v1/embeddings", { model: "oa-embed", input: ["log me", "too"] });
    const id = response.headers.get("x-request-id");
    await response.arrayBuffer();
    const record = await waitUntil("the embeddings request in the log", async () => {
      const logs = await bodyOf(await fetch(`${gw.origin}/levity/logs?limit=50`));
      const rows: any[] = logs.records ?? logs.requests ?? logs;
      return rows.find((row) => (row.requestId ?? row.request_id) === id);
    });
    expect(record).toMatchObject({
      route: "/v1/embeddings",
      requestedModel: "oa-embed",
      mappedModel: "text-embedding-3-small",
      upstream: "openai",
      account: "a",
      status: 200,
      inputTokens: 3,
    });
    const metrics = await (await fetch(`${gw.origin}/metrics`)).text();
    expect(metrics).toMatch(
      /levity_requests_total\{[^}]*route="\/v1\/embeddings"[^}]*model="text-embedding-3-small"[^}]*status="200"[^}]*\} \d+/,
    );
    expect(metrics).toMatch(
      /levity_tokens_total\{model="text-embedding-3-small",upstream="openai",account="a",kind="input"\} \d+/,
    );
  });

  test("the model lists say which models embed, in OpenAI's and Gemini's shapes", async () => {
    const list = await openai.models.list();
    const byId = new Map(list.data.map((m) => [m.id, m as any]));
    expect(byId.get("text-embedding-3-small")?.output_modalities).toEqual(["embeddings"]);
    expect(byId.get("gemini-embedding-001")?.output_modalities).toEqual(["embeddings"]);
    expect(byId.get("gpt-4o-real")?.output_modalities).toBeUndefined();
    const gemini = await bodyOf(await fetch(`${gw.origin}/v1beta/models`));
    const methods = (name: string) =>
      gemini.models.find((m: any) => m.name === `models/${name}`)?.supportedGenerationMethods;
    expect(methods("gemini-embedding-001")).toEqual(["embedContent", "countTokens"]);
    expect(methods("text-embedding-3-small")).toEqual(["embedContent", "countTokens"]);
    expect(methods("gemini-2.5-flash-real")).toEqual(["generateContent", "countTokens"]);
    const pager = await genai.models.list();
    const sdk = pager.page.find((m) => m.name === "models/gemini-embedding-001");
    expect(sdk?.supportedActions).toContain("embedContent");
  });
});
