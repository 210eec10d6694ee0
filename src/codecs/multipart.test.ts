import { describe, expect, test } from "bun:test";
import { GatewayError } from "../failure.ts";
import {
  describeMultipart,
  encodeMultipart,
  type MultipartBody,
  MultipartParser,
  multipartBoundary,
  partBytes,
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

  test("keeps a file's bytes as slices of the chunks that carried them", () => {
    const bytes = enc.encode(BODY);
    const body = parse(bytes);
    expect(body.parts[1]!.chunks[0]!.buffer).toBe(bytes.buffer);
    expect(body.size).toBe(bytes.byteLength);
    // A large file in two chunks: both are kept, not joined; only a delimiter's length is copied.
    const head = '--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n';
    const first = enc.encode(`${head}${"x".repeat(5000)}`);
    const second = enc.encode(`${"y".repeat(5000)}\r\n--b--\r\n`);
    const parser = new MultipartParser("b");
    parser.push(first);
    parser.push(second);
    const file = parser.end().parts[0]!;
    expect(file.size).toBe(10_000);
    expect(file.chunks.some((c) => c.buffer === first.buffer && c.byteLength > 4900)).toBe(true);
    expect(file.chunks.some((c) => c.buffer === second.buffer && c.byteLength === 5000)).toBe(true);
  });

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

  test("the log's description holds text fields and each file's size, never its bytes", () => {
    const text = describeMultipart(parse(BODY));
    expect(JSON.parse(text)).toMatchObject({
      model: "whisper-1",
      file: '<file "a b\\"c.mp3", audio/mpeg, 22 bytes>',
    });
    expect(text).not.toContain("ID3");
  });
});
