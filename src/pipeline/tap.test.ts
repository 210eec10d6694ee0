import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../test/support/prng.ts";
import type { UpstreamCodec } from "../codecs/codec.ts";
import { openaiChatUpstream } from "../codecs/openai-chat/upstream.ts";
import { openaiResponsesUpstream } from "../codecs/openai-responses/upstream.ts";
import type { GuardedSource } from "../upstream/forward.ts";
import { finalSpotter, tapStream } from "./tap.ts";

describe("spotting where a forwarded stream's final event may be", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  test.each([
    ["in one chunk", ['data: {"a":1}\n\n', "data: [DONE]\n\n"], [false, true]],
    ["split across two chunks", ["data: {}\n\ndata: [DO", "NE]\n\n"], [false, true]],
    [
      "split one byte at a time",
      ["data: ", "[", "D", "O", "N", "E", "]", "\n\n"],
      [false, false, false, false, false, false, true, true],
    ],
    ["never", ['data: {"choices":[]}\n\n', 'data: {"choices":[{"x":"DONE"}]}\n\n'], [false, false]],
    [
      "from the marker on, every chunk (its blank line may come later)",
      ["data: [DONE]\n", "\n", ": trailing\n\n"],
      [true, true, true],
    ],
  ])("%s", (_name, chunks, expected) => {
    const spot = finalSpotter([bytes("[DONE]")]);
    expect(chunks.map((chunk) => spot(bytes(chunk)))).toEqual(expected);
  });
});

test("spotting a marker split at seeded random bytes, 5,000 times: true from the chunk that completes it on", () => {
  const random = mulberry32(11);
  const encoder = new TextEncoder();
  const markers = [encoder.encode("message_stop"), encoder.encode("[DONE]")];
  const source = `data: {"a":"[DON"}\n\ndata: {"b":"message_sto"}\n\nevent: message_stop\ndata: {}\n\n`;
  const text = encoder.encode(source);
  const completes = source.indexOf("event: message_stop") + "event: message_stop".length;
  for (let round = 0; round < 5000; round++) {
    const cuts = new Set<number>();
    const count = 1 + Math.floor(random() * 40);
    while (cuts.size < count) cuts.add(1 + Math.floor(random() * (text.length - 1)));
    const bounds = [0, ...[...cuts].sort((a, b) => a - b), text.length];
    const spot = finalSpotter(markers);
    const firstTrue = bounds.slice(1).findIndex((end, i) => spot(text.subarray(bounds[i]!, end)));
    // The chunk that holds the marker's last byte is the first that answers true.
    expect(bounds[firstTrue + 1]! >= completes && bounds[firstTrue]! < completes).toBe(true);
  }
});

describe("a same-dialect stream after its commit point", () => {
  const encoder = new TextEncoder();
  const delta = (text: string) =>
    `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}},"finish_reason":null}]}\n\n`;
  const tail =
    'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
    'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":20,"total_tokens":23}}\n\n' +
    "data: [DONE]\n\n";

  const CHAT_TARGET = {
    name: "up",
    issuer: "up",
    protocol: "openai",
    baseUrl: "http://up",
  } as const;

  /** An upstream body read from these chunks, one a read. */
  function sourceOf(chunks: string[]): GuardedSource {
    let next = 0;
    return {
      read: async () =>
        next < chunks.length
          ? { done: false, value: encoder.encode(chunks[next++]!) }
          : { done: true },
      cancel: async () => {},
      release: () => {},
    };
  }

  /** Taps the chunks with a codec's parser (chat's unless said), counting the bytes the parser is handed. */
  async function tap(chunks: string[], skim: boolean, codec: UpstreamCodec = openaiChatUpstream) {
    let parserBytes = 0;
    const tapped = await tapStream(
      sourceOf(chunks),
      (input) =>
        codec.parseStream(
          {
            ...input,
            [Symbol.asyncIterator]: () => {
              const inner = input[Symbol.asyncIterator]();
              return {
                next: async () => {
                  const step = await inner.next();
                  if (!step.done) parserBytes += step.value.length;
                  return step;
                },
              };
            },
          },
          CHAT_TARGET,
          "text/event-stream",
        ),
      "up",
      (error) => encoder.encode(`data: {"error":{"message":${JSON.stringify(String(error))}}}\n\n`),
      codec.finalMarkers(""),
      undefined,
      skim ? codec.skippableData : undefined,
    );
    if (tapped.kind !== "content") throw new Error(`not content: ${tapped.kind}`);
    const body = await new Response(tapped.body).text();
    return { body, verdict: await tapped.done, parserBytes };
  }

  const stream = [...Array.from({ length: 20 }, (_, i) => delta(`t${i} `)), tail];

  test("its plain deltas reach the client untouched and are never handed to the parser; the usage is still read", async () => {
    const skimmed = await tap(stream, true);
    const read = await tap(stream, false);
    expect(skimmed.body).toBe(stream.join(""));
    expect(read.body).toBe(stream.join(""));
    expect(skimmed.verdict.usage).toEqual(read.verdict.usage);
    expect(skimmed.verdict.usage?.output).toBe(20);
    expect(skimmed.verdict.error).toBeUndefined();
    // The first delta (the commit point) and the tail, where reading every event was the whole stream.
    expect(skimmed.parserBytes).toBe(encoder.encode(delta("t0 ") + tail).length);
    expect(read.parserBytes).toBe(encoder.encode(stream.join("")).length);
  });

  test("a delta that is not JSON after the commit still ends the stream with an error", async () => {
    const broken = [delta("t0 "), delta("t1 "), "data: {oops\n\n", delta("t2 "), tail];
    const { body, verdict } = await tap(broken, true);
    expect(String(verdict.error)).toMatch(/not JSON/);
    expect(body.startsWith(broken.slice(0, 3).join(""))).toBe(true);
    expect(body).toMatch(/data: \{"error".*not JSON/);
  });

  test("a Responses stream: its deltas are not parsed; its id and usage are read", async () => {
    const event = (type: string, rest: string) =>
      `event: ${type}\ndata: {"type":"${type}"${rest}}\n\n`;
    const head = event("response.created", ',"response":{"id":"resp_1","model":"m"}');
    const first = event("response.output_text.delta", ',"output_index":0,"delta":"t0 "');
    const deltas = Array.from({ length: 19 }, (_, i) =>
      event("response.output_text.delta", `,"output_index":0,"delta":"t${i + 1} "`),
    );
    const end = event(
      "response.completed",
      ',"response":{"id":"resp_1","status":"completed","usage":{"input_tokens":3,"output_tokens":20}}',
    );
    const chunks = [head + first, ...deltas, end];
    const skimmed = await tap(chunks, true, openaiResponsesUpstream);
    expect(skimmed.body).toBe(chunks.join(""));
    expect(skimmed.verdict.id).toBe("resp_1");
    expect(skimmed.verdict.usage?.output).toBe(20);
    expect(skimmed.parserBytes).toBe(encoder.encode(head + first + end).length);
  });

  test("the stream is forwarded up to its final event and not a byte further", async () => {
    const { body } = await tap(
      [...stream.slice(0, -1), `${tail}data: {"after":"the end"}\n\n`],
      true,
    );
    expect(body).toBe(stream.join(""));
  });
});
