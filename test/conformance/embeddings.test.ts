import { ApiError, GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { Target } from "./cases.ts";
import { localSetup, type Setup } from "./target.ts";

/*
 * Embeddings in the conformance run: the OpenAI SDK's embeddings.create (float, and base64 as the
 * SDK asks by default) and @google/genai's embedContent, plus a raw :embedContent, against every
 * embedding model given (`--embedding-model UPSTREAM=MODEL`), and each client's error for a model
 * that does not exist. What is checked holds for a real model as for levity's fakes: one vector
 * per input, of the size asked for, the same text giving the same vector, and usage counted.
 */

const SIZE = 256;
const external = process.env.CONFORMANCE_BASE_URL;
const missing = process.env.CONFORMANCE_MISSING_MODEL ?? "conf-embed-missing";

interface EmbeddingModel {
  upstream: string;
  model: string;
}

const models: EmbeddingModel[] = external
  ? (process.env.CONFORMANCE_EMBEDDING_MODELS ?? "")
      .split(",")
      .filter(Boolean)
      .map((entry) => {
        const [upstream, model] = entry.split("=") as [string, string];
        return { upstream, model };
      })
  : ["openai", "gemini", "echo"].map((upstream) => ({ upstream, model: `conf-embed-${upstream}` }));

let setup: Setup | undefined;
let target: Target;
beforeAll(() => {
  if (external)
    target = {
      baseUrl: external.replace(/\/+$/, ""),
      apiKey: process.env.CONFORMANCE_API_KEY ?? "unused",
    };
  else {
    setup = localSetup();
    target = setup.target;
  }
});
afterAll(() => setup?.stop());

const openai = () =>
  new OpenAI({ apiKey: target.apiKey, baseURL: `${target.baseUrl}/v1`, maxRetries: 0 });
const genai = () =>
  new GoogleGenAI({ apiKey: target.apiKey, httpOptions: { baseUrl: target.baseUrl } });

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

async function thrown(call: PromiseLike<unknown>): Promise<any> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error("the call succeeded");
}

const timeout = external ? 60_000 : 5_000;

describe.each(models)("embeddings to $upstream", ({ model }) => {
  test(
    "OpenAI SDK, float: a vector per input, the size asked for, the same text alike",
    async () => {
      const answer = await openai().embeddings.create({
        model,
        input: ["levity embeds", "something else", "levity embeds"],
        dimensions: SIZE,
        encoding_format: "float",
      });
      expect(answer.data.map((d) => d.index)).toEqual([0, 1, 2]);
      for (const item of answer.data) expect(item.embedding).toHaveLength(SIZE);
      expect(cosine(answer.data[0]!.embedding, answer.data[2]!.embedding)).toBeGreaterThan(0.99);
      expect(answer.usage.prompt_tokens).toBeGreaterThan(0);
    },
    timeout,
  );

  test(
    "OpenAI SDK, base64 (its default): decoded to the float vector",
    async () => {
      const client = openai();
      const [encoded, plain] = await Promise.all([
        client.embeddings.create({ model, input: "levity embeds", dimensions: SIZE }),
        client.embeddings.create({
          model,
          input: "levity embeds",
          dimensions: SIZE,
          encoding_format: "float",
        }),
      ]);
      expect(encoded.data[0]!.embedding).toHaveLength(SIZE);
      expect(cosine(encoded.data[0]!.embedding, plain.data[0]!.embedding)).toBeGreaterThan(0.99);
    },
    timeout,
  );

  test(
    "@google/genai embedContent, one and many, and a raw :embedContent",
    async () => {
      const many = await genai().models.embedContent({
        model,
        contents: ["levity embeds", "something else"],
        config: { outputDimensionality: SIZE, taskType: "RETRIEVAL_DOCUMENT" },
      });
      expect(many.embeddings?.map((e) => e.values?.length)).toEqual([SIZE, SIZE]);
      const one = await genai().models.embedContent({
        model,
        contents: "levity embeds",
        config: { outputDimensionality: SIZE },
      });
      expect(one.embeddings).toHaveLength(1);
      const raw = await fetch(`${target.baseUrl}/v1beta/models/${model}:embedContent`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-goog-api-key": target.apiKey },
        body: JSON.stringify({
          content: { parts: [{ text: "levity embeds" }] },
          outputDimensionality: SIZE,
        }),
      });
      expect(raw.status).toBe(200);
      const body: any = await raw.json();
      const values: number[] = body.embedding.values;
      expect(cosine(values, one.embeddings![0]!.values!)).toBeGreaterThan(0.99);
    },
    timeout,
  );
});

test(
  "a model nobody has: a 404 in each client's own error",
  async () => {
    const name = external ? missing : "conf-embed-missing";
    const fromOpenAI = await thrown(openai().embeddings.create({ model: name, input: "x" }));
    expect(fromOpenAI).toBeInstanceOf(OpenAI.NotFoundError);
    const fromGemini = await thrown(genai().models.embedContent({ model: name, contents: "x" }));
    expect(fromGemini).toBeInstanceOf(ApiError);
    expect(fromGemini.status).toBe(404);
  },
  timeout,
);
