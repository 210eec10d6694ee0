import { GatewayError } from "../http/errors.ts";
import type { ChatResponse, StreamEvent, Usage } from "../ir.ts";
import { UpstreamUnreachable } from "../upstream/forward.ts";
import { UpstreamBroken } from "../upstream/limits.ts";
import { classifyStatus, type Failure } from "../pool/failure.ts";

/*
 * The commit point. Nothing goes to the client until the upstream has produced its first content
 * event: an error, a cut, a timeout or an empty answer before that can still be retried on another
 * account, and the client never knows.
 */

export type Peeked =
  /** Content arrived: the events so far and the rest, in order. */
  | { kind: "content"; events: AsyncIterable<StreamEvent> }
  /** An error no other account would avoid (a 400 the upstream sent as a stream event). */
  | { kind: "final"; status: number; message: string }
  | { kind: "failed"; failure: Failure };

function isContent(event: StreamEvent): boolean {
  return (
    (event.type === "text" && event.text !== "") ||
    event.type === "thinking" ||
    event.type === "redacted_thinking" ||
    event.type === "tool_call_start"
  );
}

/**
 * A failure from what a stream or a call threw. levity's own verdicts (a client that went away,
 * an image URL that cannot be fetched) are not the account's failures: they are thrown on.
 */
export function failureFromError(error: unknown, upstream: string): Failure {
  if (error instanceof GatewayError) throw error;
  if (error instanceof UpstreamUnreachable)
    return {
      kind: error.kind,
      status: error.kind === "timeout" ? 504 : 502,
      message: error.message,
    };
  if (error instanceof UpstreamBroken)
    return { kind: "broken", status: 502, message: error.message };
  return {
    kind: "broken",
    status: 502,
    message: `upstream "${upstream}" broke off its stream: ${(error as Error).message}`,
  };
}

/** An answer that finished with nothing in it: the "0 token" answer. A filtered or cut-short one is an answer. */
export function isEmptyAnswer(response: Pick<ChatResponse, "parts" | "stop">): boolean {
  return (
    response.stop === "end" &&
    !response.parts.some(
      (p) =>
        (p.type === "text" && p.text !== "") || p.type === "tool_call" || p.type === "thinking",
    )
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
      return { kind: "failed", failure: failureFromError(error, upstream) };
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
      const kind = classifyStatus(event.status, event.message);
      if (kind === "final") return { kind: "final", status: event.status, message: event.message };
      return { kind: "failed", failure: { kind, status: event.status, message: event.message } };
    }
    if (event.type === "finish") {
      void stop();
      if (event.stop !== "end")
        return { kind: "content", events: replay([...seen, event], iterator) };
      return {
        kind: "failed",
        failure: {
          kind: "empty",
          status: 502,
          message: `upstream "${upstream}" finished its answer with no content (${usageNote(event.usage)})`,
        },
      };
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
