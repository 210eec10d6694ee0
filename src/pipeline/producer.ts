import { UPSTREAM_CODECS } from "../codecs/index.ts";
import { StreamProtocolError } from "../codecs/shared.ts";
import type { UpstreamCodec, UpstreamTarget } from "../codecs/codec.ts";
import type { Account, MediaFetchSettings, Upstream } from "../config/snapshot.ts";
import type { ChatRequest, ChatResponse, StreamEvent } from "../ir.ts";
import { countRequestTokens } from "../tokens/estimate.ts";
import { echoResponse, echoStream } from "../upstream/echo.ts";
import { UpstreamError } from "../upstream/failure.ts";
import { callUpstream } from "../upstream/forward.ts";
import { limitsOf } from "../upstream/limits.ts";
import { withEventLimit } from "../codecs/sse.ts";
import { mediaFetcher } from "../upstream/media-fetch.ts";
import { upstreamDialect, upstreamRequestHeaders } from "../upstream/protocol.ts";
import { cooldownHint } from "../pool/hints.ts";

/** Anything that answers an IR request: an HTTP upstream through its codec, or echo. */
export interface Producer {
  accountName: string;
  complete(request: ChatRequest): Promise<ChatResponse>;
  /** Resolves once the upstream has accepted the request; failures before that are thrown as UpstreamError. */
  stream(request: ChatRequest): Promise<AsyncIterable<StreamEvent>>;
  count(request: ChatRequest): Promise<{ tokens: number; estimated: boolean }>;
}

export interface CallContext {
  clientHeaders: Headers;
  clientSignal: AbortSignal;
  /** Where media URLs may be fetched from (proxy.media_fetch). */
  mediaFetch?: MediaFetchSettings;
}

export function echoProducer(upstream: Upstream): Producer {
  return {
    accountName: "echo",
    complete: async (request) => echoResponse(request, upstream.name),
    async stream(request) {
      // Fail before the first byte, as an HTTP upstream would.
      const events = echoStream(request, upstream.name);
      const first = await events.next();
      return (async function* () {
        if (!first.done) yield first.value;
        yield* events;
      })();
    },
    count: async (request) => ({ tokens: await countRequestTokens(request), estimated: true }),
  };
}

export function targetOf(upstream: Upstream): UpstreamTarget {
  return {
    name: upstream.name,
    protocol: upstream.protocol,
    baseUrl: upstream.baseUrl,
    apiVersion: upstream.apiVersion,
    compat: upstream.openai?.compat,
  };
}

/** Retry-After as the client should see it: the header, retry-after-ms rounded up, or the body's hint. */
function retryAfterOf(response: Response, hint: number | undefined): string | undefined {
  const header = response.headers.get("retry-after");
  if (header) return header;
  const ms = Number(response.headers.get("retry-after-ms"));
  if (ms > 0) return String(Math.ceil(ms / 1000));
  return hint === undefined ? undefined : String(hint);
}

async function failure(response: Response, codec: UpstreamCodec): Promise<UpstreamError> {
  const text = await response.text();
  const parsed = codec.parseError(text);
  return new UpstreamError(
    response.status,
    parsed.message,
    retryAfterOf(response, parsed.retryAfter),
    cooldownHint(response.headers, parsed.retryAfter),
    text,
  );
}

export function httpProducer(upstream: Upstream, account: Account, call: CallContext): Producer {
  const codec = UPSTREAM_CODECS[upstreamDialect(upstream)];
  const target: UpstreamTarget = {
    ...targetOf(upstream),
    fetchMedia: mediaFetcher(call.mediaFetch),
  };
  const send = async (built: { path: string; body: unknown }, stream: boolean) => {
    const response = await callUpstream({
      stream,
      upstream,
      url: upstream.baseUrl + built.path,
      body: JSON.stringify(built.body),
      headers: upstreamRequestHeaders(upstream.protocol, account.key, call.clientHeaders, false),
      clientSignal: call.clientSignal,
      timeouts: upstream.timeouts,
    });
    if (!response.ok) throw await failure(response, codec);
    return response;
  };
  return {
    accountName: account.name,
    async complete(request) {
      const response = await send(
        await codec.buildRequest({ ...request, stream: false }, target),
        false,
      );
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        throw new UpstreamError(
          502,
          `Upstream "${upstream.name}" answered with a body that is not JSON.`,
        );
      }
      try {
        return codec.parseResponse(body, target);
      } catch (error) {
        if (error instanceof StreamProtocolError)
          throw new UpstreamError(
            502,
            `Upstream "${upstream.name}" answered in an unexpected shape: ${error.message}.`,
          );
        throw error;
      }
    },
    async stream(request) {
      const response = await send(
        await codec.buildRequest({ ...request, stream: true }, target),
        true,
      );
      if (!response.body)
        throw new UpstreamError(
          502,
          `Upstream "${upstream.name}" answered a stream request with no body.`,
        );
      // The parser reads the limit on one event from the body it is given.
      return codec.parseStream(
        withEventLimit(response.body, limitsOf(upstream).eventBytes, upstream.name),
        target,
        response.headers.get("content-type") ?? "",
      );
    },
    async count(request) {
      if (!codec.buildCountRequest || !codec.parseCount)
        return { tokens: await countRequestTokens(request), estimated: true };
      const response = await send(await codec.buildCountRequest(request, target), false);
      return { tokens: codec.parseCount(await response.json()), estimated: false };
    },
  };
}
