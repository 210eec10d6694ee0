import type { Dialect, Operation, UpstreamProtocol } from "../config/schema.ts";
import type { Upstream } from "../config/snapshot.ts";
import { apiOfDialect } from "./openai-compatible.ts";

/** The client dialect each single-API protocol speaks natively. */
const NATIVE: Record<Exclude<UpstreamProtocol, "openai">, Dialect | undefined> = {
  anthropic: "anthropic-messages",
  gemini: "gemini",
  echo: undefined,
};

/**
 * Whether a client of this dialect is forwarded to the upstream as it is (the rest go through the
 * IR): the upstream's own dialect, and for an OpenAI-compatible upstream each API it serves, less
 * those it turned out not to have.
 */
export function forwardsNatively(upstream: Upstream, dialect: Dialect): boolean {
  if (upstream.protocol !== "openai") return NATIVE[upstream.protocol] === dialect;
  const api = apiOfDialect(dialect);
  const family = upstream.openai;
  return (
    api !== undefined &&
    family !== undefined &&
    family.apis.includes(api) &&
    !family.missing.has(api)
  );
}

const OPENAI_PATHS: Partial<Record<Dialect, string>> = {
  "openai-chat": "/chat/completions",
  "openai-completions": "/completions",
  "openai-responses": "/responses",
};

export interface EndpointRequest {
  dialect: Dialect;
  operation: Operation;
  model: string;
  stream: boolean;
  /** The client's query string; Gemini's `alt` must reach the upstream, the client's `key` must not. */
  query: URLSearchParams;
}

export function upstreamEndpoint(upstream: Upstream, request: EndpointRequest): string {
  switch (upstream.protocol) {
    case "openai":
      return upstream.baseUrl + (OPENAI_PATHS[request.dialect] ?? "/chat/completions");
    case "anthropic":
      return (
        upstream.baseUrl +
        (request.operation === "count-tokens" ? "/v1/messages/count_tokens" : "/v1/messages")
      );
    case "gemini": {
      const method =
        request.operation === "count-tokens"
          ? "countTokens"
          : request.stream
            ? "streamGenerateContent"
            : "generateContent";
      const query = new URLSearchParams(request.query);
      query.delete("key");
      const search = query.size > 0 ? `?${query}` : "";
      return `${upstream.baseUrl}/${upstream.apiVersion ?? "v1beta"}/models/${encodeURIComponent(request.model)}:${method}${search}`;
    }
    case "echo":
      throw new Error("the echo upstream has no endpoint");
  }
}

export function modelListEndpoint(upstream: Upstream): string | undefined {
  switch (upstream.protocol) {
    case "openai":
      return `${upstream.baseUrl}/models`;
    case "anthropic":
      return `${upstream.baseUrl}/v1/models?limit=1000`;
    case "gemini":
      return `${upstream.baseUrl}/${upstream.apiVersion ?? "v1beta"}/models?pageSize=1000`;
    case "echo":
      return undefined;
  }
}

export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

/** The account's key in the upstream's own header. */
export function accountHeaders(protocol: UpstreamProtocol, key: string): Record<string, string> {
  switch (protocol) {
    case "openai":
      return { authorization: `Bearer ${key}` };
    case "anthropic":
      return { "x-api-key": key, "anthropic-version": DEFAULT_ANTHROPIC_VERSION };
    case "gemini":
      return { "x-goog-api-key": key };
    case "echo":
      return {};
  }
}

// Client headers that describe the request rather than the client's credentials or connection.
// They are forwarded only when the client speaks the upstream's own dialect.
const FORWARDED_CLIENT_HEADERS = [
  "anthropic-version",
  "anthropic-beta",
  "openai-beta",
  "user-agent",
  "accept",
];

/** Headers for an upstream request: JSON, the account key in the upstream's own header, and (same dialect only) the client's protocol headers. */
export function upstreamRequestHeaders(
  protocol: UpstreamProtocol,
  key: string,
  client: Headers,
  sameDialect: boolean,
): Headers {
  const headers = new Headers({
    "content-type": "application/json",
    ...accountHeaders(protocol, key),
  });
  for (const name of sameDialect ? FORWARDED_CLIENT_HEADERS : ["user-agent"]) {
    const value = client.get(name);
    if (value) headers.set(name, value);
  }
  return headers;
}

/*
 * An upstream's answer headers are data from elsewhere: only those a client of its dialect reads
 * pass on (the body's type, retry and rate-limit hints, the provider's request id). Not its
 * cookies, its CORS headers (levity's own CORS rules apply), hop-by-hop headers, or anything an
 * upstream might echo (one echoed the account's key in a header of its own).
 */
const PASSED_RESPONSE_HEADERS = new Set([
  "content-type",
  "cache-control",
  "retry-after",
  "retry-after-ms",
  "request-id",
  "x-request-id",
  "openai-processing-ms",
  "openai-version",
  "x-should-retry",
]);
const PASSED_RESPONSE_PREFIXES = ["x-ratelimit-", "anthropic-ratelimit-"];

export function clientResponseHeaders(upstream: Headers): Headers {
  const headers = new Headers();
  upstream.forEach((value, name) => {
    if (
      PASSED_RESPONSE_HEADERS.has(name) ||
      PASSED_RESPONSE_PREFIXES.some((prefix) => name.startsWith(prefix))
    )
      headers.set(name, value);
  });
  return headers;
}
