import type { ChatResponse, Part, StreamEvent, Usage } from "../ir.ts";
import { emptyAnswer, type Failure, failureOf } from "../failure.ts";
import { failureFromEvent } from "./answer-failure.ts";

/*
 * The commit point. Nothing goes to the client until the upstream has produced its first content
 * event: an error, a cut, a timeout or an empty answer before that can still be retried on another
 * account, and the client never knows.
 */

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

/**
 * The commit point, one event at a time: a stream's events are shown to it until it has a
 * verdict. Synchronous, so that a forwarded stream (tap.ts) can ask it from its parser's emit.
 */
export class CommitWatch {
  /** The events before the verdict, the one that gave it included when it is content. */
  readonly seen: StreamEvent[] = [];
  /** "failed" with `failure` set: what went wrong (kind "final" when no other account would avoid it, e.g. a 400 sent as a stream event). */
  verdict: "content" | "failed" | undefined;
  failure: Failure | undefined;

  constructor(private readonly upstream: string) {}

  see(event: StreamEvent): void {
    if (this.verdict) return;
    if (event.type === "error") this.fail(failureFromEvent(event.status, event.message));
    else if (event.type === "finish" && event.stop === "end")
      this.fail(emptyAnswer(this.upstream, usageNote(event.usage)));
    else {
      // A finish that is not "end" (cut at the length, filtered) is an answer, its last event.
      this.seen.push(event);
      if (event.type === "finish" || isContent(event)) this.verdict = "content";
      else if (this.seen.length > MAX_EVENTS_BEFORE_CONTENT)
        this.fail({
          kind: "broken",
          status: 502,
          message: `upstream "${this.upstream}" sent over ${MAX_EVENTS_BEFORE_CONTENT} events before any content`,
        });
    }
  }

  /** The stream broke (a read, the parser) before a verdict. */
  thrown(error: unknown): void {
    if (!this.verdict) this.fail(failureOf(error, this.upstream));
  }

  /** The stream ended before a verdict. */
  ended(): void {
    if (!this.verdict)
      this.fail({
        kind: "broken",
        status: 502,
        message: `upstream "${this.upstream}" ended its stream before any content`,
      });
  }

  private fail(failure: Failure): void {
    this.verdict = "failed";
    this.failure = failure;
  }
}

function usageNote(usage: Usage): string {
  return `${usage.input} tokens in, ${usage.output} out`;
}
