import type { Usage } from "../ir.ts";
import { DIALECT_MODULES, UPSTREAM_CODECS } from "../codecs/index.ts";
import { isObject, type JsonObject } from "../codecs/json.ts";
import type { Emit, StreamParser } from "../codecs/sse.ts";
import type { UpstreamTarget } from "../codecs/codec.ts";
import type { Dialect } from "../codecs/names.ts";
import type { Upstream } from "../config/snapshot.ts";
import { errorResponse } from "../codecs/errors.ts";
import type { Target } from "../mapping/table.ts";
import { targetOf } from "./producer.ts";
import { emptyAnswer, type Failure, failureOf, GatewayError } from "../failure.ts";
import { failureFromAnswer, failureFromEvent } from "./answer-failure.ts";
import { isEmptyAnswer } from "./first-content.ts";
import type { Lease } from "../pool/lease.ts";
import type { AttemptResult, TargetRunner } from "./serve.ts";
import { type BeforeFinal, type Tapped, type TapVerdict, tapStream } from "./tap.ts";
import type { SharedWrite } from "../state/store.ts";
import type { GuardedSource, OpenedText, UpstreamClient } from "../upstream/forward.ts";
import type { UpstreamHead } from "../upstream/http1.ts";
import { limitsOf } from "../upstream-limits.ts";
import { adaptChatBody, meansNoSuchRoute } from "../codecs/openai-compatible/index.ts";
import {
  clientResponseHeaders,
  endpointPathFor,
  requestHeadersWith,
} from "../upstream/protocol.ts";
import type { AttemptContext } from "./attempt-context.ts";
import type { Logger } from "../log.ts";
import { REASONING_HISTORY } from "../codecs/reasoning-history.ts";
import type { SignatureRegistry } from "../state/signature-registry.ts";
import {
  attemptIssuer,
  retryWithoutReasoning,
  sendNoSignature,
  signatureSender,
  tellOf,
} from "./signatures.ts";

/** An error inside a 200 answer: some OpenAI-compatible servers report failures this way. */
function embeddedError(json: unknown): { status: number; message: string } | undefined {
  if (!isObject(json)) return undefined;
  const error = json.error;
  if (!isObject(error)) return undefined;
  const code =
    typeof error.code === "number" ? error.code : error.type === "overloaded_error" ? 529 : 500;
  return {
    status: code >= 400 && code < 600 ? code : 500,
    message: String(error.message ?? "the upstream answered with an error"),
  };
}

/** A failure for a client of the upstream's own dialect: the upstream's error body as it sent it, where there is one. */
export function sameDialectFailure(
  ctx: AttemptContext,
  failure: Failure,
  headers: Headers,
): Response {
  if (failure.upstream) {
    const out = clientResponseHeaders(failure.upstream.headers);
    headers.forEach((value, name) => {
      out[name] = value;
    });
    return new Response(failure.upstream.body, { status: failure.status, headers: out });
  }
  return errorResponse(
    ctx.family,
    failure.status,
    failure.message,
    { headers: Object.fromEntries(headers) },
    ctx.requestId,
  );
}

/** What a pass-through runner uses of the gateway's services. */
export interface PassthroughServices {
  upstreamClient: UpstreamClient;
  /** Who issued each signature levity has seen in a same-dialect answer. */
  signatures: SignatureRegistry;
  log: Logger;
}

/** Another way to the same answer when the upstream turns out not to have this route at all. */
export type NoSuchRoute = (lease: Lease) => Promise<AttemptResult>;

/*
 * Module functions, not closures made with every runner: they need nothing of the request.
 */
function failed(failure: Failure): AttemptResult {
  return { kind: "failed", failure };
}

/** Where pins are shared, their write: the client's answer waits for it (shared-affinity.ts). */
function pinStored(lease: Lease, id: string | undefined): SharedWrite {
  return id ? lease.pinResponse(id) : undefined;
}

function pinNothing(_lease: Lease, _id: string | undefined): SharedWrite {
  return undefined;
}

/** A stored response's pin, written before the client has its final event. */
const pinBeforeFinal: BeforeFinal = (lease, verdict) =>
  verdict.error ? undefined : pinStored(lease, verdict.id);

/** What a whole answer's attempt gives once its pin is written. */
function resultAfterPin(result: AttemptResult): AttemptResult {
  return result;
}

/**
 * A client whose dialect is the upstream's: its bytes go through untouched, with only the model
 * rewritten, and the answer comes back untouched; it is read on the way, for the commit point,
 * errors hidden in a 200, empty answers and usage. Its arguments as they are, not in an object of
 * options: that was one more object a request.
 *
 * A class, not an object of closures: the runner's three functions and the scope they shared were
 * made for every request, where its methods are made once.
 */
export class PassthroughRunner implements TargetRunner {
  readonly upstream: Upstream;
  readonly model: string;
  readonly attempt: (lease: Lease) => Promise<AttemptResult>;
  private readonly ctx: AttemptContext;
  private readonly dialect: Dialect;
  private readonly stream: boolean;
  private readonly upstreamClient: UpstreamClient;
  private readonly signatures: SignatureRegistry;
  private readonly onNoSuchRoute: NoSuchRoute | undefined;
  private readonly json: JsonObject;
  private readonly adapted: JsonObject | undefined;
  /** What is sent when no signature is left out: the client's bytes, or the rewritten body. */
  private readonly body: string;
  // Made by the first rewrite: a dialect without signatures in its history never needs it.
  private bodies: Map<string, string> | undefined;
  private readonly url: string;
  private readonly codec: (typeof UPSTREAM_CODECS)[Dialect];
  private readonly pin: (lease: Lease, id: string | undefined) => SharedWrite;
  /** The target a dialect without signatures parses with: one for all its attempts. */
  private unsignedTarget: UpstreamTarget | undefined;

  constructor(
    ctx: AttemptContext,
    dialect: Dialect,
    target: Target,
    upstream: Upstream,
    stream: boolean,
    services: PassthroughServices,
    onNoSuchRoute: NoSuchRoute | undefined,
  ) {
    this.ctx = ctx;
    this.dialect = dialect;
    this.upstream = upstream;
    this.model = target.model;
    this.stream = stream;
    this.upstreamClient = services.upstreamClient;
    this.signatures = services.signatures;
    this.onNoSuchRoute = onNoSuchRoute;
    const { json, text } = ctx.body!;
    this.json = json;
    // Only the model changes, and for an OpenAI-compatible provider what it would refuse; otherwise the client's bytes go through untouched.
    const adapted =
      dialect === "openai-chat" && upstream.openai
        ? adaptChatBody(json, upstream.openai.compat)
        : undefined;
    this.adapted = adapted;
    this.body =
      dialect === "gemini" || (json.model === target.model && !adapted)
        ? text
        : JSON.stringify({ ...(adapted ?? json), model: target.model });
    this.url = services.upstreamClient.endpointUrl(
      upstream,
      endpointPathFor(upstream, dialect, {
        operation: ctx.match.route.operation,
        model: target.model,
        stream,
        // Only Gemini's endpoint carries the client's query (its `alt`): asked for elsewhere, the
        // URL made a URLSearchParams object every request.
        query: upstream.protocol === "gemini" ? ctx.url.searchParams : undefined,
        apiVersion: upstream.apiVersion,
      }),
    );
    this.codec = UPSTREAM_CODECS[dialect];
    // OpenAI stores a Response in the account that made it (unless store: false); continuing it must go back there.
    this.pin = dialect === "openai-responses" && json.store !== false ? pinStored : pinNothing;
    // A dialect without signatures in its history has nothing to leave out: a second attempt
    // would send the same body, so its attempts go unwrapped (one async call less each).
    this.attempt = REASONING_HISTORY[dialect]
      ? retryWithoutReasoning(tellOf(ctx, upstream, services.log), this.attemptOnce.bind(this))
      : this.attemptOnce;
  }

  failureResponse(failure: Failure, headers: Headers): Response {
    return sameDialectFailure(this.ctx, failure, headers);
  }

  /** The history's signatures go only to the attempt that may have them (signatures.ts); the body is rewritten only when one may not, once per issuer. */
  private bodyFor(issuer: string, noReasoning: boolean): string {
    const history = REASONING_HISTORY[this.dialect];
    if (!history) return this.body;
    this.bodies ??= new Map();
    const key = noReasoning ? "" : issuer;
    let chosen = this.bodies.get(key);
    if (chosen === undefined) {
      const send = noReasoning
        ? sendNoSignature
        : signatureSender(issuer, this.upstream.protocol, this.signatures);
      const rewritten = history(this.adapted ?? this.json, send, noReasoning);
      chosen =
        rewritten === undefined
          ? this.body
          : JSON.stringify(
              this.dialect === "gemini" ? rewritten : { ...rewritten, model: this.model },
            );
      this.bodies.set(key, chosen);
    }
    return chosen;
  }

  // Called as `runner.attempt(lease)` when unwrapped, so `this` is the runner.
  /*
   * Not async: an async function that waits cost every attempt its generator, two scopes and a
   * function; the answer's handlers, bound here, are two functions. A caller still sees every
   * failure as the promise's rejection, as of the async function this was.
   */
  attemptOnce(lease: Lease, noReasoning = false): Promise<AttemptResult> {
    try {
      return this.call(lease, noReasoning);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private call(lease: Lease, noReasoning: boolean): Promise<AttemptResult> {
    const { upstream } = this;
    // The answer goes to the client as it is: who signed what in it is remembered here. A dialect
    // whose history carries no signatures signs nothing, and its codec reads no issuer: the
    // issuer's strings and the target's two objects were made for nothing every attempt.
    let issuer = "";
    let parseTarget: UpstreamTarget;
    if (REASONING_HISTORY[this.dialect]) {
      issuer = attemptIssuer(upstream, lease.account, this.model);
      parseTarget = targetOf(upstream, issuer, { onIssued: this.signatures.recordIssued });
    } else parseTarget = this.unsignedTarget ??= targetOf(upstream, issuer);
    let opening: Promise<OpenedText>;
    try {
      opening = this.upstreamClient.open({
        stream: this.stream,
        upstream,
        url: this.url,
        body: this.bodyFor(issuer, noReasoning),
        headers: requestHeadersWith(
          this.upstreamClient.accountHeaders(upstream.protocol, lease.account),
          this.ctx.request.headers,
          true,
        ),
        clientSignal: this.ctx.request.signal,
        timeouts: upstream.timeouts,
        answerAsText: true,
      });
    } catch (error) {
      return Promise.resolve(this.unopened(error));
    }
    return opening.then(this.answered.bind(this, lease, parseTarget), this.unopened.bind(this));
  }

  /** The call failed before an answer came: the upstream is unreachable, or the client left (thrown on). */
  private unopened(error: unknown): AttemptResult {
    return failed(failureOf(error, this.upstream.name));
  }

  private answered(
    lease: Lease,
    parseTarget: UpstreamTarget,
    opened: OpenedText,
  ): AttemptResult | Promise<AttemptResult> {
    const { upstream, codec } = this;
    const { response, source } = opened;
    // Read whole by the upstream client (answerAsText), unless it is a successful stream.
    const answer = opened.text ?? "";
    const headers = clientResponseHeaders(response.headers);
    if (!response.ok) {
      if (this.onNoSuchRoute && meansNoSuchRoute(response.status, answer))
        return this.onNoSuchRoute(lease);
      return failed(failureFromAnswer(codec, response.status, response.headers, answer));
    }
    if (source) return this.forwardStream(lease, response, source, parseTarget, headers);

    if (this.ctx.match.route.operation === "count-tokens") {
      lease.finish({ ok: true });
      return {
        kind: "committed",
        response: new Response(answer, { status: response.status, headers }),
      };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer);
    } catch {
      return failed({
        kind: "broken",
        status: 502,
        message: `upstream "${upstream.name}" answered 200 with a body that is not JSON: ${answer.slice(0, 120)}`,
      });
    }
    const hidden = embeddedError(parsed);
    if (hidden) {
      const failure = failureFromEvent(hidden.status, hidden.message);
      // A request the client must fix gets the upstream's answer as it was, at the error's status.
      if (failure.kind === "final") failure.upstream = { body: answer, headers: response.headers };
      return failed(failure);
    }
    let usage: Usage | undefined;
    let pinned: SharedWrite;
    try {
      const read = codec.parseResponse(parsed, parseTarget);
      if (isEmptyAnswer(read)) return failed(emptyAnswer(upstream.name));
      usage = read.usage;
      pinned = this.pin(lease, read.id);
    } catch {
      // An answer levity cannot read is still the upstream's answer for this same-dialect client.
    }
    lease.finish({ ok: true, usage });
    const result: AttemptResult = {
      kind: "committed",
      response: new Response(answer, {
        status: response.status,
        statusText: response.statusText,
        headers,
      }),
    };
    // A function bound only here: a closure over the result made every call a scope for it.
    return pinned ? pinned.then(resultAfterPin.bind(undefined, result)) : result;
  }

  /*
   * A successful stream, in methods of their own, and not async: closures written in the attempt
   * made every attempt a scope for them, and waiting in an async function cost a stream its
   * generator, three scopes and a function. The tap's callbacks are bound methods.
   */
  private forwardStream(
    lease: Lease,
    response: UpstreamHead,
    source: GuardedSource,
    parseTarget: UpstreamTarget,
    headers: Record<string, string>,
  ): Promise<AttemptResult> {
    const { upstream, codec } = this;
    const contentType = response.headers.get("content-type") ?? "";
    const limits = limitsOf(upstream);
    return tapStream(
      source,
      this.streamParser.bind(this, parseTarget, contentType, limits.eventBytes),
      upstream.name,
      this.streamErrorBytes.bind(this),
      limits,
      contentType.includes("event-stream") ? codec.skippableData : undefined,
      this.pin === pinStored ? pinBeforeFinal : undefined,
      lease,
    ).then(this.tapped.bind(this, lease, response, headers));
  }

  private streamParser(
    parseTarget: UpstreamTarget,
    contentType: string,
    eventBytes: number,
    emit: Emit,
  ): StreamParser {
    return this.codec.streamParser(emit, parseTarget, contentType, {
      bytes: eventBytes,
      upstream: this.upstream.name,
    });
  }

  /** How the client's stream is framed is asked only when it breaks. */
  private streamErrorBytes(error: unknown): Uint8Array {
    const module = DIALECT_MODULES[this.dialect];
    return module.streamErrorBytes(
      502,
      failureOf(error, this.upstream.name).message,
      module.streamFraming(this.ctx) === "json-array",
    );
  }

  private tapped(
    lease: Lease,
    response: UpstreamHead,
    headers: Record<string, string>,
    tapped: Tapped,
  ): AttemptResult {
    if (tapped.kind === "failed") return failed(tapped.failure);
    void tapped.done.then(this.streamEnded.bind(this, lease));
    return {
      kind: "committed",
      response: new Response(tapped.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      }),
    };
  }

  private streamEnded(lease: Lease, verdict: TapVerdict): void {
    const { error } = verdict;
    // A stored response was pinned before its final event went out (pinBeforeFinal).
    if (!error) lease.finish({ ok: true, usage: verdict.usage });
    else if (error instanceof GatewayError)
      lease.finish({ neutral: true }); // the client left: the account is blameless
    else lease.finish({ ok: false, failure: failureOf(error, this.upstream.name) });
  }
}
