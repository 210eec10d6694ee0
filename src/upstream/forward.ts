import type { UpstreamProtocol } from "../codecs/names.ts";
import type { Account, Timeouts, Upstream } from "../config/snapshot.ts";
import { broken, GatewayError, UpstreamFailed, unreachable } from "../failure.ts";
import { SweepList } from "../sweep.ts";
import { limitsOf } from "../upstream-limits.ts";
import { type Http1Answer, Http1Client, type UpstreamHead } from "./http1.ts";
import { accountHeaders } from "./protocol.ts";
import { decodedStream } from "./stream-decode.ts";
import { contentEncoding, readSizedText, readWholeBody, RUNTIME_DECODES } from "./whole-body.ts";

export interface UpstreamCall {
  upstream: Upstream;
  /** POST unless said (Gemini's Files API deletes an upload levity made). */
  method?: "POST" | "DELETE";
  url: string;
  /** JSON text, a multipart form's bytes, or an upload's pieces as a stream (its length set in the headers by the caller). */
  body: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Lower-case names, and values a Headers object would hold (requestHeadersWith makes them so). */
  headers: Record<string, string>;
  /** Aborted when the client goes away: the call is then cut within one sweep (SWEEP_MS). */
  clientSignal: AbortSignal;
  /** The answer is a stream, read chunk by chunk; otherwise it is read whole before this returns. */
  stream?: boolean;
  /**
   * A whole answer (or an error's body) is handed over as its text in OpenedUpstream.text, and
   * `response` is the upstream's own with its body spent, rather than a new Response around the
   * text that the caller would read back out: two objects and a promise less for every answer.
   */
  answerAsText?: boolean;
  timeouts: Timeouts;
}

// Endpoint URLs whose origin is remembered; past this many (a Gemini model in each path), forgotten.
const ORIGINS_MAX = 1_000;
/** Endpoint URLs kept per upstream; past this many paths (Gemini's name models), forgotten. */
const ENDPOINTS_PER_UPSTREAM = 1_000;

// Hosts that answered recently need no connection probe.
const PROBE_AFTER_QUIET_MS = 30_000;

/**
 * levity's own HTTP/1.1 client makes a call only while fewer than this many others wait for their
 * answers. On the serving thread a call's socket reads and writes save fetch's two crossings to its
 * own thread and back (~20-50 µs of CPU and latency at c=1 on the bench's machine), but under load
 * they take turns from the requests that thread serves, and 1,000 streams made this way had a
 * time to first token four times fetch's at the 99th percentile (BENCHMARKS.md, issue 20,
 * twelfth session), so streams always go through fetch.
 */
const INLINE_BELOW = 2;

/**
 * Nor while the gateway serves more than this many client requests: at c=64 the serving thread is
 * the bottleneck and the upstream answers quickly, so few calls wait upstream while 64 requests
 * wait on that thread, and calls made on it cost 8-10% of the throughput (BENCHMARKS.md).
 */
const SERVING_AT_MOST = 2;

/** The environment variables through which fetch itself goes to an HTTP proxy. */
const PROXY_VARIABLES: readonly string[] = [
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "https_proxy",
  "http_proxy",
];

async function probe(url: URL, upstream: string, timeoutMs: number): Promise<void> {
  const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
  // Loaded with the first probe, not at start: a module levity may never need is resident memory.
  const { connect } = await import("node:net");
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: url.hostname, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        unreachable(
          "timeout",
          `could not connect to upstream "${upstream}" at ${url.origin} within ${timeoutMs / 1000} s (timeouts.connect)`,
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (error: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(
        unreachable(
          "network",
          `could not reach upstream "${upstream}" at ${url.origin}: ${error.code ?? error.message}`,
        ),
      );
    });
  });
}

/*
 * Every call in flight is on one watch list; a sweep every 100 ms aborts those past a limit,
 * each with the limit's own reason. (Two timers per call and one per chunk, as this was first
 * written, cost a third of the gateway's throughput.)
 */
const SWEEP_MS = 100;

interface Watched {
  call: UpstreamCall;
  abort: AbortController;
  /** performance.now() deadlines. */
  totalAt: number;
  firstByteAt: number;
  /** Headers received: from then on, the idle limit counts from the last chunk. */
  receiving: boolean;
  lastChunkAt: number;
}

/** The limit a call in flight has run past, if any. */
function overdue(w: Watched, now: number): UpstreamFailed | undefined {
  const { call } = w;
  if (now >= w.totalAt)
    return unreachable(
      "timeout",
      `upstream "${call.upstream.name}" (${new URL(call.url).origin}): the answer took longer than ${call.timeouts.total / 1000} s (timeouts.total)`,
    );
  if (!w.receiving && now >= w.firstByteAt) {
    const firstByteMs = Math.min(call.timeouts.firstByte, call.timeouts.total);
    return unreachable(
      "timeout",
      `upstream "${call.upstream.name}" sent no response within ${firstByteMs / 1000} s (proxy.request_timeout, timeouts.first_byte)`,
    );
  }
  if (w.receiving && now - w.lastChunkAt >= call.timeouts.idle)
    return unreachable(
      "timeout",
      `upstream "${call.upstream.name}" (${new URL(call.url).origin}): no data for ${call.timeouts.idle / 1000} s (timeouts.idle)`,
    );
  return undefined;
}

/** What a failed read or fetch means: the client left, a limit ran out, or the upstream broke off. */
function explain(error: unknown, w: Watched, what: "reach" | "read"): Error {
  const { call, abort } = w;
  if (call.clientSignal.aborted) return new GatewayError(499, "The client closed the request.");
  if (error instanceof UpstreamFailed) return error;
  if (abort.signal.reason instanceof UpstreamFailed) return abort.signal.reason;
  if (what === "read")
    return unreachable(
      "network",
      `upstream "${call.upstream.name}" broke off its answer: ${(error as Error).message}`,
    );
  const code = (error as { code?: string }).code;
  return unreachable(
    "network",
    `could not reach upstream "${call.upstream.name}" at ${new URL(call.url).origin}: ${code ? `${code} (${(error as Error).message})` : (error as Error).message}`,
  );
}

/** What a call that asked for its answer as text (`answerAsText`) gets. */
export type OpenedText = OpenedUpstream<UpstreamHead>;

/**
 * The text of an answer of levity's HTTP/1.1 client that came whole with its head, when the
 * caller wants text and nothing more is to be done with it: not a successful stream call's (read
 * as a stream), not a compressed one (decoded under the limit by whole-body.ts), not one over the
 * limit. Undefined for the rest, which go on as a Response.
 */
function wholeText(answer: Http1Answer, call: UpstreamCall, limit: number): string | undefined {
  const { bytes, head } = answer;
  if (bytes === undefined || (call.stream && head.ok)) return undefined;
  if (bytes === null) return "";
  if (bytes.length > limit || contentEncoding(head.headers) !== "identity") return undefined;
  return utf8.decode(bytes);
}

const utf8 = new TextDecoder();

export type ReadResult = { done: true; value?: undefined } | { done: false; value: Uint8Array };
const END: Readonly<ReadResult> = Object.freeze({ done: true });

/** What the runtime's reader of a body settles a read with. */
export type RawRead = { done: boolean; value?: Uint8Array };

/** An upstream stream's chunks, read under the time limits: each chunk restarts the idle limit, and a failed read says why. */
export interface GuardedSource {
  read(): Promise<ReadResult>;
  /**
   * The runtime's own read of the next chunk, for a reader that awaits it itself and hands what
   * it settles with to taken(), or why it failed to failure(): read() without its then, which was
   * a promise and a reaction more a chunk of a long stream (pipeline/client-body.ts).
   */
  rawRead(): Promise<RawRead>;
  /** A raw read's result as read() gives it (the idle limit restarted, or the body done). */
  taken(raw: RawRead): ReadResult;
  /** A raw read's failure as read() gives it: the end after a release, else why it broke. */
  failure(error: unknown): Promise<ReadResult>;
  /** Drops the body now, connection and all: the client left, or the upstream broke. */
  cancel(reason?: unknown): Promise<void>;
  /**
   * Lets go of a body whose answer is whole (its final event has arrived): what follows is read
   * and dropped in the background, so that a body that ends at once leaves its connection to be
   * used again, and one still open after RELEASE_GRACE_MS is cut. Never a failure.
   */
  release(): void;
}

/** How long a body may stay open after its final event before its connection is cut. */
const RELEASE_GRACE_MS = 250;

function ignore(): void {}

function readerOf(body: ReadableStream<Uint8Array>) {
  return body.getReader();
}

/** A body's default reader, as the runtime types it. */
type BodyReader = ReturnType<typeof readerOf>;

/*
 * A class, not an object of closures: the reader's handlers, its three methods, the failure's
 * async function and the scope they shared were made for every stream; now the two handlers a
 * read needs are bound once a body and the rest are methods.
 */
class GuardedBody implements GuardedSource {
  private readonly reader: BodyReader;
  // Set once the reader no longer wants the body: a read that fails after that is the release, not a fault.
  private released = false;
  // Made once per body, not per chunk: an async read made a suspended call and a result object
  // for every chunk of every stream.
  private readonly onRead: (result: RawRead) => ReadResult;
  private readonly onFailure: (error: unknown) => Promise<ReadResult>;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly w: Watched,
    private readonly unwatch: (w: Watched) => void,
  ) {
    this.reader = readerOf(body);
    this.onRead = this.taken.bind(this);
    this.onFailure = this.failure.bind(this);
  }

  read(): Promise<ReadResult> {
    if (this.released) return Promise.resolve(END);
    return this.reader.read().then(this.onRead, this.onFailure);
  }

  rawRead(): Promise<RawRead> {
    if (this.released) return Promise.resolve(END);
    return this.reader.read();
  }

  taken(result: RawRead): ReadResult {
    if (result.done) {
      this.unwatch(this.w);
      return END;
    }
    this.w.lastChunkAt = performance.now();
    // The reader's own result, not a copy: it already says { done: false, value }.
    return result as ReadResult;
  }

  failure(error: unknown): Promise<ReadResult> {
    return this.released ? Promise.resolve(END) : this.failed(error);
  }

  private async failed(error: unknown): Promise<never> {
    const { w } = this;
    this.unwatch(w);
    w.abort.abort();
    await this.reader.cancel().catch(ignore);
    throw explain(error, w, "read");
  }

  /*
   * Letting go of the body, after its final event or because the client left. A connection
   * that stays open after the final event is normal behind proxies and HTTP/2 hops, so this
   * never throws, and a read still pending or made after it ends cleanly instead of failing.
   */
  async cancel(reason?: unknown): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.unwatch(this.w);
    const cancelled = this.reader.cancel(reason).catch(ignore);
    this.w.abort.abort();
    await cancelled;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    // The watch list cuts it when the grace runs out (an abort that nothing reads as a failure).
    this.w.totalAt = Math.min(this.w.totalAt, performance.now() + RELEASE_GRACE_MS);
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (!(await this.reader.read()).done);
    } catch {
      // Cut after the grace, or the connection dropped: the answer was already whole.
    }
    this.unwatch(this.w);
  }
}

/** A guarded source as a web stream, for readers that want one. */
export function sourceStream(source: GuardedSource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await source.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      // A reader that stops early has what it wanted (a parser at its final event); a client that
      // left has already aborted the call through its signal.
      cancel: () => source.release(),
    },
    { highWaterMark: 0 },
  );
}

/**
 * The answer to a call: its status and headers, and, when it is a stream, the body as a guarded
 * source. A call that asked for its answer as text may get only the answer's head (no Response is
 * made for an answer read whole from levity's own HTTP/1.1 client).
 */
export interface OpenedUpstream<Head extends UpstreamHead = Response> {
  response: Head;
  /** Set for a successful stream call; otherwise the response's body has been read whole. */
  source?: GuardedSource;
  /** The body read whole, when the call asked for it as text (then the headers are the wire's, content-encoding included). */
  text?: string;
}

/**
 * The HTTP client every upstream call goes through: one per runtime, holding what calls share
 * (which hosts answered lately, the watch list of calls in flight, whether fetch goes through an
 * HTTP proxy), so that two gateways in one process do not share it.
 */
export class UpstreamClient {
  /** Epoch ms each origin last answered: a host that answered recently needs no probe. */
  private readonly lastAnswered = new Map<string, number>();
  private readonly origins = new Map<string, string>();
  private readonly watched = new SweepList<Watched>(SWEEP_MS, (w, now) => {
    // The client left: its call is cut on the next sweep. A listener on the client's signal (or a
    // combined signal) for every call cost more CPU than the rest of the call's bookkeeping, and a
    // disconnect is seen here within a sweep, even one that came before the call began.
    if (w.call.clientSignal.aborted) {
      this.unwatch(w);
      w.abort.abort();
      return;
    }
    const reason = overdue(w, now);
    if (!reason) return;
    this.unwatch(w);
    w.abort.abort(reason);
  });
  /**
   * Plain-HTTP upstreams' calls, made on this thread rather than through fetch's own (http1.ts);
   * undefined where fetch makes every call.
   */
  private readonly http1: Http1Client | undefined;
  /** Calls sent and not yet answered (their heads), by either client. */
  private waiting = 0;
  /** Behind an HTTP proxy a probe would test the wrong host, so there is none. */
  private readonly behindProxy: boolean;
  /** Each upstream's endpoint URLs by path (endpointUrl). */
  private readonly endpoints = new WeakMap<Upstream, Map<string, string>>();
  /** Each account's key headers, made once per Account object (a reload makes new ones). */
  private readonly keyHeaders = new WeakMap<
    Account,
    { protocol: UpstreamProtocol; key: string; headers: Readonly<Record<string, string>> }
  >();

  /** `env` is the process environment, which fetch reads its proxy settings from; it is read once, here. */
  /**
   * `serving` says how many client requests the gateway has in flight (none known: 0): under load
   * the serving thread has no time for a call's socket work, however few calls wait upstream.
   */
  constructor(
    env: Readonly<Record<string, string | undefined>>,
    private readonly serving: () => number = () => 0,
  ) {
    this.behindProxy = PROXY_VARIABLES.some((name) => Boolean(env[name]));
    // Bun only (Deno has no Bun.connect), not behind a proxy (fetch goes through it), and not
    // when the operator turned it off.
    this.http1 =
      typeof Bun !== "undefined" && !this.behindProxy && env.LEVITY_UPSTREAM_CLIENT !== "fetch"
        ? new Http1Client()
        : undefined;
  }

  /**
   * An upstream's endpoint URL, the same string for every call to it: joined per request, each
   * call's URL was a new string, flattened and hashed again by every lookup made with it (the
   * origin's, the HTTP/1.1 client's). A reload's new Upstream objects start anew.
   */
  endpointUrl(upstream: Upstream, path: string): string {
    let byPath = this.endpoints.get(upstream);
    if (!byPath) {
      byPath = new Map();
      this.endpoints.set(upstream, byPath);
    }
    let url = byPath.get(path);
    if (url === undefined) {
      url = upstream.baseUrl + path;
      // Gemini's paths name the client's model: the memory is bounded.
      if (byPath.size >= ENDPOINTS_PER_UPSTREAM) byPath.clear();
      byPath.set(path, url);
    }
    return url;
  }

  /** Closes the idle upstream connections levity holds itself (fetch's are the runtime's). */
  close(): void {
    this.http1?.close();
  }

  /**
   * One POST to one upstream account, within the connect, first-byte, idle and total limits. The
   * response's body is not read here; the caller reads it, and the client's disconnect aborts it.
   */
  async call(call: UpstreamCall): Promise<Response> {
    const { response, source } = await this.open(call);
    return source
      ? new Response(sourceStream(source), {
          status: response.status,
          statusText: response.statusText,
          headers: response.headers,
        })
      : response;
  }

  /**
   * As call, but a successful stream's body is handed over as a guarded source rather than a
   * web stream: a reader that drives it itself saves a stream layer per chunk.
   */
  open(call: UpstreamCall & { answerAsText: true }): Promise<OpenedText>;
  open(call: UpstreamCall): Promise<OpenedUpstream>;
  async open(call: UpstreamCall): Promise<OpenedText> {
    const origin = this.originOf(call.url);
    const now = performance.now();
    const w: Watched = {
      call,
      abort: new AbortController(),
      totalAt: now + call.timeouts.total,
      firstByteAt: now + Math.min(call.timeouts.firstByte, call.timeouts.total),
      receiving: false,
      lastChunkAt: now,
    };
    this.watched.add(w);
    const { unwatch } = this;
    let response: Response;
    try {
      if (this.needsProbe(origin))
        await probe(new URL(call.url), call.upstream.name, call.timeouts.connect);
      // levity says which encodings it takes and undoes them itself: fetch would offer gzip, br and
      // zstd and inflate them with no limit. A whole answer may come gzipped (read under a limit on
      // its decoded size); a stream comes as it is, since its events are small and must not wait.
      call.headers["accept-encoding"] = call.stream || RUNTIME_DECODES ? "identity" : "gzip";
      const { http1 } = this;
      // levity's own client for a whole answer while the gateway serves few requests and few
      // calls wait for theirs (the serving thread has time for their reads and writes); fetch's
      // thread, which takes them off it, once it is busier, and for streams (see INLINE_BELOW).
      const { body } = call;
      const inline =
        http1 !== undefined &&
        !call.stream &&
        this.waiting < INLINE_BELOW &&
        this.serving() <= SERVING_AT_MOST &&
        http1.handles(call.url) &&
        !(body instanceof ReadableStream);
      this.waiting++;
      let answer: Http1Answer | undefined;
      let fetched: Response | undefined;
      try {
        if (inline)
          answer = await http1.request(call.url, {
            method: call.method ?? "POST",
            headers: call.headers,
            body,
            signal: w.abort.signal,
          });
        else
          fetched = await fetch(call.url, {
            method: call.method ?? "POST",
            headers: call.headers,
            body: call.body,
            // A stream body goes out as it is read (fetch requires saying so).
            duplex: typeof call.body === "string" ? undefined : "half",
            signal: w.abort.signal,
            redirect: "manual",
            decompress: false,
          });
      } finally {
        this.waiting--;
      }
      if (answer) {
        const text = call.answerAsText
          ? wholeText(answer, call, limitsOf(call.upstream).bodyBytes)
          : undefined;
        if (text !== undefined) {
          unwatch(w);
          this.lastAnswered.set(origin, Date.now());
          return { response: answer.head, text };
        }
        const { head } = answer;
        response = new Response(answer.bytes ?? answer.body, {
          status: head.status,
          statusText: head.statusText,
          headers: head.headers,
        });
      } else response = fetched!;
    } catch (error) {
      unwatch(w);
      throw explain(error, w, "reach");
    }
    this.lastAnswered.set(origin, Date.now());
    const limit = limitsOf(call.upstream).bodyBytes;
    // Read before the body is asked for: a whole answer of a declared length needs no stream.
    const sized = call.stream && response.ok ? undefined : readSizedText(response, limit);
    if (!sized && !response.body) {
      unwatch(w);
      return { response };
    }
    w.receiving = true;
    w.lastChunkAt = performance.now();
    if (call.stream && response.ok) {
      // Not null: a stream has no sized read, so a null body returned above.
      const body = response.body!;
      const encoding = RUNTIME_DECODES ? "identity" : contentEncoding(response.headers);
      if (encoding === "identity") return { response, source: new GuardedBody(body, w, unwatch) };
      const decoded = await decodedStream(body, encoding);
      if (decoded) return { response, source: new GuardedBody(decoded, w, unwatch) };
      unwatch(w);
      w.abort.abort();
      throw broken(
        `upstream "${call.upstream.name}" answered a stream in content-encoding "${encoding.slice(0, 40)}", which levity cannot read`,
      );
    }
    // A whole answer (or an error's body) is read at once, under proxy.upstream_limits.body_mb: the
    // idle limit then counts from the headers to the body's end.
    let text: string;
    try {
      text = await (sized ?? readWholeBody(response, call.upstream.name, limit));
    } catch (error) {
      unwatch(w);
      // Nothing more of this body is wanted: its connection goes with it.
      w.abort.abort();
      throw explain(error, w, "read");
    }
    unwatch(w);
    if (call.answerAsText) return { response, text };
    // Decoded text: the headers that described compressed bytes on the wire no longer apply (a
    // body sent as it was keeps them; copying them for every answer cost the translated path).
    let headers = response.headers;
    if (response.headers.has("content-encoding")) {
      headers = new Headers(response.headers);
      headers.delete("content-encoding");
      headers.delete("content-length");
    }
    return {
      response: new Response(text, {
        status: response.status,
        statusText: response.statusText,
        headers,
      }),
    };
  }

  /**
   * The account's key in the upstream's own header, as accountHeaders makes it: kept per account,
   * where every call made the object and the key's header value anew. Checked against the
   * protocol and key: one Account object may serve several upstreams (echo's built-in one).
   */
  accountHeaders(protocol: UpstreamProtocol, account: Account): Readonly<Record<string, string>> {
    const known = this.keyHeaders.get(account);
    if (known?.protocol === protocol && known.key === account.key) return known.headers;
    const headers = Object.freeze(accountHeaders(protocol, account.key));
    this.keyHeaders.set(account, { protocol, key: account.key, headers });
    return headers;
  }

  /**
   * fetch has no connection timeout, so an unreachable host would hold a request until the
   * first-byte limit (minutes). A host that has not answered lately is probed with a plain TCP
   * connection first, within the connect limit.
   */
  private needsProbe(origin: string): boolean {
    if (Date.now() - (this.lastAnswered.get(origin) ?? 0) < PROBE_AFTER_QUIET_MS) return false;
    return !this.behindProxy;
  }

  /**
   * An endpoint's origin, remembered per URL: an upstream's endpoints are a handful of strings,
   * and parsing each call's URL again was a URL and its search parameters per request.
   */
  private originOf(url: string): string {
    let origin = this.origins.get(url);
    if (origin === undefined) {
      origin = new URL(url).origin;
      if (this.origins.size >= ORIGINS_MAX) this.origins.clear();
      this.origins.set(url, origin);
    }
    return origin;
  }

  /** Off the watch list. */
  private readonly unwatch = (w: Watched): void => {
    this.watched.delete(w);
  };
}
