import { UPSTREAM_CODECS } from "../codecs/index.ts";
import { issuerOf } from "../codecs/opaque.ts";
import type { UpstreamTarget } from "../codecs/codec.ts";
import type { Account, Upstream } from "../config/snapshot.ts";
import type { ChatRequest, ChatResponse } from "../ir.ts";
import type { TokenCounter } from "../tokens/estimate.ts";
import { echoResponse, echoStream } from "../upstream/echo.ts";
import { type Failure, failureOf, UpstreamFailed } from "../failure.ts";
import { failureFromAnswer } from "./answer-failure.ts";
import type { OpenedText, UpstreamClient } from "../upstream/forward.ts";
import { limitsOf } from "../upstream-limits.ts";
import { type EventBatches, eventBatchesOf, ParsedBatches } from "./event-batches.ts";
import { requestHeadersWith, upstreamDialect } from "../upstream/protocol.ts";

/** What a producer gives: the value, or the attempt's Failure (network, refusal, broken answer). */
export type Produced<T> = { ok: true; value: T } | { ok: false; failure: Failure };

/**
 * Anything that answers an IR request: an HTTP upstream through its codec, or echo. Failures are
 * returned, never thrown: only a refusal of the client's own request (GatewayError, e.g. an image
 * URL levity may not fetch) is thrown, because no other account would change it.
 */
export interface Producer {
  accountName: string;
  complete(request: ChatRequest): Promise<Produced<ChatResponse>>;
  /** Resolves once the upstream has accepted the request: its events, which may still fail mid-way by throwing. */
  stream(request: ChatRequest): Promise<Produced<EventBatches>>;
  count(request: ChatRequest): Promise<Produced<{ tokens: number; estimated: boolean }>>;
}

/** Runs a step that may throw an UpstreamFailed (or anything unreadable) and returns its Failure instead. */
async function produced<T>(upstream: string, step: () => Promise<T>): Promise<Produced<T>> {
  try {
    return { ok: true, value: await step() };
  } catch (error) {
    return { ok: false, failure: failureOf(error, upstream) };
  }
}

/** What producers use of the runtime: its upstream client and its token counter. */
export interface ProducerServices {
  upstreamClient: UpstreamClient;
  tokens: TokenCounter;
}

export function echoProducer(upstream: Upstream, { tokens }: ProducerServices): Producer {
  return {
    accountName: "echo",
    complete: (request) =>
      produced(upstream.name, async () =>
        echoResponse(request, issuerOf(upstream.name, "", request.model), tokens),
      ),
    stream: (request) =>
      produced(upstream.name, async () => {
        // Fail before the first byte, as an HTTP upstream would.
        const events = echoStream(request, issuerOf(upstream.name, "", request.model), tokens);
        const first = await events.next();
        return eventBatchesOf(events, first);
      }),
    count: (request) =>
      produced(upstream.name, async () => ({
        tokens: await tokens.countRequest(request),
        estimated: true,
      })),
  };
}

export function targetOf(
  upstream: Upstream,
  issuer: string,
  /** What the caller adds (the signature recorder, the media fetcher), in the same object rather than a copy. */
  extra?: Pick<UpstreamTarget, "onIssued" | "fetchMedia">,
): UpstreamTarget {
  return {
    onIssued: extra?.onIssued,
    fetchMedia: extra?.fetchMedia,
    name: upstream.name,
    issuer,
    protocol: upstream.protocol,
    baseUrl: upstream.baseUrl,
    apiVersion: upstream.apiVersion,
    compat: upstream.openai?.compat,
    promptCache: upstream.promptCache,
  };
}

/**
 * `target` is the attempt's (targetOf): its issuer says what it is sent of the history's
 * signatures, its fetchMedia where media URLs may be fetched from (proxy.media_fetch). Made by
 * the caller, which reads the history with the same one. The client's headers and signal are
 * given as they are: an object holding the three was one more an attempt.
 */
export function httpProducer(
  upstream: Upstream,
  account: Account,
  target: UpstreamTarget,
  clientHeaders: Headers,
  clientSignal: AbortSignal,
  services: ProducerServices,
): Producer {
  return new HttpProducer(upstream, account, target, clientHeaders, clientSignal, services);
}

/**
 * A producer over HTTP. A class: its methods are made once, where an object of closures made
 * six functions and their scopes for every attempt.
 */
class HttpProducer implements Producer {
  readonly accountName: string;
  private readonly codec: (typeof UPSTREAM_CODECS)[keyof typeof UPSTREAM_CODECS];

  constructor(
    private readonly upstream: Upstream,
    private readonly account: Account,
    private readonly target: UpstreamTarget,
    private readonly clientHeaders: Headers,
    private readonly clientSignal: AbortSignal,
    private readonly services: ProducerServices,
  ) {
    this.accountName = account.name;
    this.codec = UPSTREAM_CODECS[upstreamDialect(upstream)];
  }

  /**
   * The call for a built request. Not async, and it may throw before its promise (the body's
   * JSON): a caller awaits it where it catches, so a failure of either kind is the attempt's.
   * An async function here cost complete and stream a suspended call of their own.
   */
  private open(built: { path: string; body: unknown }, stream: boolean): Promise<OpenedText> {
    const { upstream, account } = this;
    return this.services.upstreamClient.open({
      stream,
      upstream,
      // The same string for every call to this endpoint (UpstreamClient.endpointUrl), as pass-through has.
      url: this.services.upstreamClient.endpointUrl(upstream, built.path),
      body: JSON.stringify(built.body),
      headers: requestHeadersWith(
        // The account's key headers as the upstream client keeps them, as pass-through takes them.
        this.services.upstreamClient.accountHeaders(upstream.protocol, account),
        this.clientHeaders,
        false,
      ),
      clientSignal: this.clientSignal,
      timeouts: upstream.timeouts,
      answerAsText: true,
    });
  }

  /** The upstream's refusal of the request, as a Failure; undefined when it accepted it. */
  private refusal(opened: OpenedText): { ok: false; failure: Failure } | undefined {
    const answer = opened.response;
    if (answer.ok) return undefined;
    return {
      ok: false,
      failure: failureFromAnswer(this.codec, answer.status, answer.headers, opened.text ?? ""),
    };
  }

  /**
   * The upstream's answer when it accepted the request (a stream's body still to read, a whole
   * answer's text read); its refusal, as a Failure, when not.
   */
  private async send(
    built: { path: string; body: unknown },
    stream: boolean,
  ): Promise<Produced<OpenedText>> {
    let opened: OpenedText;
    try {
      opened = await this.open(built, stream);
    } catch (error) {
      return { ok: false, failure: failureOf(error, this.upstream.name) };
    }
    return this.refusal(opened) ?? { ok: true, value: opened };
  }

  async complete(request: ChatRequest): Promise<Produced<ChatResponse>> {
    const { codec, target, upstream } = this;
    const built = await codec.buildRequest(
      request.stream ? { ...request, stream: false } : request,
      target,
    );
    // send's steps here, not a call of it: its suspended call and its result were objects more.
    let opened: OpenedText;
    try {
      opened = await this.open(built, false);
    } catch (error) {
      return { ok: false, failure: failureOf(error, upstream.name) };
    }
    const refused = this.refusal(opened);
    if (refused) return refused;
    const body = parsedJson(opened);
    if (body === NOT_JSON)
      return {
        ok: false,
        failure: brokenAnswer(`Upstream "${upstream.name}" answered with a body that is not JSON.`),
      };
    try {
      return { ok: true, value: codec.parseResponse(body, target) };
    } catch (error) {
      // An answer outside the protocol is the upstream's failure; any other error is levity's bug.
      if (error instanceof UpstreamFailed)
        return { ok: false, failure: failureOf(error, upstream.name) };
      throw error;
    }
  }

  async stream(request: ChatRequest): Promise<Produced<EventBatches>> {
    const { codec, target, upstream } = this;
    const built = await codec.buildRequest(
      request.stream ? request : { ...request, stream: true },
      target,
    );
    // send's steps here, not a call of it: its suspended call and its result were objects more.
    let opened: OpenedText;
    try {
      opened = await this.open(built, true);
    } catch (error) {
      return { ok: false, failure: failureOf(error, upstream.name) };
    }
    const refused = this.refusal(opened);
    if (refused) return refused;
    const { response, source } = opened;
    if (!source)
      return {
        ok: false,
        failure: brokenAnswer(
          `Upstream "${upstream.name}" answered a stream request with no body.`,
        ),
      };
    const contentType = response.headers.get("content-type") ?? "";
    const limit = { bytes: limitsOf(upstream).eventBytes, upstream: upstream.name };
    const batches = new ParsedBatches(source);
    return {
      ok: true,
      value: batches.parseWith(
        codec.streamParser(batches.emit, target, contentType, limit, request),
      ),
    };
  }

  async count(request: ChatRequest): Promise<Produced<{ tokens: number; estimated: boolean }>> {
    const { codec, target, upstream } = this;
    const tokens = this.services.tokens;
    if (!codec.buildCountRequest || !codec.parseCount)
      return { ok: true, value: { tokens: await tokens.countRequest(request), estimated: true } };
    const parseCount = codec.parseCount;
    const sent = await this.send(await codec.buildCountRequest(request, target), false);
    // A server of the dialect without its count endpoint (an OpenAI-compatible Responses server
    // that is not OpenAI): the estimate, marked as one, as for a dialect that has none.
    if (!sent.ok && NO_COUNT_ENDPOINT.has(sent.failure.status) && sent.failure.kind === "final")
      return { ok: true, value: { tokens: await tokens.countRequest(request), estimated: true } };
    if (!sent.ok) return sent;
    const body = sent.value;
    return produced(upstream.name, async () => ({
      tokens: parseCount(JSON.parse(body.text ?? "")),
      estimated: false,
    }));
  }
}

/** A whole answer's JSON, or NOT_JSON when its text is not JSON. */
function parsedJson(opened: OpenedText): unknown {
  try {
    return JSON.parse(opened.text ?? "");
  } catch {
    return NOT_JSON;
  }
}

/** What parsedJson answers for a body that is not JSON (undefined and null are JSON's own). */
const NOT_JSON = Symbol("not JSON");

const NO_COUNT_ENDPOINT: ReadonlySet<number> = new Set([404, 405, 501]);

/** A 200 answer levity cannot read: the upstream's fault, so another account is tried (502). */
function brokenAnswer(message: string): Failure {
  return { kind: "broken", status: 502, message };
}
