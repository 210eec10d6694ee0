import { describe, expect, test } from "bun:test";
import { GatewayError } from "../failure.ts";
import {
  COALESCE_BYTES,
  describeMultipart,
  encodeMultipart,
  type MultipartBody,
  MultipartParser,
  multipartBoundary,
  LARGE_SLICE,
  partBytes,
  piecesStream,
  textField,
  textFields,
  textPart,
} from "./multipart.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const BODY =
  "preamble to ignore\r\n" +
  "--XyZ\r\n" +
  'Content-Disposition: form-data; name="model"\r\n\r\n' +
  "whisper-1\r\n" +
  "--XyZ\r\n" +
  'Content-Disposition: form-data; name="file"; filename="a b\\"c.mp3"\r\n' +
  "Content-Type: audio/mpeg\r\n\r\n" +
  "ID3--XyZ\r\n-XyZ\r\n--Xy\r\n\r\n" +
  "--XyZ  \r\n" +
  'content-disposition: form-data; name="timestamp_granularities[]"\r\n\r\n' +
  "word\r\n" +
  "--XyZ\r\n" +
  'Content-Disposition: form-data; name="timestamp_granularities[]"\r\n\r\n' +
  "segment\r\n" +
  "--XyZ--\r\nepilogue";

function parse(body: string | Uint8Array, boundary = "XyZ", splits: number[] = []): MultipartBody {
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const parser = new MultipartParser(boundary, { fieldMaxBytes: 64, maxParts: 5 });
  let from = 0;
  for (const at of [...splits, bytes.byteLength]) {
    parser.push(bytes.subarray(from, at));
    from = at;
  }
  return parser.end();
}

function refusal(run: () => unknown): { status: number; message: string; param: unknown } {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError)
      return { status: error.status, message: error.message, param: error.details.param };
    throw error;
  }
  throw new Error("expected a refusal");
}

function expectWhole(body: MultipartBody): void {
  expect(body.parts.map((p) => p.name)).toEqual([
    "model",
    "file",
    "timestamp_granularities[]",
    "timestamp_granularities[]",
  ]);
  expect(textField(body, "model")).toBe("whisper-1");
  const file = body.parts[1]!;
  expect(file.filename).toBe('a b"c.mp3');
  expect(file.contentType).toBe("audio/mpeg");
  expect(dec.decode(partBytes(file))).toBe("ID3--XyZ\r\n-XyZ\r\n--Xy\r\n");
  expect(textFields(body, "timestamp_granularities[]")).toEqual(["word", "segment"]);
}

describe("MultipartParser", () => {
  test("parses fields, files, padding after a boundary, and ignores preamble and epilogue", () => {
    expectWhole(parse(BODY));
  });

  test("gives the same parts however the body is split: at every byte, and in two", () => {
    const bytes = enc.encode(BODY);
    for (let i = 0; i <= bytes.byteLength; i++) expectWhole(parse(bytes, "XyZ", [i]));
    // Every chunk one byte long.
    expectWhole(
      parse(
        bytes,
        "XyZ",
        Array.from({ length: bytes.byteLength }, (_, i) => i),
      ),
    );
  });

  test("keeps a large slice as a view into its chunk, and copies a small one", () => {
    const bytes = enc.encode(BODY);
    const body = parse(bytes);
    // A small file is copied, into a buffer of its own size: it pins nothing else.
    expect(body.parts[1]!.chunks).toHaveLength(1);
    expect(body.parts[1]!.chunks[0]!.buffer).not.toBe(bytes.buffer);
    expect(body.parts[1]!.chunks[0]!.buffer.byteLength).toBe(body.parts[1]!.size);
    expect(body.size).toBe(bytes.byteLength);
    // A large file in two chunks: both are kept, not joined; only a delimiter's length is copied.
    const head = '--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n';
    const first = enc.encode(`${head}${"x".repeat(40_000)}`);
    const second = enc.encode(`${"y".repeat(40_000)}\r\n--b--\r\n`);
    const parser = new MultipartParser("b");
    parser.push(first);
    parser.push(second);
    const file = parser.end().parts[0]!;
    expect(file.size).toBe(80_000);
    expect(file.chunks.some((c) => c.buffer === first.buffer && c.byteLength > 39_900)).toBe(true);
    expect(file.chunks.some((c) => c.buffer === second.buffer && c.byteLength === 40_000)).toBe(
      true,
    );
  });

  // A client may send its body in chunks of any size, down to one byte: a part's pieces stay few
  // and the memory they hold stays proportional to its bytes.
  const fileBytes = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251);
  const bigBody = new Uint8Array([
    ...enc.encode(
      '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n' +
        '--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n',
    ),
    ...fileBytes,
    ...enc.encode("\r\n--b--\r\n"),
  ]);
  const feeds: [string, number[]][] = [
    ["1 byte at a time", [1]],
    ["3 bytes at a time", [3]],
    ["alternately 1 byte and just over a large slice", [1, LARGE_SLICE + 1]],
    ["alternately 100 bytes and 20 KB", [100, 20_000]],
  ];
  test.each(feeds)(
    "fed %s: the same parts, in few pieces, holding about their bytes",
    (_, sizes) => {
      const parser = new MultipartParser("b");
      let pushes = 0;
      for (let at = 0; at < bigBody.byteLength; pushes++) {
        const size = sizes[pushes % sizes.length]!;
        parser.push(bigBody.slice(at, at + size));
        at += size;
      }
      const body = parser.end();
      expect(textField(body, "model")).toBe("whisper-1");
      const file = body.parts[1]!;
      expect(Buffer.from(partBytes(file)).equals(Buffer.from(fileBytes))).toBe(true);
      // A flushed gather is full, or followed by a large slice or the part's end.
      expect(file.chunks.length).toBeLessThanOrEqual(Math.ceil(file.size / (LARGE_SLICE / 2)) + 1);
      if (sizes[0] === 1 && sizes.length === 1)
        expect(file.chunks.length).toBeLessThanOrEqual(Math.ceil(file.size / COALESCE_BYTES));
      const held = new Set(file.chunks.map((c) => c.buffer));
      const heldBytes = [...held].reduce((sum, buffer) => sum + buffer.byteLength, 0);
      expect(heldBytes).toBeLessThanOrEqual(2 * file.size + 1024);
    },
  );

  test("a delimiter split across chunks at every point, carried bytes that only look like one", () => {
    const body = enc.encode(
      '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n' +
        `${"a".repeat(40)}\r\n--Xy\r\n-XyZ\r\n--X${"b".repeat(40)}\r\n--XyZ--\r\n`,
    );
    for (let i = 0; i < body.byteLength; i++)
      for (const j of [i + 1, i + 3, i + 9]) {
        const splits = j < body.byteLength ? [i, j] : [i];
        const parts = parse(body, "XyZ", splits).parts;
        expect(dec.decode(partBytes(parts[0]!))).toBe(
          `${"a".repeat(40)}\r\n--Xy\r\n-XyZ\r\n--X${"b".repeat(40)}`,
        );
      }
  });

  const malformed: [string, string, string | null, RegExp][] = [
    ["no parts", "just text", null, /holds no parts/],
    [
      "no closing boundary",
      '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
      "file",
      /ended inside the part "file"/,
    ],
    [
      "ends in headers",
      "--XyZ\r\nContent-Disposition: form-d",
      null,
      /ended before its closing boundary/,
    ],
    [
      "a part without headers",
      "--XyZ\r\n\r\nx\r\n--XyZ--",
      null,
      /Part 1 .* no Content-Disposition/,
    ],
    [
      "no name",
      "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
      null,
      /Part 1 .* no Content-Disposition/,
    ],
    [
      "not form-data",
      '--XyZ\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--XyZ--',
      null,
      /no Content-Disposition: form-data/,
    ],
    ["bad header line", "--XyZ\r\nnonsense\r\n\r\nx\r\n--XyZ--", null, /malformed header line/],
    [
      "field too large",
      `--XyZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${"p".repeat(65)}\r\n--XyZ--`,
      "prompt",
      /"prompt" is larger than 64 bytes/,
    ],
    [
      "text after a boundary",
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--XyZjunk\r\n--XyZ--',
      "a",
      /followed by other text/,
    ],
    [
      "too many parts",
      `${'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'.repeat(6)}--XyZ--`,
      null,
      /more than 5 parts/,
    ],
    ["endless headers", `--XyZ\r\nX: ${"h".repeat(9000)}`, null, /headers are longer than 8192/],
    [
      "long headers that end, whole",
      `--XyZ\r\nContent-Disposition: form-data; name="a"\r\nX-Long: ${"h".repeat(9000)}\r\n\r\nx\r\n--XyZ--`,
      null,
      /headers are longer than 8192/,
    ],
  ];
  test.each(malformed)("refuses %s with a 400 naming the field", (_, body, param, message) => {
    const bytes = enc.encode(body);
    // Whole, and split at every byte: the refusal is the same.
    for (const splits of [
      [],
      ...Array.from({ length: Math.min(bytes.byteLength, 200) }, (_, i) => [i]),
    ]) {
      const got = refusal(() => parse(bytes, "XyZ", splits));
      expect(got.status).toBe(400);
      expect(got.param ?? null).toBe(param);
      expect(got.message).toMatch(message);
    }
  });

  test("a filename given but empty is still a file, and a file may be a text field's name", () => {
    const body = parse(
      '--b\r\nContent-Disposition: form-data; name="f"; filename=""\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--b--',
      "b",
    );
    expect(body.parts[0]!.filename).toBe("");
    expect(body.parts[0]!.size).toBe(0);
    expect(textField(body, "e")).toBe("");
    expect(refusal(() => textField(body, "f"))).toMatchObject({ status: 400, param: "f" });
  });
});

describe("multipartBoundary", () => {
  const cases: [string | null, string | RegExp][] = [
    ["multipart/form-data; boundary=abc", "abc"],
    ['Multipart/Form-Data; charset=utf-8; boundary="a b;c"', "a b;c"],
    ["multipart/form-data", /no usable boundary/],
    ["multipart/form-data; boundary=", /no usable boundary/],
    [`multipart/form-data; boundary=${"x".repeat(71)}`, /no usable boundary/],
    ["application/json", /expects multipart\/form-data/],
    [null, /untyped/],
  ];
  test.each(cases)("%p", (header, expected) => {
    if (typeof expected === "string") expect(multipartBoundary(header)).toBe(expected);
    else expect(refusal(() => multipartBoundary(header)).message).toMatch(expected);
  });
});

describe("encodeMultipart", () => {
  test("round-trips through the parser, the file's chunks not copied", () => {
    const file = parse(BODY).parts[1]!;
    const { pieces, length, contentType } = encodeMultipart([textPart("model", "gpt-4o"), file]);
    expect(pieces).toContain(file.chunks[0]!);
    const joined = new Uint8Array(length);
    let at = 0;
    for (const piece of pieces) {
      joined.set(piece, at);
      at += piece.byteLength;
    }
    const again = parse(joined, multipartBoundary(contentType));
    expect(textField(again, "model")).toBe("gpt-4o");
    // As browsers send it: a quote in a name is percent-encoded, and read back as it was sent.
    expect(again.parts[1]!.filename).toBe("a b%22c.mp3");
    expect(dec.decode(partBytes(again.parts[1]!))).toBe(dec.decode(partBytes(file)));
  });

  test("a form of many pieces encodes and streams whole, past a spread's argument limit", async () => {
    const chunks = Array.from({ length: 1_000_000 }, (_, i) => new Uint8Array([48 + (i % 10)]));
    const file = { name: "file", filename: "f", chunks, size: chunks.length };
    const { pieces, length, contentType } = encodeMultipart([file]);
    const reads: Uint8Array[] = [];
    for await (const read of piecesStream(pieces)) reads.push(read);
    // Small pieces go joined, up to 64 KB per read: fetch writes each read on its own.
    expect(reads.length).toBeLessThanOrEqual(Math.ceil(length / (64 * 1024)) + 1);
    const streamed = new Uint8Array(Buffer.concat(reads));
    expect(streamed.byteLength).toBe(length);
    const again = parse(streamed, multipartBoundary(contentType));
    expect(again.parts[0]!.size).toBe(chunks.length);
    expect(dec.decode(partBytes(again.parts[0]!)).slice(0, 12)).toBe("012345678901");
  });

  test("a stream hands a large piece on as it is, and joins the small ones around it", async () => {
    const large = new Uint8Array(100_000).fill(7);
    const small = [new Uint8Array([1]), new Uint8Array([2, 3])];
    const reads: Uint8Array[] = [];
    for await (const read of piecesStream([...small, large, ...small])) reads.push(read);
    expect(reads).toHaveLength(3);
    expect([...reads[0]!]).toEqual([1, 2, 3]);
    expect(reads[1]).toBe(large);
    expect([...reads[2]!]).toEqual([1, 2, 3]);
    const none: Uint8Array[] = [];
    for await (const read of piecesStream([])) none.push(read);
    expect(none).toHaveLength(0);
  });

  test("the log's description holds text fields and each file's size, never its bytes", () => {
    const text = describeMultipart(parse(BODY));
    expect(JSON.parse(text)).toMatchObject({
      model: "whisper-1",
      file: '<file "a b\\"c.mp3", audio/mpeg, 22 bytes>',
    });
    expect(text).not.toContain("ID3");
  });
});
