import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../test/support/prng.ts";
import { isPlainChatDelta } from "./openai-chat/upstream.ts";
import { isPlainResponsesDelta } from "./openai-responses/upstream.ts";
import { readSse, type SseEvent } from "./sse.ts";
import { type SkippableData, SseSkimmer } from "./sse-skim.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const delta = (text: string) =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}},"finish_reason":null}]}\n\n`;
const FINISH = `data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`;
const USAGE = `data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n`;
const DONE = "data: [DONE]\n\n";

/**
 * The text of each range the skimmer hands on, chunk by chunk, from chunk `followed` on: the
 * chunks before it are skimmed before the commit point (every event handed on).
 */
function skim(chunks: string[], followed = 0): string[] {
  const skimmer = new SseSkimmer(isPlainChatDelta, 1 << 20);
  const handed: string[] = [];
  chunks.forEach((text, n) => {
    const chunk = encoder.encode(text);
    skimmer.active = n >= followed;
    skimmer.skim(chunk, (start, end) => {
      if (n >= followed) handed.push(decoder.decode(chunk.subarray(start, end)));
    });
  });
  return handed;
}

describe("SseSkimmer: what a same-dialect stream's parser still reads", () => {
  test("plain deltas in one chunk are left out; the finish, the usage and [DONE] are handed as one range", () => {
    expect(skim([delta("a") + delta("b") + FINISH + USAGE + DONE])).toEqual([
      FINISH + USAGE + DONE,
    ]);
  });

  test("an event per chunk: only the ones that matter", () => {
    expect(skim([delta("a"), delta("b"), FINISH, USAGE, DONE])).toEqual([FINISH, USAGE, DONE]);
  });

  test.each([
    ["a delta that is not JSON", "data: {oops\n\n"],
    ["an error", 'data: {"error":{"message":"overloaded"}}\n\n'],
    [
      "a tool call",
      'data: {"choices":[{"delta":{"tool_calls":[{"index":0}]},"finish_reason":null}]}\n\n',
    ],
    [
      "usage inside the choice (Moonshot)",
      'data: {"choices":[{"delta":{},"finish_reason":null,"usage":{"total_tokens":1}}]}\n\n',
    ],
    ["a comment", ": keep-alive\n\n"],
    ["an id line before the data", `id: 7\n${delta("x")}`],
    ["two event lines", `event: a\nevent: b\n${delta("x")}`],
    ["two data lines", 'data: {"a":\ndata: 1}\n\n'],
    ["an id line after the data", `${delta("x").slice(0, -1)}id: 7\n\n`],
  ])("%s is handed on", (_name, event) => {
    expect(skim([delta("a") + event + delta("b")])).toEqual([event]);
  });

  test("an event: line before the data line is left out with it, in each line end", () => {
    for (const end of ["\n", "\r", "\r\n"]) {
      const named = `event: message\n${delta("x")}`.replaceAll("\n", end);
      expect(skim([named + DONE])).toEqual([DONE]);
    }
  });

  test("a Responses stream: its text and reasoning deltas are left out, its items, usage and end are not", () => {
    const event = (type: string, rest: string) =>
      `event: ${type}\ndata: {"type":"${type}"${rest}}\n\n`;
    const text = event(
      "response.output_text.delta",
      ',"item_id":"msg_1","output_index":0,"delta":"Hi"',
    );
    const reasoning = event("response.reasoning_summary_text.delta", ',"delta":"thinking"');
    const item = event(
      "response.output_item.done",
      ',"item":{"type":"reasoning","encrypted_content":"gAAA"}',
    );
    const call = event("response.function_call_arguments.delta", ',"delta":"{}"');
    const completed = event("response.completed", ',"response":{"usage":{"input_tokens":3}}');
    const skimmer = new SseSkimmer(isPlainResponsesDelta, 1 << 20);
    const chunk = encoder.encode(text + reasoning + item + text + call + text + completed);
    const handed: string[] = [];
    skimmer.skim(chunk, (start, end) => handed.push(decoder.decode(chunk.subarray(start, end))));
    expect(handed).toEqual([item, call, completed]);
    const plain = encoder.encode('{"type":"response.output_text.delta","delta":"x"}');
    expect(isPlainResponsesDelta(plain, 0, plain.length)).toBe(true);
    for (const data of [
      '{"type":"response.output_text.done","text":"Hi"}',
      '{"type":"response.output_text.delta","error":{"message":"x"}}',
      '{"type":"response.output_text.delta","part":{"type":"refusal"}}',
      '{"type":"response.output_text.delt\\u0061"}',
      '{"type":"response.output_text.delta"',
      '{"delta":"x","type":"response.output_text.delta"}', // its type not first: read
      '{"delta":"x"}', // no type at all: read
      '{"type":"response.output_text.delta2","delta":"x"}',
    ]) {
      const bytes = encoder.encode(data);
      expect(isPlainResponsesDelta(bytes, 0, bytes.length)).toBe(false);
    }
  });

  test("CR and CRLF line ends, and a CRLF split between chunks", () => {
    const crlf = delta("a").replaceAll("\n", "\r\n");
    const cr = delta("b").replaceAll("\n", "\r");
    expect(skim([crlf + cr + USAGE.replaceAll("\n", "\r\n")])).toEqual([
      USAGE.replaceAll("\n", "\r\n"),
    ]);
    // The event ends at its blank line's CR; the LF arrives in the next chunk and is passed over
    // with the next delta.
    expect(skim([crlf.slice(0, -1), `\n${delta("c")}${DONE}`])).toEqual([DONE]);
  });

  test("an event split across chunks is handed whole, its halves in order", () => {
    const split = delta("split");
    expect(skim([delta("a") + split.slice(0, 20), split.slice(20) + delta("b") + DONE])).toEqual([
      split.slice(0, 20),
      split.slice(20),
      DONE,
    ]);
  });

  test("an event split after a whole line: its data line alone is not taken for a delta", () => {
    const named = `event: message\n${delta("x")}`;
    expect(skim([named.slice(0, 15), named.slice(15) + DONE])).toEqual([
      named.slice(0, 15),
      named.slice(15) + DONE,
    ]);
  });

  test("before the commit every event is handed on, each as it ends; from the event that commits, plain deltas are left out", () => {
    const skimmer = new SseSkimmer(isPlainChatDelta, 1 << 20);
    skimmer.active = false;
    const text = delta("a") + delta("b") + delta("c") + FINISH + DONE;
    const chunk = encoder.encode(text);
    const handed: string[] = [];
    skimmer.skim(chunk, (start, end) => {
      handed.push(decoder.decode(chunk.subarray(start, end)));
      // The first delta is the commit point: the parser's verdict, given inside its range.
      skimmer.active = true;
    });
    expect(handed).toEqual([delta("a"), FINISH + DONE]);
  });

  test("an event begun before the commit (followed, not skimmed) has its rest handed on", () => {
    const split = delta("begun");
    expect(skim([delta("a") + split.slice(0, 10), split.slice(10) + delta("b") + DONE], 1)).toEqual(
      [split.slice(10), DONE],
    );
  });

  test("an event over the event limit is handed on, for the parser to refuse", () => {
    const skimmer = new SseSkimmer(isPlainChatDelta, 150);
    const chunk = encoder.encode(delta("x".repeat(200)) + delta(""));
    const handed: string[] = [];
    skimmer.skim(chunk, (start, end) => handed.push(decoder.decode(chunk.subarray(start, end))));
    expect(handed).toEqual([delta("x".repeat(200))]);
  });

  const responsesEvent = (type: string, rest: string) =>
    `event: ${type}\ndata: {"type":"${type}"${rest}}\n\n`;
  const streams: [string, SkippableData, string[]][] = [
    [
      "chat",
      isPlainChatDelta,
      [
        delta("t0 "),
        ": ping\n\n",
        delta("t1 é"),
        "data: {oops\n\n",
        delta("t2 日本"),
        'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1"}]},"finish_reason":null}]}\n\n',
        delta("t3 ").replaceAll("\n", "\r\n"),
        delta("t4 ").replaceAll("\n", "\r"),
        "\n",
        delta("t5 "),
        `event: message\n${delta("t6 ")}`,
        `event: message\n${delta("t7 ")}`.replaceAll("\n", "\r\n"),
        `event: message\n${delta("t8 ")}`.replaceAll("\n", "\r"),
        `id: 9\n${delta("t9 ")}`,
        FINISH,
        USAGE,
        DONE,
      ],
    ],
    [
      "Responses",
      isPlainResponsesDelta,
      [
        responsesEvent("response.output_text.delta", ',"delta":"t0 "'),
        responsesEvent("response.reasoning_summary_text.delta", ',"delta":"é 日本"'),
        responsesEvent(
          "response.output_item.done",
          ',"item":{"type":"reasoning","encrypted_content":"gA"}',
        ),
        responsesEvent("response.output_text.delta", ',"delta":"t1 "').replaceAll("\n", "\r\n"),
        'event: error\ndata: {"message":"no type: handed on"}\n\n',
        responsesEvent("response.function_call_arguments.delta", ',"delta":"{}"'),
        responsesEvent("response.output_text.delta", ',"delta":"t2 "').replaceAll("\n", "\r"),
        'data: {"type":"response.output_text.delta","delta":"no event line"}\n\n',
        responsesEvent("response.completed", ',"response":{"usage":{"input_tokens":3}}'),
      ],
    ],
  ];

  test.each(streams)(
    "%s, split at seeded random bytes 2,000 times: the parser reads every event that matters, in order, and only plain deltas are left out",
    async (_name, skippable, events) => {
      const random = mulberry32(7);
      const whole = encoder.encode(events.join(""));
      const all = await eventsOf([whole]);
      let leftOut = 0;
      for (let round = 0; round < 2000; round++) {
        const cuts = new Set<number>();
        const count = 1 + Math.floor(random() * 12);
        while (cuts.size < count) cuts.add(1 + Math.floor(random() * (whole.length - 1)));
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), whole.length];
        const chunks = bounds.slice(1).map((end, i) => whole.subarray(bounds[i]!, end));
        const followed = Math.floor(random() * chunks.length);
        const skimmer = new SseSkimmer(skippable, 1 << 20);
        const parserInput: Uint8Array[] = [];
        chunks.forEach((chunk, n) => {
          // Before the commit every byte is handed on, in order.
          skimmer.active = n >= followed;
          let next = 0;
          skimmer.skim(chunk, (start, end) => {
            if (n < followed) expect(start).toBe(next);
            next = end;
            parserInput.push(chunk.subarray(start, end));
          });
          if (n < followed) expect(next).toBe(chunk.length);
        });
        const read = await eventsOf(parserInput);
        // What the parser read is the stream's events less some, in order; each one left out is a plain delta.
        let at = 0;
        const left: SseEvent[] = [];
        for (const event of all) {
          if (at < read.length && read[at]!.data === event.data && read[at]!.event === event.event)
            at++;
          else left.push(event);
        }
        expect(at).toBe(read.length);
        leftOut += left.length;
        for (const event of left) {
          const data = encoder.encode(event.data);
          expect(skippable(data, 0, data.length)).toBe(true);
        }
      }
      // The skim did leave events out, or the test would prove nothing.
      expect(leftOut).toBeGreaterThan(2000);
    },
  );
});

async function eventsOf(chunks: Uint8Array[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const event of readSse(
    (async function* () {
      yield* chunks;
    })(),
  ))
    out.push(event);
  return out;
}
