import { randomId } from "./codecs/shared.ts";
import type { ConfigSnapshot } from "./config/snapshot.ts";
import {
  adminRefusalMessage,
  authenticate,
  buildKeyRing,
  needsKey,
  presentedCredentials,
  refusalMessage,
  type KeyRing,
} from "./http/auth.ts";
import { readJsonObject, readOptionalJsonObject } from "./http/body.ts";
import {
  applyCorsHeaders,
  corsForRoute,
  corsPolicy,
  originTrustedWithoutAuth,
  preflightResponse,
  type CorsPolicy,
} from "./http/cors.ts";
import {
  hostAdmitted,
  hostPolicy,
  hostRefusalMessage,
  isLoopbackPeer,
  sameOrigin,
  type HostPolicy,
} from "./http/host-check.ts";
import {
  errorResponse,
  familyOfDialect,
  familyOfRequest,
  GatewayError,
  type ErrorFamily,
} from "./http/errors.ts";
import type { PathLookup, RouteDef, RouteMatch } from "./config/route-table.ts";
import { jsonResponse, type GatewayServices, type RequestContext } from "./operations/context.ts";
import { generate } from "./operations/generate.ts";
import { asksCompaction, compactInline, compactResponses } from "./operations/compact.ts";
import { modelShapeFor, renderModel, renderModelList } from "./operations/models.ts";
import { admin } from "./operations/admin.ts";
import { browserRedirect, indexResponse, wantsHtml } from "./operations/index-page.ts";
import { notServed } from "./operations/not-served.ts";
import type { RecordSink, RequestRecord } from "./observe/record.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./observe/prometheus.ts";
import { RequestTrace } from "./observe/trace.ts";
import { monitorPageResponse } from "./ui/monitor-page.ts";
import type { AuthClass } from "./config/schema.ts";

/** Holds the configuration in force; a reload swaps `snapshot`, requests in flight keep the one they started with. */
export interface SnapshotHolder {
  snapshot: ConfigSnapshot;
}

interface Derived {
  keys: KeyRing;
  adminKeys: KeyRing;
  cors: CorsPolicy;
  hosts: HostPolicy;
}

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

export type Gateway = (request: Request, options?: HandleOptions) => Promise<Response>;

/** The header on the answer to an admitted WebSocket upgrade; the host then upgrades the connection. */
export const WEBSOCKET_ADMITTED = "x-levity-websocket";

export function createGateway(holder: SnapshotHolder, services: GatewayServices): Gateway {
  const derived = new WeakMap<ConfigSnapshot, Derived>();
  const derive = (snapshot: ConfigSnapshot): Derived => {
    let found = derived.get(snapshot);
    if (!found) {
      found = {
        keys: buildKeyRing(snapshot.proxy.clientKeys),
        adminKeys: buildKeyRing(snapshot.proxy.adminKeys),
        cors: corsPolicy(snapshot.proxy.corsOrigins),
        hosts: hostPolicy(snapshot.proxy),
      };
      derived.set(snapshot, found);
    }
    return found;
  };
  const warnedPaths = new Set<string>();
  const toLog = (record: RequestRecord | undefined) =>
    record && holder.snapshot.proxy.requestLog.enabled && services.requestLog.add(record);
  const withMetrics: RecordSink = {
    started: () => services.metrics.started(),
    finished(record) {
      services.metrics.finished(record);
      toLog(record);
    },
  };
  // With metrics off, nothing is collected, but requests in flight are still counted for /levity/status.
  const logOnly: RecordSink = {
    started: () => services.metrics.started(),
    finished(record) {
      services.metrics.finished(undefined);
      toLog(record);
    },
  };

  return async function handle(request: Request, options: HandleOptions = {}): Promise<Response> {
    const snapshot = holder.snapshot;
    const { keys, adminKeys, cors, hosts } = derive(snapshot);
    const requestId = randomId("req_");
    const host = request.headers.get("host");
    // Without a Host (HTTP/1.0) the runtime gives a bare path; the address levity listens on stands in.
    const url = new URL(
      request.url,
      `http://${snapshot.proxy.hostname === "0.0.0.0" ? "127.0.0.1" : snapshot.proxy.hostname}`,
    );
    const origin = request.headers.get("origin");
    let family: ErrorFamily = familyOfRequest(url.pathname, request.headers);
    const logSettings = snapshot.proxy.requestLog;
    // Chosen per request, so a request that started counted is finished counted across a reload.
    const sink = snapshot.proxy.metricsEnabled ? withMetrics : logOnly;
    const trace = new RequestTrace(requestId, request.method, url.pathname, sink, {
      bodyMaxBytes: logSettings.logBodies ? logSettings.bodyMaxBytes : undefined,
    });
    // Narrowed once the route is known (admin data is never readable from any origin).
    let routeCors = cors;
    const finish = (response: Response, match?: RouteMatch) => {
      response.headers.set("x-request-id", requestId);
      if (match?.rewrittenFrom)
        response.headers.set("x-levity-path-rewritten", `${match.rewrittenFrom} -> ${match.path}`);
      applyCorsHeaders(response.headers, routeCors, origin);
      return trace.responded(response);
    };

    // Before anything is looked up or read: a foreign Host is a web page reaching levity through a
    // DNS name of its own. No CORS headers either; that page has no business reading even the refusal.
    if (!hostAdmitted(hosts, host)) {
      const message = hostRefusalMessage(host ?? "");
      trace.error(message);
      return trace.responded(errorResponse(family, 421, message, {}, requestId));
    }

    let match: RouteMatch | undefined;
    try {
      if (request.method === "OPTIONS") {
        const asked =
          request.headers.get("access-control-request-method")?.toUpperCase() === "POST"
            ? "POST"
            : "GET";
        const preflighted = routeOf(await snapshot.routes.lookup(asked, url.pathname));
        return trace.responded(preflightResponse(corsForRoute(cors, preflighted?.auth), request));
      }
      // An upgrade is looked up as the POST its messages will be, so it has that route's auth and aliases.
      const method = options.websocket
        ? "POST"
        : request.method === "HEAD"
          ? "GET"
          : request.method;
      const lookup =
        snapshot.routes.cached(method, url.pathname) ??
        (await snapshot.routes.lookup(method, url.pathname));
      const route = routeOf(lookup);
      if (route) routeCors = corsForRoute(cors, route.auth);
      if (route?.dialect) family = familyOfDialect(route.dialect);
      if (route) trace.matched(route);

      if (
        origin &&
        snapshot.proxy.effectiveAuth === "off" &&
        !originTrustedWithoutAuth(cors, origin)
      ) {
        throw new GatewayError(
          403,
          `Browser requests from ${origin} are refused while auth is off, because any web page could otherwise use your accounts. ` +
            `Turn auth on (auth_mode: strict or all_except_health, with an api_key) or list this origin in proxy.cors_origins.`,
        );
      }
      // Opening the gateway in a browser: the redirect to the monitor page holds nothing, and the
      // page itself needs no key, so neither does the way there.
      const redirect =
        route?.operation === "index" && !options.websocket && wantsHtml(request)
          ? browserRedirect(snapshot.routes)
          : undefined;
      if (redirect) return finish(redirect);
      const clientKeyName = checkAuth(
        route?.auth ?? "api",
        snapshot,
        keys,
        adminKeys,
        request.headers,
        url,
        options.peer,
      );
      trace.authenticated(clientKeyName);

      if (options.websocket) {
        match = admitWebSocket(lookup, url);
        trace.upgraded();
        return finish(
          new Response(null, { status: 200, headers: { [WEBSOCKET_ADMITTED]: "1" } }),
          match,
        );
      }

      let body: RequestContext["body"];
      switch (lookup.kind) {
        case "unknown":
          throw new GatewayError(404, unknownPathMessage(method, url, lookup.nearest), {
            code: "unknown_url",
          });
        case "wrong-method":
          throw new GatewayError(
            405,
            `${request.method} is not allowed on ${url.pathname}; it accepts ${lookup.allow.join(", ")}.`,
            {
              headers: { allow: [...lookup.allow, "OPTIONS"].join(", ") },
            },
          );
        case "overlap":
          body = await readJsonObject(request, snapshot.proxy.body);
          match = chooseOverlap(lookup, body.json);
          break;
        case "route":
          match = lookup.match;
          // A not-served endpoint is refused whatever its body (multipart audio, file uploads).
          if (match.route.method === "POST" && match.route.operation !== "not-served") {
            body =
              match.route.auth === "admin"
                ? await readOptionalJsonObject(request, snapshot.proxy.body)
                : await readJsonObject(request, snapshot.proxy.body);
          }
          break;
      }
      if (match.rewrittenFrom) warnRewrite(match, request.method, url);
      if (body) trace.requestBody(body.text);
      const ctx: RequestContext = {
        request,
        url,
        snapshot,
        requestId,
        family,
        match,
        clientKeyName,
        body,
        trace,
      };
      return finish(await dispatch(ctx), match);
    } catch (error) {
      if (error instanceof GatewayError) {
        trace.error(error.message);
        return finish(
          errorResponse(family, error.status, error.message, error.details, requestId),
          match,
        );
      }
      trace.error(`internal error: ${(error as Error).message}`);
      services.log.error(
        `request ${requestId} ${request.method} ${url.pathname} failed: ${(error as Error).stack ?? error}`,
      );
      return finish(
        errorResponse(
          family,
          500,
          `levity hit an internal error while serving this request (request id ${requestId}). This is a bug; the log has the details.`,
          {},
          requestId,
        ),
        match,
      );
    }
  };

  async function dispatch(ctx: RequestContext): Promise<Response> {
    switch (ctx.match.route.operation) {
      case "health":
        return jsonResponse({ status: "ok", version: services.version });
      case "list-models": {
        const entries = await services.catalog.list(ctx.snapshot);
        return jsonResponse(
          renderModelList(modelShapeFor(ctx.family, ctx.request.headers), entries),
        );
      }
      case "get-model": {
        const id = ctx.match.params.model ?? "";
        const entries = await services.catalog.list(ctx.snapshot);
        const entry = entries.find((e) => e.id === id) ?? { id, ownedBy: "levity" };
        return jsonResponse(renderModel(modelShapeFor(ctx.family, ctx.request.headers), entry));
      }
      case "compact":
        return compactResponses(ctx, services);
      case "generate":
        return asksCompaction(ctx.body?.json)
          ? compactInline(ctx, services)
          : generate(ctx, services);
      case "count-tokens":
        return generate(ctx, services);
      case "metrics":
        if (!ctx.snapshot.proxy.metricsEnabled)
          throw new GatewayError(
            404,
            "Metrics are off in this levity (proxy.metrics: false in gateway.yaml).",
          );
        return new Response(
          services.metrics.render(
            services.pool.view(ctx.snapshot.upstreams),
            services.pool.cooldowns(),
          ),
          {
            headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
          },
        );
      case "monitor-page":
        return monitorPageResponse();
      case "index":
        return indexResponse(
          ctx.url.origin,
          services.version,
          ctx.snapshot.routes,
          ctx.snapshot.proxy.metricsEnabled,
        );
      case "not-served":
        return notServed(ctx);
      default:
        return admin(ctx, services);
    }
  }

  function warnRewrite(match: RouteMatch, method: string, url: URL): void {
    const key = `${method} ${match.rewrittenFrom}`;
    if (warnedPaths.has(key) || warnedPaths.size > 1000) return;
    warnedPaths.add(key);
    const cause = match.gluedOnto
      ? ` Its Base URL seems to be a whole endpoint (ending in ${match.gluedOnto}), onto which it added its own path.`
      : "";
    services.log.warn(
      `a client called ${method} ${match.rewrittenFrom}; served it as ${match.path}.${cause} Set that client's Base URL to ${baseUrlFor(match.route, url)} (this warning shows once per path)`,
    );
  }
}

/** Who may call a route: returns the client key's name when one authenticated, throws 401 when none would do. */
function checkAuth(
  authClass: AuthClass,
  snapshot: ConfigSnapshot,
  keys: KeyRing,
  adminKeys: KeyRing,
  headers: Headers,
  url: URL,
  peer: (() => string | undefined) | undefined,
): string | undefined {
  switch (authClass) {
    case "page":
      // The monitor page's shell holds no data; everything it shows comes from admin calls.
      return undefined;
    case "admin": {
      // The admin surface needs the admin key whenever one exists, whatever auth_mode says. Client
      // keys never open it: any holder could read the others' prompts.
      const presented = presentedCredentials(headers, url);
      if (adminKeys.entries.length > 0) {
        if (!authenticate(adminKeys, presented))
          throw new GatewayError(401, adminRefusalMessage(presented));
        return undefined;
      }
      if (snapshot.proxy.effectiveAuth !== "off") throw new GatewayError(403, NO_ADMIN_KEY);
      // Auth off and no admin key: the CLI on this machine (no Origin), and levity's own monitor
      // page (its Origin is the Host, which the Host check has vetted), and nothing else: no other
      // web page, no other machine (allow_insecure_lan).
      const origin = headers.get("origin");
      if (!isLoopbackPeer(peer?.()))
        throw new GatewayError(
          403,
          `Without proxy.admin_key, levity's admin surface answers only this machine. ${ADD_ADMIN_KEY}`,
        );
      if (origin !== null && !sameOrigin(origin, headers.get("host"))) {
        throw new GatewayError(
          403,
          `Without proxy.admin_key, levity's admin surface answers no web page but its own monitor page, and this request came from ${origin.slice(0, 200)}. ${ADD_ADMIN_KEY}`,
        );
      }
      return undefined;
    }
    case "metrics": {
      // Like the API, unless metrics_public; the admin key opens it too, for a scraper run by the admin.
      if (snapshot.proxy.metricsPublic || !needsKey(snapshot.proxy.effectiveAuth, "api"))
        return undefined;
      const presented = presentedCredentials(headers, url);
      const name = authenticate(keys, presented) ?? authenticate(adminKeys, presented);
      if (!name) throw new GatewayError(401, refusalMessage(presented));
      return name;
    }
    default: {
      if (!needsKey(snapshot.proxy.effectiveAuth, authClass)) return undefined;
      const presented = presentedCredentials(headers, url);
      const name = authenticate(keys, presented);
      if (!name) throw new GatewayError(401, refusalMessage(presented));
      return name;
    }
  }
}

const ADD_ADMIN_KEY =
  "Add proxy.admin_key to gateway.yaml (levity init writes one) and send it as the admin key.";
const NO_ADMIN_KEY = `This levity gateway has auth on and no admin key, so its admin surface is closed: client keys never open it. ${ADD_ADMIN_KEY}`;

/** Only the Responses route speaks over a WebSocket; anything else is refused before the upgrade. */
function admitWebSocket(lookup: PathLookup, url: URL): RouteMatch {
  const route = lookup.kind === "route" ? lookup.match.route : undefined;
  if (
    lookup.kind === "route" &&
    route?.operation === "generate" &&
    route.dialect === "openai-responses"
  )
    return lookup.match;
  throw new GatewayError(
    404,
    `levity serves WebSockets only on the Responses path (${url.origin}/v1/responses); ${url.pathname} is not it.`,
    { code: "unknown_url" },
  );
}

function routeOf(lookup: PathLookup): RouteDef | undefined {
  if (lookup.kind === "route") return lookup.match.route;
  if (lookup.kind === "overlap") return lookup.choices[0]?.route;
  return undefined;
}

function chooseOverlap(
  lookup: Extract<PathLookup, { kind: "overlap" }>,
  json: Record<string, unknown>,
): RouteMatch {
  const choice = lookup.choices.find((c) => json[c.field] !== undefined);
  if (!choice) {
    const fields = lookup.choices.map((c) => c.field).join(", ");
    throw new GatewayError(
      400,
      `${lookup.from} is not a known path, and the body has none of the fields (${fields}) that would tell which endpoint was meant.`,
    );
  }
  return { route: choice.route, params: {}, path: choice.route.path, rewrittenFrom: lookup.from };
}

export function baseUrlFor(route: RouteDef, url: URL): string {
  return route.dialect?.startsWith("openai") ? `${url.origin}/v1` : url.origin;
}

function unknownPathMessage(method: string, url: URL, nearest: RouteDef | undefined): string {
  const near = nearest ? ` The nearest known route is ${nearest.method} ${nearest.path}.` : "";
  return (
    `levity has no route for ${method} ${url.pathname}.${near} ` +
    `Base URLs for this gateway: OpenAI SDKs and Codex CLI ${url.origin}/v1; Anthropic SDKs and Claude Code ${url.origin}; ` +
    `Gemini SDKs and Gemini CLI ${url.origin}. \`levity routes\` lists every path.`
  );
}
