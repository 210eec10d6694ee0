import { describe, expect, test } from "bun:test";
import { readSizedText } from "./whole-body.ts";

const answer = (status: number, headers: Record<string, string>, body: string | null = "hello") =>
  new Response(body, { status, headers });

describe("readSizedText", () => {
  test("reads an answer of a declared length sent as it is", async () => {
    expect(await readSizedText(answer(200, { "content-length": "5" }), 100)).toBe("hello");
  });

  test("leaves every other answer to readWholeBody", () => {
    expect(readSizedText(answer(200, {}), 100)).toBeUndefined();
    expect(readSizedText(answer(200, { "content-length": "500" }), 100)).toBeUndefined();
    const gzipped = { "content-length": "5", "content-encoding": "gzip" };
    expect(readSizedText(answer(200, gzipped), 100)).toBeUndefined();
    for (const status of [204, 205, 304])
      expect(readSizedText(answer(status, { "content-length": "5" }, null), 100)).toBeUndefined();
  });
});
