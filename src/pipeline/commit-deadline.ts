import type { ErrorFamily } from "../codecs/errors.ts";
import { FAMILIES } from "../codecs/families.ts";
import { DIALECT_MODULES } from "../codecs/index.ts";
import type { Dialect } from "../codecs/names.ts";
import type { Deadlines } from "../deadlines.ts";
import { type Failure, GatewayError } from "../failure.ts";
import type { AttemptResult } from "./serve.ts";

/*
 * The commit deadline. The commit point holds a stream until its first content, so that a
 * failure before it can go to another account unseen. A model that thinks for minutes without
 * sending anything would hold the client's request for as long, with not even a status line, and
 * clients give up on a silent request: Gemini CLI waits 60 s for response headers. So a stream
 * still without content at proxy.timeouts.commit_deadline is committed anyway: status 200 and
 * headers, then the dialect's keep-alive every keepalive_interval, then the answer as usual once
 * it comes. From then on no retry is possible: a failure is an error event in the client's dialect.
 */

/** How a client's stream sounds while it waits: its content type, its keep-alive, its error. */
export interface SilentStream {
  headers: Readonly<Record<string, string>>;
  keepAlive: Uint8Array;
  /** A failure after the commit, when nothing but keep-alives was written. */
  errorBytes(status: number, message: string): Uint8Array;
}

/** The silent stream of a client of `dialect`, framed as its request asked (`jsonArray`: Gemini without alt=sse). */
export function silentStream(
  dialect: Dialect,
  family: ErrorFamily,
  jsonArray: boolean,
): SilentStream {
  const module = DIALECT_MODULES[dialect];
  return {
    headers: jsonArray
      ? { "content-type": "application/json" }
      : { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    keepAlive: module.keepAliveBytes(jsonArray),
    errorBytes: (status, message) =>
      module.streamErrorBytes(FAMILIES[family].clientStatus(status), message, jsonArray, false),
  };
}

/** One attempt raced against the deadline, and what becomes of it if the deadline comes first. */
export interface CommitDeadline {
  stream: SilentStream;
  deadlines: Deadlines;
  /** Milliseconds left until the deadline (0 or less: it has passed, and it comes at the next check). */
  remainingMs: number;
  intervalMs: number;
  /**
   * The attempt failed after the early commit: its lease finishes as serve would have had it
   * (blamed, unless `blame` is false or the failure is the client's to fix), and the failure comes
   * back as the client may read it, without the account's key.
   */
  settle(failure: Failure, blame: boolean): Failure;
  /** The attempt's outcome no longer matters to anyone (the client left): its lease is blameless. */
  abandon(): void;
  /** The client's answer is now committed, without content. */
  committed(): void;
}

/**
 * The attempt's result when it comes before the deadline; else a committed stream that sends
 * keep-alives until the attempt has its answer, then that answer's bytes (or an error event).
 */
export async function withinCommitDeadline(
  pending: Promise<AttemptResult>,
  deadline: CommitDeadline,
): Promise<AttemptResult> {
  let cancel = () => {};
  const reached = new Promise<"deadline">((resolve) => {
    cancel = deadline.deadlines.after(Math.max(0, deadline.remainingMs), () => resolve("deadline"));
  });
  const first = await Promise.race([pending, reached]);
  if (first !== "deadline") {
    cancel();
    return first;
  }
  deadline.committed();
  return {
    kind: "committed",
    response: new Response(keptAlive(pending, deadline), {
      status: 200,
      headers: deadline.stream.headers,
    }),
  };
}

type Outcome = AttemptResult | { kind: "thrown"; error: unknown };

/** Keep-alives until `pending` settles, then its answer's bytes, or the error it ended with. */
function keptAlive(
  pending: Promise<AttemptResult>,
  deadline: CommitDeadline,
): ReadableStream<Uint8Array> {
  const { stream } = deadline;
  let outcome!: Promise<Outcome>;
  let timer: ReturnType<typeof setInterval> | undefined;
  let inner:
    | {
        read(): Promise<{ done: boolean; value?: Uint8Array }>;
        cancel(reason?: unknown): Promise<void>;
      }
    | undefined;
  let cancelled = false;
  const stopKeepingAlive = () => {
    clearInterval(timer);
    timer = undefined;
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // The status line, the headers and a first keep-alive go at once: the commit is the point.
      controller.enqueue(stream.keepAlive);
      timer = setInterval(() => controller.enqueue(stream.keepAlive), deadline.intervalMs);
      outcome = pending.then(
        (result): Outcome => result,
        (error: unknown): Outcome => ({ kind: "thrown", error }),
      );
      void outcome.then(stopKeepingAlive);
    },
    async pull(controller) {
      let reader = inner;
      if (!reader) {
        const result = await outcome;
        if (cancelled) return;
        if (result.kind === "committed") {
          const body = result.response.body;
          if (!body) {
            controller.close();
            return;
          }
          reader = inner = body.getReader();
        } else {
          const failure: Failure =
            result.kind === "failed"
              ? result.failure
              : {
                  kind: "network",
                  status: result.error instanceof GatewayError ? result.error.status : 502,
                  message: (result.error as Error).message,
                };
          const told = deadline.settle(failure, result.kind === "failed");
          controller.enqueue(stream.errorBytes(told.status, told.message));
          controller.close();
          return;
        }
      }
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else if (value) controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      cancelled = true;
      stopKeepingAlive();
      if (inner) return inner.cancel(reason);
      // The attempt may still be waiting on its upstream (the client's going away aborts that call).
      void outcome.then((result) => {
        if (result.kind === "committed") void result.response.body?.cancel(reason);
        else deadline.abandon();
      });
    },
  });
}
