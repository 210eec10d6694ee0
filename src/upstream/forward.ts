import { connect } from "node:net";
import type { Timeouts, Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../http/errors.ts";

export interface UpstreamCall {
  upstream: Upstream;
  url: string;
  body: string;
  headers: Headers;
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal;
  timeouts: Timeouts;
}

/** The upstream could not be reached, or did not keep time: another account (or later) may do better. */
export class UpstreamUnreachable extends Error {
  constructor(
    readonly kind: "network" | "timeout",
    message: string,
  ) {
    super(message);
    this.name = "UpstreamUnreachable";
  }
}

// Hosts that answered recently need no connection probe.
const PROBE_AFTER_QUIET_MS = 30_000;
const lastAnswered = new Map<string, number>();

/**
 * fetch has no connection timeout, so an unreachable host would hold a request until the
 * first-byte limit (minutes). A host that has not answered lately is probed with a plain TCP
 * connection first, within the connect limit. Behind an HTTP proxy the probe would test the
 * wrong host, so it is skipped.
 */
async function probe(url: URL, upstream: string, timeoutMs: number): Promise<void> {
  if (Date.now() - (lastAnswered.get(url.origin) ?? 0) < PROBE_AFTER_QUIET_MS) return;
  if (process.env.HTTPS_PROXY || process.env.HTTP_PROXY || process.env.https_proxy || process.env.http_proxy) return;
  const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: url.hostname, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamUnreachable("timeout", `could not connect to upstream "${upstream}" at ${url.origin} within ${timeoutMs / 1000} s (timeouts.connect)`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once("error", (error: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(new UpstreamUnreachable("network", `could not reach upstream "${upstream}" at ${url.origin}: ${error.code ?? error.message}`));
    });
  });
}

/**
 * The body as a stream that fails with UpstreamUnreachable("timeout") when a chunk takes longer
 * than the idle limit or the exchange outlasts its total limit (the total timer aborts the
 * fetch with its reason), instead of hanging.
 */
function guardBody(body: ReadableStream<Uint8Array>, call: UpstreamCall, abort: AbortController, totalTimer: Timer): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const origin = new URL(call.url).origin;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: Timer | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UpstreamUnreachable("timeout", `upstream "${call.upstream.name}" (${origin}): no data for ${call.timeouts.idle / 1000} s (timeouts.idle)`)), call.timeouts.idle);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), timedOut]);
        if (done) {
          clearTimeout(totalTimer);
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        clearTimeout(totalTimer);
        abort.abort();
        await reader.cancel().catch(() => {});
        if (call.clientSignal.aborted) controller.error(new GatewayError(499, "The client closed the request."));
        else if (error instanceof UpstreamUnreachable) controller.error(error);
        else if (abort.signal.reason instanceof UpstreamUnreachable) controller.error(abort.signal.reason);
        else controller.error(new UpstreamUnreachable("network", `upstream "${call.upstream.name}" broke off its answer: ${(error as Error).message}`));
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      clearTimeout(totalTimer);
      abort.abort();
      return reader.cancel(reason);
    },
  });
}

/**
 * One POST to one upstream account, within the connect, first-byte, idle and total limits. The
 * response's body is not read here; the caller reads it, and the client's disconnect aborts it.
 */
export async function callUpstream(call: UpstreamCall): Promise<Response> {
  const url = new URL(call.url);
  const abort = new AbortController();
  const origin = url.origin;
  // Each limit aborts with its own reason, so whichever read the abort interrupts reports the limit that ran out.
  const totalTimer = setTimeout(
    () => abort.abort(new UpstreamUnreachable("timeout", `upstream "${call.upstream.name}" (${origin}): the answer took longer than ${call.timeouts.total / 1000} s (timeouts.total)`)),
    call.timeouts.total,
  );
  const firstByteMs = Math.min(call.timeouts.firstByte, call.timeouts.total);
  const firstByte = setTimeout(
    () => abort.abort(new UpstreamUnreachable("timeout", `upstream "${call.upstream.name}" sent no response within ${firstByteMs / 1000} s (proxy.request_timeout, timeouts.first_byte)`)),
    firstByteMs,
  );
  let response: Response;
  try {
    await probe(url, call.upstream.name, call.timeouts.connect);
    response = await fetch(url, {
      method: "POST",
      headers: call.headers,
      body: call.body,
      signal: AbortSignal.any([call.clientSignal, abort.signal]),
      redirect: "manual",
    });
  } catch (error) {
    clearTimeout(totalTimer);
    if (call.clientSignal.aborted) throw new GatewayError(499, "The client closed the request.");
    if (error instanceof UpstreamUnreachable) throw error;
    if (abort.signal.reason instanceof UpstreamUnreachable) throw abort.signal.reason;
    const code = (error as { code?: string }).code;
    throw new UpstreamUnreachable("network", `could not reach upstream "${call.upstream.name}" at ${origin}: ${code ? `${code} (${(error as Error).message})` : (error as Error).message}`);
  } finally {
    clearTimeout(firstByte);
  }
  lastAnswered.set(origin, Date.now());
  if (!response.body) {
    clearTimeout(totalTimer);
    return response;
  }
  return new Response(guardBody(response.body, call, abort, totalTimer), { status: response.status, statusText: response.statusText, headers: response.headers });
}
