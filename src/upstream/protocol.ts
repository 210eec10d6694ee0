import type { EndpointCall } from "../codecs/dialect.ts";
import { FAMILIES, FAMILY_LIST } from "../codecs/families.ts";
import { DIALECT_MODULES } from "../codecs/index.ts";
import type { Dialect, UpstreamProtocol } from "../codecs/names.ts";
import { apiOfDialect, dialectOfApi } from "../codecs/openai-compatible/apis.ts";
import type { Upstream } from "../config/snapshot.ts";

/*
 * What an upstream's configuration decides about its dialect: which dialect levity speaks to it,
 * which clients go through untouched, and its URLs and headers. The facts themselves (paths, key
 * headers) are each dialect's and family's, in codecs/.
 */

/** The dialect levity speaks to an upstream for translated requests: an OpenAI-compatible one's wire_api (chat unless it lacks chat). */
export function upstreamDialect(upstream: Upstream): Dialect {
  switch (upstream.protocol) {
    case "openai":
    case "echo":
      return dialectOfApi(upstream.openai?.wireApi ?? "chat");
    default:
      return FAMILIES[upstream.protocol].nativeDialect;
  }
}

/**
 * Whether a client of this dialect is forwarded to the upstream as it is (the rest go through the
 * IR): the upstream's own dialect, and for an OpenAI-compatible upstream each API it serves, less
 * those it turned out not to have.
 */
export function forwardsNatively(upstream: Upstream, dialect: Dialect): boolean {
  if (upstream.protocol === "echo") return false;
  if (upstream.protocol !== "openai") return FAMILIES[upstream.protocol].nativeDialect === dialect;
  const api = apiOfDialect(dialect);
  const family = upstream.openai;
  if (api === undefined || family === undefined) return false;
  return family.apis.includes(api) && !family.missing.has(api);
}

export interface EndpointRequest extends Omit<EndpointCall, "apiVersion" | "query"> {
  dialect: Dialect;
  /** The client's query string; Gemini's `alt` must reach the upstream, the client's `key` must not. */
  query: URLSearchParams;
}

/** The dialect that serves a forwarded request on this upstream: its own, or chat for an OpenAI dialect it has no path for. */
function servingDialect(upstream: Upstream, dialect: Dialect): Dialect {
  if (upstream.protocol === "echo") throw new Error("the echo upstream has no endpoint");
  if (upstream.protocol !== "openai") return FAMILIES[upstream.protocol].nativeDialect;
  return apiOfDialect(dialect) === undefined ? "openai-chat" : dialect;
}

export function upstreamEndpoint(upstream: Upstream, request: EndpointRequest): string {
  return endpointFor(upstream, request.dialect, {
    operation: request.operation,
    model: request.model,
    stream: request.stream,
    apiVersion: upstream.apiVersion,
    query: request.query,
  });
}

/**
 * As upstreamEndpoint, with the call as the dialect reads it (its apiVersion the upstream's): a
 * caller that builds it itself makes one object a request, not two.
 */
export function endpointFor(upstream: Upstream, dialect: Dialect, call: EndpointCall): string {
  return upstream.baseUrl + endpointPathFor(upstream, dialect, call);
}

/** The path endpointFor puts after the upstream's base URL. */
export function endpointPathFor(upstream: Upstream, dialect: Dialect, call: EndpointCall): string {
  return DIALECT_MODULES[servingDialect(upstream, dialect)].endpointPath(call);
}

export function modelListEndpoint(upstream: Upstream): string | undefined {
  if (upstream.protocol === "echo") return undefined;
  return upstream.baseUrl + FAMILIES[upstream.protocol].modelListPath(upstream.apiVersion);
}

/**
 * The account's key in the upstream's own header, as a Headers object would hold it: names in
 * lower case and the value trimmed of the whitespace a key read from a file often ends with. An
 * upstream call's headers are a plain object, which levity's own HTTP/1.1 client writes as it is,
 * so a value a Headers object would refuse (a line break inside the key) is refused here too.
 */
export function accountHeaders(protocol: UpstreamProtocol, key: string): Record<string, string> {
  if (protocol === "echo") return {};
  const headers: Record<string, string> = {};
  // The key trimmed too, not only the header's value: " sk-..." would go as "Bearer  sk-...".
  new Headers(FAMILIES[protocol].accountHeaders(key.trim())).forEach(copyHeader, headers);
  return headers;
}

function copyHeader(this: Record<string, string>, value: string, name: string): void {
  this[name] = value;
}

/*
 * Client headers that describe the request rather than the client's credentials or connection.
 * They are forwarded only when the client speaks the upstream's own dialect. Every family's are
 * forwarded, not only the upstream's: an OpenAI-compatible relay may serve another family's.
 */
const FORWARDED_CLIENT_HEADERS: readonly string[] = [
  ...FAMILY_LIST.flatMap((family) => family.requestHeaders),
  "user-agent",
  "accept",
];

/** The one client header a translated request carries (a list made once, not per request). */
const TRANSLATED_CLIENT_HEADERS: readonly string[] = ["user-agent"];

/** Headers for an upstream request: JSON, the account key in the upstream's own header, and (same dialect only) the client's protocol headers. */
export function upstreamRequestHeaders(
  protocol: UpstreamProtocol,
  key: string,
  client: Headers,
  sameDialect: boolean,
): Record<string, string> {
  return requestHeadersWith(accountHeaders(protocol, key), client, sameDialect);
}

/** As upstreamRequestHeaders, from the account's key headers as the caller keeps them (UpstreamClient.accountHeaders). */
export function requestHeadersWith(
  account: Readonly<Record<string, string>>,
  client: Headers,
  sameDialect: boolean,
): Record<string, string> {
  // A plain object, not a Headers: every name here is lower case and every value already one a
  // Headers object would hold (the account's made so by accountHeaders, the client's read from
  // one). fetch and levity's HTTP/1.1 client both take the object as it is, and a Headers object
  // made for each call was one object more (BENCHMARKS.md, seventeenth session: no CPU measured).
  const headers: Record<string, string> = { ...account, "content-type": "application/json" };
  for (const name of sameDialect ? FORWARDED_CLIENT_HEADERS : TRANSLATED_CLIENT_HEADERS) {
    const value = client.get(name);
    if (value) headers[name] = value;
  }
  return headers;
}

/*
 * An upstream's answer headers are data from elsewhere: only those a client of its dialect reads
 * pass on (the body's type, retry and rate-limit hints, the provider's request id). Not its
 * cookies, its CORS headers (levity's own CORS rules apply), hop-by-hop headers, or anything an
 * upstream might echo (one echoed the account's key in a header of its own).
 */
const PASSED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  "content-type",
  "cache-control",
  "retry-after",
  "retry-after-ms",
  "x-request-id",
  "x-should-retry",
  ...FAMILY_LIST.flatMap((family) => family.answerHeaders.names),
]);
const PASSED_RESPONSE_PREFIXES: readonly string[] = FAMILY_LIST.flatMap(
  (family) => family.answerHeaders.prefixes,
);

/**
 * The upstream's headers a client may see, as a plain object for the client's Response: a
 * Headers object here would be copied again by the Response made from it, and each answer paid
 * for both.
 */
export function clientResponseHeaders(upstream: Headers): Record<string, string> {
  const headers: Record<string, string> = {};
  // The copy as forEach's `this`: a closure over it was a function and its scope every answer.
  upstream.forEach(copyPassed, headers);
  return headers;
}

function copyPassed(this: Record<string, string>, value: string, name: string): void {
  if (PASSED_RESPONSE_HEADERS.has(name) || hasPassedPrefix(name)) this[name] = value;
}

function hasPassedPrefix(name: string): boolean {
  for (const prefix of PASSED_RESPONSE_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}
