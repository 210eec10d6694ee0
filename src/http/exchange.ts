import { randomId } from "../codecs/shared.ts";
import type { PathLookup, RouteDef, RouteMatch } from "../config/route-table.ts";
import type { ConfigSnapshot } from "../config/snapshot.ts";
import type { RecordSink } from "../observe/record.ts";
import { RequestTrace, type TraceOptions } from "../observe/trace.ts";
import type { RequestContext } from "../operations/context.ts";
import type { Middleware } from "./compose.ts";
import type { CorsPolicy } from "./cors.ts";
import { familyOfRequest } from "../codecs/errors.ts";
import type { SnapshotPolicies } from "./policies.ts";

/** Holds the configuration in force; a reload swaps `snapshot`, requests in flight keep the one they started with. */
export interface SnapshotHolder {
  snapshot: ConfigSnapshot;
}

/** What the host (Bun, Deno) tells the gateway about a request beyond the request itself. */
export interface HandleOptions {
  /**
   * The request asks to upgrade to a WebSocket (Codex's Responses transport): it is admitted
   * exactly as a POST on the same path would be (route, browser origin, client key), and answered
   * with an ADMITTED response instead of being dispatched. Each message on the socket then comes
   * back through this handler as a POST of its own.
   */
  websocket?: boolean;
  /**
   * The client's IP address, as the server saw the connection: admin calls without a key need it
   * to be this machine. Asked for only then: looking it up on every request cost the translated
   * path measurably.
   */
  peer?: () => string | undefined;
}

/**
 * One request on its way through the middleware. It is the RequestContext its operation will
 * receive, filled in step by step (the route and error family, the client key, the body, the
 * settled match), together with what only the HTTP steps read (the host's options, the policies,
 * the route lookup, the CORS policy for the answer). Dispatch hands this same object to the
 * operation: nothing is repacked into a second bag on the way.
 */
export interface Exchange extends Omit<RequestContext, "match"> {
  readonly options: HandleOptions;
  readonly policies: SnapshotPolicies;
  /** The browser's Origin header, or null for a client that is not a web page. */
  readonly origin: string | null;
  /** The URL's path, read once: each read of `url.pathname` makes a new string. */
  readonly path: string;
  /** What the route table answered for this path; set by the route lookup. */
  lookup?: PathLookup;
  /** The route the path points at, as far as the lookup can tell (an overlap: its first choice). */
  route?: RouteDef;
  /** The CORS policy the answer gets: the configured one, narrowed once the route is known. */
  cors: CorsPolicy;
  /** The route settled, with its parameters: what the operation serves. */
  match?: RouteMatch;
}

export type Step = Middleware<Exchange>;

/** An exchange whose route is settled is a whole RequestContext. */
export function isSettled(exchange: Exchange): exchange is Exchange & { match: RouteMatch } {
  return exchange.match !== undefined;
}

/** For the steps after the route lookup: the lookup is there, or the chain is in the wrong order. */
export function lookedUp(exchange: Exchange): PathLookup {
  if (!exchange.lookup) throw new Error("a middleware step ran before the route lookup");
  return exchange.lookup;
}

/** The trace's options when bodies are not logged (the default): one object, not one a request. */
const NO_BODIES: TraceOptions = Object.freeze({ bodyMaxBytes: undefined });

/**
 * The path of an absolute URL whose path is plain (letters, digits, `-._~:/`, no dot segments), as
 * URL's pathname would give it; undefined for anything else, which URL then parses. Most requests
 * need nothing of their URL but the path, and parsing one into a URL object was a few µs of each.
 */
export function plainPath(url: string): string | undefined {
  // Only an absolute http(s) URL: a bare path (a request without a Host) may hold "://" in its
  // query or a segment, and what follows it is not the path.
  const authority = url.startsWith("http://") ? 7 : url.startsWith("https://") ? 8 : 0;
  if (authority === 0) return undefined;
  // The authority ends at the first "/", "?" or "#"; only a "/" starts a path worth reading here.
  let start = authority;
  while (start < url.length) {
    const c = url.charCodeAt(start);
    if (c === 0x2f /* / */) break;
    if (c === 0x3f /* ? */ || c === 0x23 /* # */ || c === 0x5c /* \ */) return undefined;
    start++;
  }
  if (start === url.length) return undefined;
  let end = start;
  while (end < url.length && url.charCodeAt(end) !== 0x3f && url.charCodeAt(end) !== 0x23) end++;
  const path = url.slice(start, end);
  return PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path) ? path : undefined;
}

const PLAIN_PATH = /^\/[A-Za-z0-9\-._~:/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/**
 * An exchange as the gateway opens it. A class for one reason: its URL is parsed when a step
 * first asks for it (a query parameter, the origin for a message), not for every request. The
 * getter is not an own property: a copy made by spreading an exchange must name `url` itself.
 */
class OpenedExchange implements Exchange {
  readonly request: Request;
  private parsedUrl: URL | undefined;
  readonly snapshot: ConfigSnapshot;
  readonly requestId: string;
  family: Exchange["family"];
  readonly trace: RequestTrace;
  readonly options: HandleOptions;
  readonly policies: SnapshotPolicies;
  readonly origin: string | null;
  readonly path: string;
  cors: CorsPolicy;
  // Every field the steps fill in later exists from the start, so the object keeps one shape
  // (an object that grows field by field is slower to read in every step after).
  lookup: PathLookup | undefined = undefined;
  route: RouteDef | undefined = undefined;
  match: RouteMatch | undefined = undefined;
  clientKeyName: string | undefined = undefined;
  clientKey: Exchange["clientKey"] = undefined;
  body: Exchange["body"] = undefined;
  multipart: Exchange["multipart"] = undefined;
  targets: Exchange["targets"] = undefined;
  sessionKey: string | undefined = undefined;
  replayOf: string | undefined = undefined;

  constructor(
    request: Request,
    options: HandleOptions,
    snapshot: ConfigSnapshot,
    policies: SnapshotPolicies,
    sink: RecordSink,
  ) {
    this.request = request;
    this.policies = policies;
    const path = plainPath(request.url) ?? this.url.pathname;
    this.path = path;
    this.snapshot = snapshot;
    const requestId = randomId("req_");
    this.requestId = requestId;
    // Until a route names its dialect, the path and the SDKs' own headers tell which error shape the client reads.
    this.family = familyOfRequest(path, request.headers);
    const logSettings = snapshot.proxy.requestLog;
    this.trace = new RequestTrace(
      requestId,
      request.method,
      path,
      sink,
      logSettings.logBodies ? { bodyMaxBytes: logSettings.bodyMaxBytes } : NO_BODIES,
    );
    this.options = options;
    this.origin = request.headers.get("origin");
    this.cors = policies.cors;
  }

  get url(): URL {
    // Without a Host (HTTP/1.0) the runtime gives a bare path; the address levity listens on stands in.
    this.parsedUrl ??= new URL(this.request.url, this.policies.urlBase);
    return this.parsedUrl;
  }
}

export function openExchange(
  request: Request,
  options: HandleOptions,
  snapshot: ConfigSnapshot,
  policies: SnapshotPolicies,
  sink: RecordSink,
): Exchange {
  return new OpenedExchange(request, options, snapshot, policies, sink);
}
