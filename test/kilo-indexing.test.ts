import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { fakeVector } from "./support/fake-embeddings.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";

/*
 * Kilo Code's codebase indexing through levity, replayed. The Kilo CLI (7.7.9) has no command
 * that indexes without its editor or daemon, so this test makes the requests its indexer makes,
 * as read from the CLI's bundled code (OpenAICompatibleEmbedder):
 *
 * - users point it at levity as an "openai-compatible" embedder: `indexing.provider:
 *   openai-compatible`, `indexing["openai-compatible"].baseUrl` (levity's address with /v1, or
 *   without: the SDK then posts /embeddings), an apiKey, a model and an optional `dimension`;
 *   its "gemini" embedder has Google's address built in, so it cannot be pointed anywhere;
 * - it checks the configuration first with `input: ["test"]`;
 * - the scanner embeds code blocks (at most 1,000 characters) 60 at a time (embeddingBatchSize),
 *   each batch one `embeddings.create({input, model, encoding_format: "base64", dimensions?})`
 *   through the openai SDK with the key as Bearer; a search embeds the query alone;
 * - a Base URL ending in /embeddings is posted to directly, with the key in both `api-key` and
 *   Authorization;
 * - it reads `data[i].embedding` in order, decoding a base64 string as float32 (its `DN`).
 */

const KEYS = { openai: "sk-oa-kilo", gemini: "ge-kilo-key" };
let oa: FakeUpstream;
let ge: FakeUpstream;
let gw: TestGateway;

beforeAll(() => {
  oa = fakeOpenAI(KEYS.openai);
  ge = fakeGemini(KEYS.gemini);
  gw = startGateway({
    gateway:
      "proxy:\n  auth_mode: strict\n  api_key: sk-kilo-client\n" +
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
          accounts: [{ name: "a", key: KEYS.gemini }],
        },
      ]),
    mappings:
      "exact:\n  text-embedding-3-small: openai/text-embedding-3-small\n  gemini-embedding-001: gemini/gemini-embedding-001\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([oa.stop(), ge.stop()]);
});

/** Kilo's `DN`: each embedding as floats, a base64 one read as float32 in the host's order. */
function kiloDecode(response: any): number[][] {
  return response.data.map((item: any) => {
    if (typeof item.embedding !== "string") return item.embedding;
    const bytes = Buffer.from(item.embedding, "base64");
    return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  });
}

/** A small repository cut into blocks as Kilo's scanner sizes them: at most 1,000 characters. */
function codeBlocks(): string[] {
  const dir = join(REPO, "src/codecs/gemini");
  const blocks: string[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith(".ts"))
    .sort()) {
    let block = "";
    for (const line of readFileSync(join(dir, name), "utf8").split("\n")) {
      if (block.length + line.length + 1 > 1000 && block.trim()) {
        blocks.push(block);
        block = "";
      }
      block += `${line.slice(0, 999)}\n`;
    }
    if (block.trim()) blocks.push(block);
  }
  return blocks;
}

/** Kilo's scanner and embedder: validate, then every block 60 at a time, then one search query. */
async function index(baseURL: string, model: string, dimensions?: number) {
  const client = new OpenAI({ baseURL, apiKey: "sk-kilo-client", maxRetries: 0 });
  const create = (input: string[]) =>
    client.embeddings.create({
      input,
      model,
      encoding_format: "base64",
      ...(dimensions !== undefined ? { dimensions } : {}),
    });
  const check = await create(["test"]);
  expect(check.data.length).toBeGreaterThan(0);
  const blocks = codeBlocks();
  const vectors: number[][] = [];
  for (let i = 0; i < blocks.length; i += 60)
    vectors.push(...kiloDecode(await create(blocks.slice(i, i + 60))));
  const query = kiloDecode(await create(["where are Gemini errors parsed?"]))[0];
  return { blocks, vectors, query };
}

describe("Kilo Code's codebase indexer, replayed through levity", () => {
  test("over an OpenAI upstream: base64 asked for and passed on, every block's vector in order", async () => {
    const { blocks, vectors, query } = await index(`${gw.origin}/v1`, "text-embedding-3-small");
    expect(blocks.length).toBeGreaterThan(60);
    expect(vectors).toHaveLength(blocks.length);
    for (const [i, block] of blocks.entries()) expect(vectors[i]).toEqual(fakeVector(block, 1536));
    expect(query).toHaveLength(1536);
    const sent = oa.requests.filter((r) => r.path === "/v1/embeddings");
    expect(sent).toHaveLength(2 + Math.ceil(blocks.length / 60));
    for (const request of sent) {
      expect(request.json.encoding_format).toBe("base64");
      expect(request.json.model).toBe("text-embedding-3-small");
      expect(request.headers.get("authorization")).toBe(`Bearer ${KEYS.openai}`);
    }
    expect(sent.slice(1, -1).flatMap((r) => r.json.input)).toEqual(blocks);
  });

  test("over a Gemini upstream, with a dimension set: batchEmbedContents, vectors made base64 by levity", async () => {
    const before = ge.requests.length;
    const { blocks, vectors } = await index(`${gw.origin}/v1`, "gemini-embedding-001", 768);
    expect(vectors).toHaveLength(blocks.length);
    for (const [i, block] of blocks.entries())
      expect(vectors[i]).toEqual(fakeVector(block, 3072).slice(0, 768));
    const sent = ge.requests.slice(before);
    expect(sent.every((r) => r.path.endsWith("/gemini-embedding-001:batchEmbedContents"))).toBe(
      true,
    );
    expect(sent.flatMap((r) => r.json.requests.map((q: any) => q.outputDimensionality))).toSatisfy(
      (sizes: number[]) => sizes.every((size) => size === 768),
    );
    expect(
      sent.slice(1, -1).flatMap((r) => r.json.requests.map((q: any) => q.content.parts[0].text)),
    ).toEqual(blocks);
  });

  test("a Base URL without /v1, and one ending in /embeddings posted to directly with api-key", async () => {
    const bare = await index(gw.origin, "text-embedding-3-small");
    expect(bare.vectors).toHaveLength(bare.blocks.length);
    // Kilo's makeDirectEmbeddingRequest.
    const response = await fetch(`${gw.origin}/v1/embeddings`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "api-key": "sk-kilo-client",
        Authorization: "Bearer sk-kilo-client",
      },
      body: JSON.stringify({
        input: ["function a() {}"],
        model: "gemini-embedding-001",
        encoding_format: "base64",
      }),
    });
    expect(response.status).toBe(200);
    expect(kiloDecode(await response.json())[0]).toEqual(fakeVector("function a() {}", 3072));
  });
});
