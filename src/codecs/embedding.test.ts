import { describe, expect, test } from "bun:test";
import { GatewayError } from "../failure.ts";
import { base64, floats, namedForEmbedding } from "./embedding.ts";
import {
  geminiEmbedBody,
  parseGeminiEmbedAnswer,
  parseGeminiEmbedRequest,
  renderGeminiEmbedAnswer,
} from "./gemini/embeddings.ts";
import {
  openaiEmbedBody,
  parseOpenAIEmbedAnswer,
  parseOpenAIEmbedRequest,
  renderOpenAIEmbedAnswer,
} from "./openai-compatible/embeddings.ts";

describe("base64 vectors", () => {
  test("little-endian float32, whatever the host, and back", () => {
    // 1.0 is 00 00 80 3f little-endian.
    expect(Buffer.from(base64([1]), "base64")).toEqual(Buffer.from([0, 0, 0x80, 0x3f]));
    const values = [0.5, -0.25, 3.140000104904175];
    expect(floats(base64(values))).toEqual(values);
    expect(base64("AACAPw==")).toBe("AACAPw==");
  });
});

describe("OpenAI requests", () => {
  const refused: [string, unknown, string][] = [
    ["an empty string", { input: "" }, "input"],
    ["an empty list", { input: [] }, "input"],
    ["a number", { input: 3 }, "input"],
    ["an empty item", { input: ["a", ""] }, "input[1]"],
    ["a negative token", { input: [[1, -2]] }, "input[0]"],
    ["mixed kinds", { input: ["a", 1] }, "input[1]"],
    ["2,049 items", { input: Array(2049).fill("a") }, "input"],
    ["an unknown encoding", { input: "a", encoding_format: "int8" }, "encoding_format"],
    ["zero dimensions", { input: "a", dimensions: 0 }, "dimensions"],
    ["fractional dimensions", { input: "a", dimensions: 1.5 }, "dimensions"],
  ];
  for (const [name, body, param] of refused)
    test(`refuses ${name}`, () => {
      let error: unknown;
      try {
        parseOpenAIEmbedRequest(body as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).details.param).toBe(param);
    });

  test("reads every input form, and writes them back with the mapped model", () => {
    expect(parseOpenAIEmbedRequest({ input: "a" }).inputs).toEqual([{ text: "a" }]);
    expect(parseOpenAIEmbedRequest({ input: [1, 2] }).inputs).toEqual([{ tokens: [1, 2] }]);
    const request = parseOpenAIEmbedRequest({
      input: ["a", "b"],
      dimensions: 4,
      encoding_format: "base64",
      user: "u",
    });
    expect(request.encoding).toBe("base64");
    expect(openaiEmbedBody("m", request.inputs, request)).toEqual({
      model: "m",
      input: ["a", "b"],
      encoding_format: "base64",
      dimensions: 4,
      user: "u",
    });
  });

  test("an answer's data is put in input order by its index; a short or broken one is not read", () => {
    const answer = {
      data: [
        { index: 1, embedding: [2] },
        { index: 0, embedding: "AACAPw==" },
      ],
      usage: { prompt_tokens: 7 },
    };
    expect(parseOpenAIEmbedAnswer(answer, 2)).toEqual({ vectors: ["AACAPw==", [2]], tokens: 7 });
    expect(parseOpenAIEmbedAnswer(answer, 3)).toBeUndefined();
    expect(
      parseOpenAIEmbedAnswer({ data: [{ embedding: ["x"] }, { embedding: [1] }] }, 2),
    ).toBeUndefined();
    expect(parseOpenAIEmbedAnswer({ data: [{ index: 0 }, { index: 0 }] }, 2)).toBeUndefined();
  });

  test("the client's answer in the encoding it asked for", () => {
    const answer = { vectors: ["AACAPw==", [0.5]], tokens: 3, estimated: false };
    expect(renderOpenAIEmbedAnswer(answer, "m", "float")).toEqual({
      object: "list",
      data: [
        { object: "embedding", index: 0, embedding: [1] },
        { object: "embedding", index: 1, embedding: [0.5] },
      ],
      model: "m",
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
    expect(renderOpenAIEmbedAnswer(answer, "m", "base64").data).toMatchObject([
      { embedding: "AACAPw==" },
      { embedding: "AAAAPw==" },
    ]);
  });
});

describe("Gemini requests", () => {
  const part = (text: string) => ({ parts: [{ text }] });
  const refused: [string, unknown, boolean][] = [
    ["no content", {}, false],
    ["no parts", { content: { parts: [] } }, false],
    ["an unknown taskType", { content: part("a"), taskType: "SUMMARY" }, false],
    ["zero outputDimensionality", { content: part("a"), outputDimensionality: 0 }, false],
    ["no requests", { requests: [] }, true],
    ["a request that is not an object", { requests: ["a"] }, true],
    ["2,049 requests", { requests: Array(2049).fill({ content: part("a") }) }, true],
  ];
  for (const [name, body, batch] of refused)
    test(`refuses ${name}`, () => {
      expect(() => parseGeminiEmbedRequest(body as never, batch)).toThrow(GatewayError);
    });

  test("each request keeps its own purpose, title and size, and its Content for Gemini", () => {
    const image = { parts: [{ inlineData: { mimeType: "image/png", data: "AA==" } }] };
    const request = parseGeminiEmbedRequest(
      {
        requests: [
          { content: { parts: [{ text: "a" }, { text: "b" }] }, taskType: "RETRIEVAL_DOCUMENT" },
          { content: image, title: "t", outputDimensionality: 8 },
        ],
      },
      true,
    );
    expect(request.inputs[0]).toMatchObject({ text: "a\nb", taskType: "RETRIEVAL_DOCUMENT" });
    // Not text only: nothing for an upstream that reads text.
    expect(request.inputs[1]?.text).toBeUndefined();
    expect(geminiEmbedBody("g", request.inputs).requests).toEqual([
      {
        model: "models/g",
        content: { parts: [{ text: "a" }, { text: "b" }] },
        taskType: "RETRIEVAL_DOCUMENT",
      },
      { model: "models/g", content: image, title: "t", outputDimensionality: 8 },
    ]);
  });

  test("answers: embeddings counted, values read, rendered for one and for a batch", () => {
    expect(parseGeminiEmbedAnswer({ embeddings: [{ values: [1, 2] }] }, 1)).toEqual({
      vectors: [[1, 2]],
    });
    expect(parseGeminiEmbedAnswer({ embeddings: [{ values: [1] }] }, 2)).toBeUndefined();
    expect(parseGeminiEmbedAnswer({ embeddings: [{ values: ["x"] }] }, 1)).toBeUndefined();
    const answer = { vectors: ["AACAPw=="], tokens: 1, estimated: true };
    expect(renderGeminiEmbedAnswer(answer, false)).toEqual({ embedding: { values: [1] } });
    expect(renderGeminiEmbedAnswer(answer, true)).toEqual({ embeddings: [{ values: [1] }] });
  });
});

test("a model's name says it embeds where its list does not", () => {
  for (const name of ["text-embedding-3-small", "gemini-embedding-001", "nomic-embed-text"])
    expect(namedForEmbedding(name)).toBe(true);
  for (const name of ["gpt-4o", "gemini-2.5-flash", "claude-sonnet-4-5"])
    expect(namedForEmbedding(name)).toBe(false);
});
