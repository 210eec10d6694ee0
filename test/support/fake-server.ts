import {
  bodySeed,
  buildWire,
  deliverBody,
  describePlan,
  planBody,
  profileOf,
  type BodyKind,
  type Delivery,
  type NetworkOption,
  type NetworkProfile,
} from "./network.ts";

/*
 * A loopback HTTP server standing in for a provider's API. It records what it received, checks
 * the account key the way the provider does, and can be scripted to fail or to hang. With a
 * network option its answers reach levity the way a real network delivers them (network.ts);
 * scripted, held and stalled replies never go through it.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  text: string;
  /** The body as it arrived: an upload is not text. */
  bytes: Uint8Array;
  json: any;
}

export interface ScriptedReply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface FakeUpstream {
  /** Origin, e.g. http://127.0.0.1:41234 */
  url: string;
  requests: RecordedRequest[];
  last(): RecordedRequest;
  /** The next request (the next one with this account key, if given) gets this reply instead of the normal answer. */
  replyOnce(reply: ScriptedReply, key?: string): void;
  /** The account key each request carried, in order. */
  keysSeen(): string[];
  /**
   * The next request (with this key, if given) gets a streaming 200 that sends `firstChunk` and
   * then holds the stream open until `release(rest)` sends the rest and ends it. `aborted`
   * resolves if the gateway hangs up.
   */
  holdOnce(firstChunk: string, key?: string): HeldStream;
  /** The next request (with this key, if given) gets no response at all; resolves when the gateway gives up on it. */
  stallOnce(key?: string): Promise<void>;
  /**
   * The next request (with `key`, if given) is answered only after `release()`, or `ms` after it came: as
   * usual, or with `reply`. With `headers`, the usual answer's status and headers go at once and
   * only its body waits (a model thinking after the headers); without, nothing at all is sent
   * until then (a model thinking before them).
   */
  quietOnce(options: {
    headers?: boolean;
    ms?: number;
    key?: string;
    reply?: ScriptedReply;
    /** Only a request this holds for (a CLI's turn, not its model list or token count). */
    match?: (request: RecordedRequest) => boolean;
  }): QuietReply;
  /** The exact bytes of the last streamed body the fake sent (decoded, as a reader sees them). */
  lastStreamBody(): string;
  /** Every answer delivered through the network, in order (empty without a network option). */
  deliveries(): Delivery[];
  stop(): Promise<void>;
}

/** The options every fake takes. */
export interface FakeOptions {
  /** Deliver answers through a simulated network: a profile, or a seed. */
  network?: NetworkOption;
  /** Report this usage instead of the counted one, in the provider's own fields. */
  usage?: ReportedUsage;
}

/**
 * Usage a fake reports, in the IR's sense (input includes cached and cache-written tokens,
 * output includes reasoning); each fake writes it as its provider does: Anthropic's input_tokens
 * without cache reads and writes and no reasoning count, OpenAI's prompt_tokens with
 * cached_tokens inside and completion_tokens with reasoning_tokens inside, Gemini's
 * promptTokenCount with cachedContentTokenCount inside and thoughtsTokenCount beside
 * candidatesTokenCount.
 */
export interface ReportedUsage {
  input: number;
  cached: number;
  cacheWrite: number;
  output: number;
  reasoning: number;
}

/** Which provider a fake plays: with the request and content type, it says what kind of body an answer is. */
export type FakeDialect = "openai" | "anthropic" | "gemini";

function bodyKind(dialect: FakeDialect, request: RecordedRequest, contentType: string): BodyKind {
  if (dialect === "anthropic") return "anthropic";
  if (dialect === "gemini")
    return contentType.includes("event-stream") ? "gemini-sse" : "gemini-array";
  return request.path.endsWith("/responses") ? "openai-typed" : "openai-data";
}

export interface HeldStream {
  release(rest: string): void;
  /** Resolves when the held request has arrived. */
  received: Promise<void>;
  aborted: Promise<void>;
}

export interface QuietReply {
  /** Resolves when the quiet request has arrived. */
  received: Promise<void>;
  release(): void;
  /** Resolves if the gateway hangs up first. */
  aborted: Promise<void>;
}

export type FakeHandler = (request: RecordedRequest) => Response | Promise<Response>;

const encoder = new TextEncoder();

/** A streaming body that sends each event as its own chunk, so framing crosses chunk boundaries as on the wire. */
export function chunkedBody(
  events: string[],
  onDone?: (all: string) => void,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < events.length) controller.enqueue(encoder.encode(events[i++]));
      else {
        onDone?.(events.join(""));
        controller.close();
      }
    },
  });
}

export function jsonReply(
  data: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function startFake(options: {
  /** The provider it plays, for the network to know its stream format (OpenAI's when not given). */
  dialect?: FakeDialect;
  network?: NetworkOption;
  /** Returns a provider-shaped error response when the request does not carry the right key. */
  checkKey: (request: RecordedRequest) => Response | undefined;
  /** The account key a request carries, the way this provider expects it. */
  keyOf: (request: RecordedRequest) => string | undefined;
  handle: (
    request: RecordedRequest,
    streamed: (
      events: string[],
      contentType?: string,
      headers?: Record<string, string>,
    ) => Response,
  ) => Response | Promise<Response>;
}): FakeUpstream {
  const requests: RecordedRequest[] = [];
  const scripted: { reply: ScriptedReply; key?: string }[] = [];
  const stalls: { resolve: () => void; key?: string }[] = [];
  const keys: string[] = [];
  // The first scripted item meant for this key (or for any key).
  const take = <T extends { key?: string }>(list: T[], key: string | undefined): T | undefined => {
    const index = list.findIndex((item) => item.key === undefined || item.key === key);
    return index >= 0 ? list.splice(index, 1)[0] : undefined;
  };
  const holds: {
    chunk: string;
    key?: string;
    aborted: () => void;
    received: () => void;
    attach: (controller: ReadableStreamDefaultController<Uint8Array>) => void;
  }[] = [];
  const quiets: {
    key?: string;
    match?: (request: RecordedRequest) => boolean;
    headers: boolean;
    reply?: ScriptedReply;
    released: Promise<void>;
    received: () => void;
    aborted: () => void;
  }[] = [];
  let lastStream = "";

  const profile: NetworkProfile | undefined =
    options.network === undefined ? undefined : profileOf(options.network);
  const deliveries: Delivery[] = [];
  // Answers streamed() made are already on the network (or meant to be sent as they are).
  const streamedResponses = new WeakSet<Response>();
  const seen = new Map<string, number>();

  /** Sends `events` (a whole answer is one event) through the network; the headers lose any length and gain the encoding. */
  const throughNetwork = (
    profile: NetworkProfile,
    request: RecordedRequest,
    signal: AbortSignal,
    kind: BodyKind,
    events: string[],
    init: ResponseInit & { headers: Headers },
  ): Response => {
    const key = `${request.method} ${request.path}?${request.query} ${request.text}`;
    const occurrence = seen.get(key) ?? 0;
    seen.set(key, occurrence + 1);
    const plan = planBody(
      profile,
      bodySeed(profile.seed, key, occurrence),
      kind,
      request.headers.get("accept-encoding") ?? "",
    );
    const wire = buildWire(profile, plan, events);
    const { body, released } = deliverBody(wire, signal);
    let pieces: number | undefined;
    void wire.then((w) => {
      pieces = w.pieces.length;
      if (kind !== "json") lastStream = w.text;
    });
    deliveries.push({
      request: `${request.method} ${request.path}`,
      plan,
      released,
      wire,
      describe: () => `${request.method} ${request.path}: ${describePlan(plan, pieces)}`,
    });
    const headers = new Headers(init.headers);
    headers.delete("content-length");
    if (plan.encoding !== "identity") headers.set("content-encoding", plan.encoding);
    return new Response(body, { status: init.status, statusText: init.statusText, headers });
  };

  /** The `streamed` helper a handler gets: through the network when there is one, else one chunk per event. */
  const streamedFor =
    (request: RecordedRequest, signal: AbortSignal) =>
    (
      events: string[],
      contentType = "text/event-stream; charset=utf-8",
      headers: Record<string, string> = {},
    ): Response => {
      const allHeaders = { "content-type": contentType, "cache-control": "no-cache", ...headers };
      const response = profile
        ? throughNetwork(
            profile,
            request,
            signal,
            bodyKind(options.dialect ?? "openai", request, contentType),
            events,
            { headers: new Headers(allHeaders) },
          )
        : new Response(
            chunkedBody(events, (all) => {
              lastStream = all;
            }),
            { headers: allHeaders },
          );
      streamedResponses.add(response);
      return response;
    };

  /** A whole answer (or an error) through the network, when there is one. */
  const answer = async (
    request: RecordedRequest,
    signal: AbortSignal,
    response: Response,
  ): Promise<Response> => {
    if (!profile || !response.body || streamedResponses.has(response)) return response;
    const text = await response.text();
    return throughNetwork(profile, request, signal, "json", [text], {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(raw) {
      const url = new URL(raw.url);
      const bytes = raw.method === "GET" ? new Uint8Array(0) : await raw.bytes();
      const text = new TextDecoder().decode(bytes);
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const request: RecordedRequest = {
        method: raw.method,
        path: url.pathname,
        query: url.searchParams,
        headers: raw.headers,
        text,
        bytes,
        json,
      };
      requests.push(request);
      const key = options.keyOf(request);
      keys.push(key ?? "");
      const refused = options.checkKey(request);
      if (refused) return answer(request, raw.signal, refused);
      const script = take(scripted, key);
      if (script)
        return new Response(script.reply.body, {
          status: script.reply.status,
          headers: { "content-type": "application/json", ...script.reply.headers },
        });
      const stall = take(stalls, key);
      if (stall) {
        return new Promise<Response>((resolve) => {
          raw.signal.addEventListener("abort", () => {
            stall.resolve();
            resolve(new Response(null, { status: 499 }));
          });
        });
      }
      const hold = take(holds, key);
      if (hold) {
        hold.received();
        raw.signal.addEventListener("abort", hold.aborted);
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(hold.chunk));
              hold.attach(controller);
            },
            cancel: hold.aborted,
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      const quiet = take(
        quiets.filter((q) => !q.match || q.match(request)),
        key,
      );
      if (quiet) quiets.splice(quiets.indexOf(quiet), 1);
      const usual = async () =>
        quiet?.reply
          ? new Response(quiet.reply.body, {
              status: quiet.reply.status,
              headers: { "content-type": "application/json", ...quiet.reply.headers },
            })
          : answer(
              request,
              raw.signal,
              await options.handle(request, streamedFor(request, raw.signal)),
            );
      if (!quiet) return usual();
      quiet.received();
      raw.signal.addEventListener("abort", quiet.aborted);
      if (!quiet.headers) {
        await quiet.released;
        return usual();
      }
      const whole = await usual();
      const reader = whole.body?.getReader();
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await quiet.released;
            const read = await reader?.read();
            if (!read || read.done) controller.close();
            else controller.enqueue(read.value);
          },
          cancel: quiet.aborted,
        }),
        { status: whole.status, headers: whole.headers },
      );
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    last() {
      const request = requests.at(-1);
      if (!request) throw new Error("the fake upstream received no request");
      return request;
    },
    replyOnce(reply, key) {
      scripted.push({ reply, key });
    },
    keysSeen: () => [...keys],
    holdOnce(chunk, key) {
      let aborted!: () => void;
      const abortedPromise = new Promise<void>((resolve) => (aborted = resolve));
      let received!: () => void;
      const receivedPromise = new Promise<void>((resolve) => (received = resolve));
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
      let pending: string | undefined;
      const finish = (rest: string, c: ReadableStreamDefaultController<Uint8Array>) => {
        c.enqueue(encoder.encode(rest));
        c.close();
      };
      holds.push({
        chunk,
        key,
        aborted,
        received,
        attach(c) {
          controller = c;
          if (pending !== undefined) finish(pending, c);
        },
      });
      return {
        aborted: abortedPromise,
        received: receivedPromise,
        release(rest) {
          if (controller) finish(rest, controller);
          else pending = rest;
        },
      };
    },
    stallOnce(key) {
      return new Promise<void>((resolve) => stalls.push({ resolve, key }));
    },
    quietOnce({ headers = false, ms, key, reply, match }) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let received!: () => void;
      const receivedPromise = new Promise<void>((resolve) => (received = resolve));
      // The silence counts from the request's arrival.
      if (ms !== undefined) void receivedPromise.then(() => setTimeout(release, ms));
      let aborted!: () => void;
      const abortedPromise = new Promise<void>((resolve) => (aborted = resolve));
      quiets.push({ key, match, headers, reply, released, received, aborted });
      return { received: receivedPromise, release, aborted: abortedPromise };
    },
    lastStreamBody: () => lastStream,
    deliveries: () => [...deliveries],
    async stop() {
      await server.stop(true);
    },
  };
}

/** The text of the last user turn, whatever the dialect, for fakes that answer "pong". */
export function lastUserText(request: RecordedRequest): string {
  const body = request.json ?? {};
  const textOf = (content: unknown): string => {
    if (typeof content === "string") return content;
    if (Array.isArray(content))
      return content.map((p: any) => (typeof p?.text === "string" ? p.text : "")).join("");
    return "";
  };
  if (Array.isArray(body.messages)) {
    const user = [...body.messages].reverse().find((m: any) => m.role === "user");
    return textOf(user?.content);
  }
  if (Array.isArray(body.contents)) {
    const user = [...body.contents].reverse().find((c: any) => c.role !== "model");
    return textOf(user?.parts);
  }
  if (typeof body.input === "string") return body.input;
  if (Array.isArray(body.input)) {
    const user = [...body.input].reverse().find((m: any) => m.role === "user");
    return textOf(user?.content);
  }
  if (typeof body.prompt === "string") return body.prompt;
  return "";
}
