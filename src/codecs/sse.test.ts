import { describe, expect, test } from "bun:test";
import { JsonArrayParser, readSse, SseParser, type StreamParser } from "./sse.ts";

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

/** A JSON array stream's elements, read by the parser a chunk at a time until it stops. */
async function readJsonArray(body: AsyncIterable<Uint8Array>): Promise<unknown[]> {
  const elements: unknown[] = [];
  const parser = new JsonArrayParser({
    element(value) {
      elements.push(value);
      return false;
    },
    ended() {},
  });
  for await (const chunk of body) if (parser.push(chunk, 0, chunk.length) >= 0) return elements;
  parser.end();
  return elements;
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
      expect(await readJsonArray(stream)).toEqual([
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
    expect(await readJsonArray(body)).toEqual([{ a: 1 }, { b: 2 }]);
  });
});

describe("where the final event ends, for a forwarded stream cut there", () => {
  /**
   * Pushes the chunks to a parser whose handler stops at event (or element) number `stopAt`,
   * and returns the absolute byte offset its push reported, or -1.
   */
  function endOf(
    make: (stop: () => boolean) => StreamParser,
    stopAt: number,
    chunks: Uint8Array[],
  ): number {
    let seen = 0;
    const parser = make(() => seen++ === stopAt);
    let base = 0;
    for (const chunk of chunks) {
      const at = parser.push(chunk, 0, chunk.length);
      if (at >= 0) return base + at;
      base += chunk.length;
    }
    return -1;
  }
  const sse = (stop: () => boolean) => new SseParser({ event: stop, ended() {} });
  const array = (stop: () => boolean) => new JsonArrayParser({ element: stop, ended() {} });
  const bytes = (text: string) => new TextEncoder().encode(text);
  const cutsOf = (all: Uint8Array) =>
    Array.from({ length: all.length + 1 }, (_, cut) =>
      [all.slice(0, cut), all.slice(cut)].filter((c) => c.length > 0),
    );

  test("SSE: after the event's blank line, whatever the cut, CRLF and multi-byte text included", () => {
    const events = [
      'data: {"t":"héllo ✓"}\r\n\r\n',
      "event: x\ndata: [DONE]\n\n",
      ": comment\r\ndata: last\r\r",
    ];
    const all = bytes(events.join(""));
    events.forEach((_, stopAt) => {
      const expected = bytes(events.slice(0, stopAt + 1).join("")).length;
      for (const chunks of cutsOf(all)) {
        const end = endOf(sse, stopAt, chunks);
        // A CR that ends a chunk may be half of a CRLF: its event ends at the CR, and the LF follows.
        expect(end === expected - 1 && all[end] === 10 ? end + 1 : end).toBe(expected);
      }
    });
  });

  test("SSE: an event the handler lets pass reports no end", () => {
    const all = bytes("data: a\n\ndata: b\n\n");
    for (const chunks of cutsOf(all)) expect(endOf(sse, 5, chunks)).toBe(-1);
  });

  test("JSON array: after the element that stops it, or after the closing bracket, whatever the cut", () => {
    const text = '[{"a":"ü]"},\r\n{"b":[1]}]';
    const all = bytes(text);
    const expected = [bytes('[{"a":"ü]"}').length, bytes('[{"a":"ü]"},\r\n{"b":[1]}').length];
    for (const chunks of cutsOf(all)) {
      expect(endOf(array, 0, chunks)).toBe(expected[0]!);
      expect(endOf(array, 1, chunks)).toBe(expected[1]!);
      // No element stops it: the array's own closing bracket does.
      expect(endOf(array, 5, chunks)).toBe(all.length);
    }
  });
});
