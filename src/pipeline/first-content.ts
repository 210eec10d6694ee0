import type { ChatResponse, Part, StreamEvent, Usage } from "../ir.ts";
import { emptyAnswer, type Failure, failureOf } from "../failure.ts";
import { failureFromEvent } from "./answer-failure.ts";

/*
 * The commit point. Nothing goes to the client until the upstream has produced its first content
 * event: an error, a cut, a timeout or an empty answer before that can still be retried on another
 * account, and the client never knows.
 */

export type Peeked =
  /** Content arrived: the events so far and the rest, in order. */
  | { kind: "content"; events: AsyncIterable<StreamEvent> }
  /** No content: what went wrong (kind "final" when no other account would avoid it, e.g. a 400 sent as a stream event). */
  | { kind: "failed"; failure: Failure };

function isContent(event: StreamEvent): boolean {
  return (
    (event.type === "text" && event.text !== "") ||
    event.type === "thinking" ||
    event.type === "redacted_thinking" ||
    event.type === "tool_call_start" ||
    event.type === "server_tool" ||
    event.type === "media" ||
    event.type === "opaque_output"
  );
}

/** An answer that finished with nothing in it: the "0 token" answer. A filtered or cut-short one is an answer. */
export function isEmptyAnswer(
  response: Pick<ChatResponse, "parts" | "stop" | "opaqueOutput">,
): boolean {
  return (
    response.stop === "end" && !response.opaqueOutput?.length && !response.parts.some(isAnswerPart)
  );
}

// A function of the module's, not an arrow made for every answer checked.
function isAnswerPart(p: Part): boolean {
  return (
    (p.type === "text" && p.text !== "") ||
    p.type === "tool_call" ||
    p.type === "thinking" ||
    p.type === "server_tool_result" ||
    p.type === "media"
  );
}

/**
 * Events held before the first content (starts, usage, empty text): a real stream has a handful;
 * an upstream that sends such events for ever must not be held for ever.
 */
export const MAX_EVENTS_BEFORE_CONTENT = 10_000;

export async function untilFirstContent(
  events: AsyncIterable<StreamEvent>,
  upstream: string,
): Promise<Peeked> {
  const iterator = events[Symbol.asyncIterator]();
  const seen: StreamEvent[] = [];
  const stop = () => iterator.return?.().catch(() => {});
  for (;;) {
    let next: IteratorResult<StreamEvent>;
    try {
      next = await iterator.next();
    } catch (error) {
      return { kind: "failed", failure: failureOf(error, upstream) };
    }
    if (next.done) {
      return {
        kind: "failed",
        failure: {
          kind: "broken",
          status: 502,
          message: `upstream "${upstream}" ended its stream before any content`,
        },
      };
    }
    const event = next.value;
    if (event.type === "error") {
      void stop();
      return { kind: "failed", failure: failureFromEvent(event.status, event.message) };
    }
    if (event.type === "finish") {
      void stop();
      if (event.stop !== "end")
        return { kind: "content", events: replay([...seen, event], iterator) };
      return { kind: "failed", failure: emptyAnswer(upstream, usageNote(event.usage)) };
    }
    seen.push(event);
    if (isContent(event)) return { kind: "content", events: replay(seen, iterator) };
    if (seen.length > MAX_EVENTS_BEFORE_CONTENT) {
      void stop();
      return {
        kind: "failed",
        failure: {
          kind: "broken",
          status: 502,
          message: `upstream "${upstream}" sent over ${MAX_EVENTS_BEFORE_CONTENT} events before any content`,
        },
      };
    }
  }
}

function usageNote(usage: Usage): string {
  return `${usage.input} tokens in, ${usage.output} out`;
}

async function* replay(
  seen: StreamEvent[],
  rest: AsyncIterator<StreamEvent>,
): AsyncGenerator<StreamEvent> {
  yield* seen;
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return?.();
  }
}
