import type { Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../http/errors.ts";

export interface UpstreamCall {
  upstream: Upstream;
  url: string;
  body: string;
  headers: Headers;
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal;
  /** How long the upstream may take to send its response headers. */
  timeoutMs: number;
}

class UpstreamTimeout extends Error {}

/**
 * One POST to one upstream account. The response body is not read here: it is piped or parsed
 * by the caller, and the client's disconnect still aborts it.
 */
export async function callUpstream(call: UpstreamCall): Promise<Response> {
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new UpstreamTimeout()), call.timeoutMs);
  try {
    return await fetch(call.url, {
      method: "POST",
      headers: call.headers,
      body: call.body,
      signal: AbortSignal.any([call.clientSignal, timer.signal]),
      redirect: "manual",
    });
  } catch (error) {
    if (timer.signal.aborted) {
      throw new GatewayError(504, `Upstream "${call.upstream.name}" sent no response within ${call.timeoutMs / 1000} s (proxy.request_timeout).`);
    }
    if (call.clientSignal.aborted) throw new GatewayError(499, "The client closed the request.");
    throw new GatewayError(502, `Could not reach upstream "${call.upstream.name}" at ${new URL(call.url).origin}: ${describeNetworkError(error)}.`);
  } finally {
    clearTimeout(timeout);
  }
}

function describeNetworkError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code} (${message})` : message;
}
