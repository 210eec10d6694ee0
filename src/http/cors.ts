import { FAMILY_LIST } from "../codecs/families.ts";
export interface CorsPolicy {
  anyOrigin: boolean;
  listed: Set<string>;
}

export function corsPolicy(origins: string[]): CorsPolicy {
  return {
    anyOrigin: origins.includes("*"),
    listed: new Set(origins.filter((o) => o !== "*").map((o) => o.replace(/\/+$/, ""))),
  };
}

// Response headers a browser client needs to read.
const EXPOSED: string = [
  "x-request-id",
  "request-id",
  "x-mapped-model",
  "x-upstream",
  "x-account",
  "x-levity-path-rewritten",
  "x-levity-warning",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
].join(", ");

// What the official SDKs send, for a preflight that does not list its headers: each family's.
const SDK_HEADERS: string = [
  ...new Set([
    "authorization",
    "content-type",
    ...FAMILY_LIST.flatMap((f) => [
      ...(f.clientKeyHeader ? [f.clientKeyHeader] : []),
      ...f.sdkHeaders,
    ]),
  ]),
].join(", ");

function isLoopbackOrigin(origin: string): boolean {
  try {
    const host = new URL(origin).hostname;
    return (
      host === "localhost" ||
      host === "127.0.0.1" ||
      host === "[::1]" ||
      host === "::1" ||
      host.endsWith(".localhost")
    );
  } catch {
    return false;
  }
}

const NO_ORIGIN: Readonly<CorsPolicy> = { anyOrigin: false, listed: new Set() };

/**
 * Admin data, the monitor page and /metrics are read by levity's own page (same origin, which
 * needs no CORS), the CLI and a scraper, none of them through CORS. So they never carry CORS
 * headers, whatever cors_origins lists: otherwise any site could read account and model names
 * from a public /metrics, or the log with a key a browser remembered.
 */
export function corsForRoute(policy: CorsPolicy, auth: string | undefined): CorsPolicy {
  return auth === "admin" || auth === "page" || auth === "metrics" ? NO_ORIGIN : policy;
}

function originAllowed(policy: CorsPolicy, origin: string): boolean {
  return policy.anyOrigin || policy.listed.has(origin);
}

/**
 * With auth off, any web page the user visits could post to the gateway and spend their
 * accounts; browsers always send Origin on such requests, CLIs and SDKs on a server do not.
 * So without auth only loopback pages and origins listed by name are served.
 */
export function originTrustedWithoutAuth(policy: CorsPolicy, origin: string): boolean {
  return isLoopbackOrigin(origin) || policy.listed.has(origin);
}

export function applyCorsHeaders(
  headers: Headers,
  policy: CorsPolicy,
  origin: string | null,
): void {
  if (!origin || !originAllowed(policy, origin)) return;
  headers.set("access-control-allow-origin", origin);
  headers.set("access-control-expose-headers", EXPOSED);
  headers.append("vary", "Origin");
}

/** OPTIONS never needs a key: a browser cannot attach one to a preflight. */
export function preflightResponse(policy: CorsPolicy, request: Request): Response {
  const headers = new Headers({ allow: "GET, POST, OPTIONS" });
  const origin = request.headers.get("origin");
  if (origin && originAllowed(policy, origin)) {
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-allow-methods", "GET, POST, OPTIONS");
    headers.set(
      "access-control-allow-headers",
      request.headers.get("access-control-request-headers") || SDK_HEADERS,
    );
    headers.set("access-control-max-age", "86400");
    headers.append("vary", "Origin");
  }
  return new Response(null, { status: 204, headers });
}
