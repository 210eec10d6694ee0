import { describe, expect, test } from "bun:test";
import { readJsonArray, readSse } from "./sse.ts";

/*
 * The stream readers every upstream's answer goes through: Server-Sent Events and Gemini's
 * incrementally written JSON array, at every chunk boundary a network may cut them at.
 */

/** The bytes split at every possible position, one chunk each side. */
function splitsOf(text: string): ReadableStream<Uint8Array>[] {
  const bytes = new TextEncoder().encode(text);
  return Array.from(
    { length: bytes.length + 1 },
    (_, cut) =>
      new ReadableStream({
        start(controller) {
          if (cut > 0) controller.enqueue(bytes.slice(0, cut));
          if (cut < bytes.length) controller.enqueue(bytes.slice(cut));
          controller.close();
        },
      }),
  );
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("SSE reader", () => {
  const wire =
    'event: message_start\r\ndata: {"a":1}\r\n\r\n: a comment\n\ndata: line one\ndata: line two\n\nevent: ping\rdata: {"type":"ping"}\r\rdata: last';
  const expected = [
    { event: "message_start", data: '{"a":1}' },
    { event: undefined, data: "line one\nline two" },
    { event: "ping", data: '{"type":"ping"}' },
    { event: undefined, data: "last" },
  ];

  test("events survive every chunk boundary, CRLF, CR and LF line ends, comments and multi-line data", async () => {
    for (const stream of splitsOf(wire)) expect(await collect(readSse(stream))).toEqual(expected);
  });

  test("byte-at-a-time delivery and multi-byte characters split across chunks", async () => {
    const text = 'data: {"text":"héllo 🌍"}\n\n';
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    expect(await collect(readSse(stream))).toEqual([
      { event: undefined, data: '{"text":"héllo 🌍"}' },
    ]);
  });
});

describe("JSON array stream reader", () => {
  const wire = '[{\n  "a": "x]}",\n  "n": [1, {"b": 2}]\n}\n,\r\n{"c": "\\"quoted\\""}]';

  test("elements come out whole at every chunk boundary, brackets in strings ignored", async () => {
    for (const stream of splitsOf(wire))
      expect(await collect(readJsonArray(stream))).toEqual([
        { a: "x]}", n: [1, { b: 2 }] },
        { c: '"quoted"' },
      ]);
  });
});

describe("Gemini's JSON-array stream", () => {
  test("ends at its closing bracket, whatever follows on a connection left open", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('[{"a":1},\r\n{"b":2}]'));
        // Never closed: the reader must not wait for the end of the body.
      },
    });
    expect(await collect(readJsonArray(body))).toEqual([{ a: 1 }, { b: 2 }]);
  });
});

describe("where each event ends, for a forwarded stream cut at its final event", () => {
  /** Feeds the chunks to a reader and returns, per event, the absolute byte offset after it. */
  async function endsOf(
    read: (
      body: AsyncIterable<Uint8Array> & { eventEnded(o: number): void },
    ) => AsyncIterable<unknown>,
    chunks: Uint8Array[],
  ): Promise<number[]> {
    const ends: number[] = [];
    let base = 0;
    let current = 0;
    const input = {
      eventEnded: (offset: number) => ends.push(base + offset),
      async *[Symbol.asyncIterator]() {
        for (const chunk of chunks) {
          base += current;
          current = chunk.length;
          yield chunk;
        }
      },
    };
    for await (const _ of read(input));
    return ends;
  }
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cutsOf = (all: Uint8Array) =>
    Array.from({ length: all.length + 1 }, (_, cut) =>
      [all.slice(0, cut), all.slice(cut)].filter((c) => c.length > 0),
    );

  test("SSE: after each event's blank line, whatever the cut, CRLF and multi-byte text included", async () => {
    const events = [
      'data: {"t":"héllo ✓"}\r\n\r\n',
      "event: x\ndata: [DONE]\n\n",
      ": comment\r\ndata: last\r\r",
    ];
    const all = bytes(events.join(""));
    const expected = events.map((_, i) => bytes(events.slice(0, i + 1).join("")).length);
    for (const chunks of cutsOf(all)) {
      const ends = await endsOf(readSse, chunks);
      // A CR that ends a chunk may be half of a CRLF: its event ends at the CR, and the LF follows.
      expect(
        ends.map((end, i) => (end === expected[i]! - 1 && all[end] === 10 ? end + 1 : end)),
      ).toEqual(expected);
    }
  });

  test("JSON array: after each element and after the closing bracket, whatever the cut", async () => {
    const text = '[{"a":"ü]"},\r\n{"b":[1]}]';
    const all = bytes(text);
    const expected = [
      bytes('[{"a":"ü]"}').length,
      bytes('[{"a":"ü]"},\r\n{"b":[1]}').length,
      all.length,
    ];
    for (const chunks of cutsOf(all)) expect(await endsOf(readJsonArray, chunks)).toEqual(expected);
  });
});
