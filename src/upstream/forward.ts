import type { Account, Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../http/errors.ts";
import { upstreamEndpoint, upstreamRequestHeaders, type EndpointRequest } from "./protocol.ts";

export interface ForwardInput extends EndpointRequest {
  upstream: Upstream;
  account: Account;
  body: string;
  clientHeaders: Headers;
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal;
  /** How long the upstream may take to send its response headers. */
  timeoutMs: number;
}

class UpstreamTimeout extends Error {}

/**
 * Sends one request to one upstream account. The response body is not read here: it is piped to
 * the client, and the client's disconnect still aborts it.
 */
export async function sendUpstream(input: ForwardInput): Promise<Response> {
  const url = upstreamEndpoint(input.upstream, input);
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new UpstreamTimeout()), input.timeoutMs);
  try {
    return await fetch(url, {
      method: "POST",
      headers: upstreamRequestHeaders(input.upstream.protocol, input.account.key, input.clientHeaders),
      body: input.body,
      signal: AbortSignal.any([input.clientSignal, timer.signal]),
      redirect: "manual",
    });
  } catch (error) {
    if (timer.signal.aborted) {
      throw new GatewayError(504, `Upstream "${input.upstream.name}" sent no response within ${input.timeoutMs / 1000} s (proxy.request_timeout).`);
    }
    if (input.clientSignal.aborted) throw new GatewayError(499, "The client closed the request.");
    throw new GatewayError(502, `Could not reach upstream "${input.upstream.name}" at ${new URL(url).origin}: ${describeNetworkError(error)}.`);
  } finally {
    clearTimeout(timeout);
  }
}

function describeNetworkError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code} (${message})` : message;
}
