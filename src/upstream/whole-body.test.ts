import { describe, expect, test } from "bun:test";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { decodedStream } from "./stream-decode.ts";
import { readSizedText, readWholeBody } from "./whole-body.ts";

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

describe("compressed answers", () => {
  const text = "levity reads what it asked for ".repeat(20);
  const compressors: [string, (bytes: Uint8Array) => Uint8Array][] = [
    ["gzip", (bytes) => gzipSync(bytes)],
    ["x-gzip", (bytes) => gzipSync(bytes)],
    ["deflate", (bytes) => deflateSync(bytes)],
    ["br", (bytes) => brotliCompressSync(bytes)],
  ];
  const encoded = (encoding: string, body: string | Uint8Array) =>
    new Response(body as ConstructorParameters<typeof Response>[0], {
      headers: { "content-encoding": encoding },
    });

  test.each(compressors)(
    "a whole %s answer is decoded, loading its decoder then",
    async (encoding, compress) => {
      const body = compress(new TextEncoder().encode(text));
      expect(await readWholeBody(encoded(encoding, body), "up", 1_000_000)).toBe(text);
    },
  );

  test.each(compressors)("a %s stream is decoded as it is read", async (encoding, compress) => {
    const body = compress(new TextEncoder().encode(text));
    const decoded = await decodedStream(
      new Response(body as ConstructorParameters<typeof Response>[0]).body!,
      encoding,
    );
    expect(await new Response(decoded).text()).toBe(text);
  });

  // Names an object has of its own: once looked up in a table, "constructor" was a decoder that
  // never called back, and the answer waited for good.
  test.each(["constructor", "__proto__", "compress", "identity2"])(
    'content-encoding "%s" is refused at once, whole or streamed',
    async (encoding) => {
      const whole = readWholeBody(encoded(encoding, "abc"), "up", 1_000_000);
      await expect(whole).rejects.toThrow(
        `content-encoding "${encoding}", which levity did not ask for`,
      );
      expect(await decodedStream(new Response("abc").body!, encoding)).toBeUndefined();
    },
  );
});
