import { describe, expect, test } from "bun:test";
import type { UpstreamCodec } from "../codecs/codec.ts";
import { openaiChatUpstream } from "../codecs/openai-chat/upstream.ts";
import { openaiResponsesUpstream } from "../codecs/openai-responses/upstream.ts";
import { guardedSourceOf } from "../../test/support/guarded-source.ts";
import { GatewayError } from "../failure.ts";
import type { Lease } from "../pool/lease.ts";
import { type TapVerdict, tapStream } from "./tap.ts";

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

  /** Taps the chunks with a codec's parser (chat's unless said), counting the bytes the parser is handed. */
  async function tap(chunks: string[], skim: boolean, codec: UpstreamCodec = openaiChatUpstream) {
    let parserBytes = 0;
    const tapped = await tapStream(
      guardedSourceOf(chunks),
      (emit) => {
        const parser = codec.streamParser(emit, CHAT_TARGET, "text/event-stream");
        return {
          push: (bytes, start, end) => {
            parserBytes += end - start;
            return parser.push(bytes, start, end);
          },
          end: () => parser.end(),
        };
      },
      "up",
      (error) => encoder.encode(`data: {"error":{"message":${JSON.stringify(String(error))}}}\n\n`),
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

  test("a Responses stream: its deltas are not parsed; its id and usage are read", async () => {
    const skimmed = await tap(chunks, true, openaiResponsesUpstream);
    expect(skimmed.body).toBe(chunks.join(""));
    expect(skimmed.verdict.id).toBe("resp_1");
    expect(skimmed.verdict.usage?.output).toBe(20);
    expect(skimmed.parserBytes).toBe(encoder.encode(head + first + end).length);
  });

  // The final event in its two shapes: ended by its blank line, and at the body's end without one
  // (the parser's end() reads that one).
  for (const [shape, last] of [
    ["ended by its blank line", end],
    ["the body's end with no blank line after it", end.slice(0, -1)],
  ] as const)
    test(`the final event (${shape}) waits for what the runner does first (a shared pin), told the answer's id`, async () => {
      const sent = [head + first, ...deltas, last];
      // Only its identity matters here: it is handed back to the hook.
      const lease = { model: "the stream's own" } as unknown as Lease;
      const order: string[] = [];
      let release!: () => void;
      let told!: (verdict: TapVerdict) => void;
      const asked = new Promise<TapVerdict>((resolve) => {
        told = resolve;
      });
      const tapped = await tapStream(
        guardedSourceOf(sent),
        (emit) => openaiResponsesUpstream.streamParser(emit, CHAT_TARGET, "text/event-stream"),
        "up",
        () => encoder.encode("unused"),
        undefined,
        openaiResponsesUpstream.skippableData,
        (on, verdict) => {
          order.push("asked");
          expect(on).toBe(lease);
          told(verdict);
          return new Promise<void>((resolve) => {
            release = resolve;
          });
        },
        lease,
      );
      if (tapped.kind !== "content") throw new Error("not content");
      const text = new Response(tapped.body).text().then((body) => {
        order.push("body ended");
        return body;
      });
      const verdict = await asked;
      expect(verdict.id).toBe("resp_1");
      expect(verdict.error).toBeUndefined();
      order.push("released");
      release();
      expect(await text).toBe(sent.join(""));
      expect(order).toEqual(["asked", "released", "body ended"]);
    });

  test("the stream is forwarded up to its final event and not a byte further", async () => {
    const { body } = await tap(
      [...stream.slice(0, -1), `${tail}data: {"after":"the end"}\n\n`],
      true,
    );
    expect(body).toBe(stream.join(""));
  });

  test("a stream that arrives in one read: the parser reads up to its first content, then only what is not a plain delta", async () => {
    const whole = stream.join("");
    const skimmed = await tap([whole], true);
    expect(skimmed.body).toBe(whole);
    expect(skimmed.verdict.usage?.output).toBe(20);
    expect(skimmed.parserBytes).toBe(encoder.encode(delta("t0 ") + tail).length);
  });

  test("an error event before any content fails the attempt with its message", async () => {
    const error = 'data: {"error":{"message":"overloaded","code":529}}\n\n';
    const tapped = await tapStream(
      guardedSourceOf([error + stream.join("")]),
      (emit) => openaiChatUpstream.streamParser(emit, CHAT_TARGET, "text/event-stream"),
      "up",
      () => encoder.encode("unused"),
      undefined,
      openaiChatUpstream.skippableData,
    );
    expect(tapped.kind).toBe("failed");
    if (tapped.kind === "failed") expect(tapped.failure.message).toMatch(/overloaded/);
  });

  test("a client that leaves mid-stream leaves the account blameless: the verdict is the client's going, not a cut stream", async () => {
    let cancelled: unknown;
    const source = guardedSourceOf([delta("t0 "), delta("t1 "), delta("t2 "), tail]);
    const tapped = await tapStream(
      {
        ...source,
        cancel: async (reason) => {
          cancelled = reason ?? "cancelled";
        },
      },
      (emit) => openaiChatUpstream.streamParser(emit, CHAT_TARGET, "text/event-stream"),
      "up",
      () => encoder.encode("unused"),
      undefined,
      openaiChatUpstream.skippableData,
    );
    if (tapped.kind !== "content") throw new Error("not content");
    const reader = tapped.body.getReader();
    await reader.read();
    await reader.cancel("gone");
    const verdict = await tapped.done;
    expect(verdict.error).toBeInstanceOf(GatewayError);
    expect((verdict.error as GatewayError).status).toBe(499);
    expect(cancelled).toBe("gone");
  });
});
