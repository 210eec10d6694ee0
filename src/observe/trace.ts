import type { RouteDef } from "../config/route-table.ts";
import type { Usage } from "../ir.ts";
import { type Lease, LeaseWrapper, type Outcome } from "../pool/lease.ts";
import { scrubKey } from "../scrub.ts";
import type { RecordSink, RequestRecord } from "./record.ts";

/*
 * What one request did, gathered while it runs: the gateway fills in the route and the client,
 * the generate operation the models, the pool each attempt. The record is complete when the
 * client has its answer and the account that gave it has finished its lease; for a stream that
 * is the stream's end, so the latency and the tokens are the whole answer's.
 */

const ERROR_TEXT_MAX = 1000;
/** The clock of every trace that is not given one: one function, not one bound per request. */
const MONOTONIC_NOW = () => performance.now();

export interface TraceOptions {
  /** Cut request and response bodies at this many bytes; undefined: no bodies. */
  bodyMaxBytes?: number;
  now?: () => number;
}

export class RequestTrace {
  private readonly startedAt: number;
  private readonly now: () => number;
  // Written only through the methods below, so what a record holds is decided in one place.
  private readonly record: RequestRecord;
  /** Only traffic is recorded: a healthy health check or an admin call is not. */
  private traffic = false;
  private committed: Lease | undefined;
  private committedFinished = false;
  /** The lease that finished last: a whole answer's finishes before it is committed. */
  private lastFinished: Lease | undefined;
  /** Why the last failed attempt failed; the record's error only if no attempt succeeded. */
  private attemptError: string | undefined;
  /** Why the answer broke after the commit point. */
  private streamError: string | undefined;
  private explicitError: string | undefined;
  private handedAt: number | undefined;
  private bodyPending = false;
  private done = false;

  constructor(
    requestId: string,
    method: string,
    path: string,
    private readonly sink: RecordSink,
    private readonly options: TraceOptions = {},
  ) {
    this.now = options.now ?? MONOTONIC_NOW;
    this.startedAt = this.now();
    this.record = {
      time: Date.now(),
      requestId,
      method,
      route: head(path, 300),
      unmatched: true,
      attempts: 0,
      status: 0,
      stream: false,
      latencyMs: 0,
      ttfbMs: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    sink.started();
  }

  /** The route the request was matched to: it names the record from then on. */
  matched(route: Pick<RouteDef, "path" | "dialect" | "auth">): void {
    this.record.route = route.path;
    this.record.unmatched = undefined;
    this.record.dialect = route.dialect;
    // Traffic is what clients ask of the upstreams; health checks, scrapes and the monitor's polling are not.
    this.traffic = route.auth === "api";
  }

  /** The client key that opened the route, by name; undefined when none was needed. */
  authenticated(clientKey: string | undefined): void {
    this.record.clientKey = clientKey;
  }

  /**
   * A WebSocket upgrade was admitted: the upgrade itself is not traffic, each message on the
   * socket comes back as a POST of its own and is recorded then.
   */
  upgraded(): void {
    this.traffic = false;
  }

  /** What the client asked for, as the generate operation read it from the request. */
  requested(model: string, stream: boolean): void {
    this.record.requestedModel = head(model, 200);
    this.record.stream = stream;
  }

  /**
   * The model the client named, read before any operation does: a request refused for its key
   * (a model it may not use, a limit reached) is logged with the model it asked for.
   */
  named(model: string): void {
    this.record.requestedModel ??= head(model, 200);
  }

  /** Kept for traffic only, and only when the log keeps bodies. */
  requestBody(text: string): void {
    if (this.traffic && this.options.bodyMaxBytes !== undefined)
      this.record.requestBody = cut(text, this.options.bodyMaxBytes);
  }

  /** This request is an operator's replay of an earlier one (levity replay): its record says which. */
  replays(requestId: string): void {
    this.record.replayOf = requestId;
  }

  /** Why levity refused or failed the request. */
  error(message: string): void {
    this.explicitError = message;
  }

  /** Where the answer came from, as the pool decided it. */
  routed(
    mappedModel: string,
    upstream: string,
    account: string | undefined,
    attempts: number,
  ): void {
    this.record.mappedModel = mappedModel;
    this.record.upstream = upstream;
    this.record.account = account;
    this.record.attempts = attempts;
  }

  /** This attempt's answer is the client's: the record waits for its lease to finish. */
  commit(lease: Lease): void {
    this.committed = lease;
    // A whole answer's lease has finished before it is committed.
    this.committedFinished = lease === this.lastFinished;
  }

  /** Told by the lease it observes (ObservedLease), once. */
  attemptEnded(lease: Lease, outcome: Outcome): void {
    this.lastFinished = lease;
    if (lease === this.committed) this.committedFinished = true;
    if ("ok" in outcome && outcome.ok && outcome.usage) this.usage(outcome.usage);
    if (lease !== this.committed) {
      if ("failure" in outcome) this.attemptError = outcome.failure.message;
      return;
    }
    if ("failure" in outcome) this.streamError = outcome.failure.message;
    else if ("neutral" in outcome)
      this.streamError = "the client went away before the answer finished";
    this.complete();
  }

  private usage(usage: Usage): void {
    this.record.inputTokens = usage.input;
    this.record.outputTokens = usage.output;
    this.record.cachedTokens = usage.cached ?? 0;
    this.record.cacheWriteTokens = usage.cacheWrite ?? 0;
    this.record.reasoningTokens = usage.reasoning ?? 0;
  }

  /** The response is handed to the client. Returns it, with its body observed when bodies are logged. */
  responded(response: Response): Response {
    this.handedAt = this.now();
    this.record.status = response.status;
    if (
      response.status >= 400 &&
      this.explicitError === undefined &&
      this.attemptError === undefined
    )
      this.readError(response);
    const max = this.options.bodyMaxBytes;
    if (max !== undefined && response.body) response = this.capturing(response, response.body, max);
    this.complete();
    return response;
  }

  /*
   * In a method of its own: the closure over `this` written in `responded` made the engine give
   * every call a scope, though only a log that keeps bodies uses it.
   */
  private capturing(response: Response, body: ReadableStream<Uint8Array>, max: number): Response {
    this.bodyPending = true;
    return new Response(
      captureBody(body, max, (text) => {
        // An upstream may echo the account's key in a 200 as in an error: the log keeps neither.
        this.record.responseBody = this.committed
          ? scrubKey(text, this.committed.account.key)
          : text;
        this.bodyPending = false;
        this.complete();
      }),
      response,
    );
  }

  /** An error body is small; its message is the record's error text. */
  private readError(response: Response): void {
    if (!response.body) return;
    this.bodyPending = true;
    response
      .clone()
      .text()
      .then(
        (text) => (this.explicitError = errorMessageOf(text)),
        () => {},
      )
      .finally(() => {
        this.bodyPending = false;
        this.complete();
      });
  }

  private complete(): void {
    if (this.done || this.handedAt === undefined || this.bodyPending) return;
    if (this.committed && !this.committedFinished) return;
    this.done = true;
    const failed = this.record.status >= 400;
    const error =
      this.streamError ?? (failed ? (this.explicitError ?? this.attemptError) : undefined);
    if (error !== undefined) this.record.error = head(error, ERROR_TEXT_MAX);
    this.record.ttfbMs = round(this.handedAt - this.startedAt);
    this.record.latencyMs = round(this.now() - this.startedAt);
    this.sink.finished(this.traffic || this.record.status >= 400 ? this.record : undefined);
  }
}

/** At most `max` UTF-16 units of the text, never half of a character that takes two. */
export function head(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${head(text, max)}… [${text.length - max} more characters]`;
}

/** The message inside any of the three error shapes, or the text itself. */
export function errorMessageOf(text: string): string {
  try {
    const json = JSON.parse(text) as unknown;
    const body = Array.isArray(json) ? json[0] : json;
    const error = (body as { error?: unknown })?.error;
    if (
      error &&
      typeof error === "object" &&
      typeof (error as { message?: unknown }).message === "string"
    )
      return (error as { message: string }).message;
    if (typeof error === "string") return error;
  } catch {
    // not JSON: the text is the message
  }
  return head(text, ERROR_TEXT_MAX);
}

/** Passes the body through unchanged, keeping its first `max` bytes as text for the log. */
function captureBody(
  body: ReadableStream<Uint8Array>,
  max: number,
  done: (text: string) => void,
): ReadableStream<Uint8Array> {
  const kept: Uint8Array[] = [];
  let size = 0;
  let total = 0;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    const text = new TextDecoder().decode(Buffer.concat(kept));
    done(total > size ? `${text}… [${total - size} more bytes]` : text);
  };
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          report();
          controller.close();
          return;
        }
        total += value.byteLength;
        if (size < max) {
          const part = value.subarray(0, max - size);
          kept.push(part.slice());
          size += part.byteLength;
        }
        controller.enqueue(value);
      } catch (error) {
        report();
        controller.error(error);
      }
    },
    cancel(reason) {
      report();
      return reader.cancel(reason);
    },
  });
}

/**
 * A lease whose end the trace is told of. A lease ends once: the pool ignores a second finish
 * (a stream's "neutral" after its result), and so does the record. serveWithPool's lease extends
 * it (one object an attempt, not one wrapper around another); the trace's commit takes that lease.
 */
export class ObservedLease extends LeaseWrapper {
  private ended = false;

  constructor(
    inner: Lease,
    private readonly trace: RequestTrace,
  ) {
    super(inner);
  }

  finish(outcome: Outcome): void {
    this.inner.finish(outcome);
    if (this.ended) return;
    this.ended = true;
    // Failures arrive without the account's key (serveWithPool clears them).
    this.trace.attemptEnded(this, outcome);
  }
}
