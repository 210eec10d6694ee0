import { IttyRouter, type IRequest, type IttyRouterType, type RouteEntry } from "itty-router";
import type { AuthClass, RoutesFile } from "./schema.ts";
import type { Dialect, Operation } from "../codecs/names.ts";

export interface RouteDef {
  method: "GET" | "POST" | "PATCH";
  path: string;
  dialect?: Dialect;
  operation: Operation;
  auth: AuthClass;
  stream: boolean;
  aliases: string[];
  /** What the endpoint is, in words, when routes.yaml says (a not-served answer names it). */
  note?: string;
  /** How a POST's body is read: JSON (when absent), or multipart/form-data (file uploads). */
  body?: "json" | "multipart";
  /** This route's own body limit, in place of proxy.max_body_mb, when routes.yaml sets one. */
  maxBodyBytes?: number;
}

export interface RouteMatch {
  route: RouteDef;
  params: Record<string, string>;
  /** The canonical path with its parameters filled in. */
  path: string;
  /** Set when the client's path was not the canonical one. */
  rewrittenFrom?: string;
  /**
   * Set when the client glued its own suffix onto a full endpoint it was given as Base URL: the
   * endpoint path that Base URL ended in (`/v1/chat/completions` in `/v1/chat/completions/chat/completions`).
   */
  gluedOnto?: string;
}

export interface OverlapChoice {
  field: string;
  route: RouteDef;
}

export type PathLookup =
  | { kind: "route"; match: RouteMatch }
  | { kind: "overlap"; from: string; choices: OverlapChoice[] }
  | { kind: "wrong-method"; allow: string[] }
  | { kind: "unknown"; nearest?: RouteDef };

export interface RouteTable {
  /** The validated routes.yaml this table was compiled from. */
  source: RoutesFile;
  routes: RouteDef[];
  /** The itty-router instance that holds one entry per canonical path and alias. */
  router: IttyRouterType;
  lookup(method: string, rawPath: string): Promise<PathLookup>;
  /** A path matched before, answered without a promise; undefined: ask lookup. */
  cached(method: string, rawPath: string): PathLookup | undefined;
}

interface Pattern {
  method: string;
  regex: RegExp;
}

/**
 * `{name}` captures one segment. Followed by a literal `:method` (Gemini's paths), it may hold
 * colons itself, since model names such as Ollama's `qwen2.5:7b` do: the method is what follows
 * the last colon. Anywhere else it stops at ':'.
 */
export function templateToRegex(template: string): RegExp {
  let source = "";
  let last = 0;
  for (const match of template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    const end = match.index + match[0].length;
    const segment = template[end] === ":" ? "[^/]+" : "[^/:]+";
    source += `${escapeRegex(template.slice(last, match.index))}(?<${match[1]}>${segment})`;
    last = end;
  }
  source += escapeRegex(template.slice(last));
  return new RegExp(`^${source}$`);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function fillTemplate(template: string, params: Record<string, string>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => params[name] ?? "");
}

export function compileRouteTable(file: RoutesFile): RouteTable {
  const routes: RouteDef[] = file.routes.map((entry) => ({
    method: entry.method,
    path: entry.path,
    dialect: entry.dialect,
    operation: entry.operation,
    auth: entry.auth,
    stream: entry.stream,
    aliases: entry.aliases,
    ...(entry.note !== undefined ? { note: entry.note } : {}),
    ...(entry.body === "multipart" ? { body: entry.body } : {}),
    ...(entry.max_body_mb !== undefined
      ? { maxBodyBytes: Math.round(entry.max_body_mb * 1024 * 1024) }
      : {}),
  }));

  const entries: RouteEntry[] = [];
  const patterns: Pattern[] = [];
  // Only the client API counts as an endpoint someone would paste as a Base URL, or glue onto one.
  const apiPatterns: RegExp[] = [];
  for (const route of routes) {
    for (const path of [route.path, ...route.aliases]) {
      const regex = templateToRegex(path);
      patterns.push({ method: route.method, regex });
      if (route.dialect) apiPatterns.push(regex);
      const handler = (request: IRequest) => ({ route, params: { ...request.params } });
      entries.push([route.method, regex, [handler], path]);
    }
  }
  const router = IttyRouter({ routes: entries });

  const canonical = new Map(routes.map((route) => [`${route.method} ${route.path}`, route]));
  const overlaps = new Map<string, OverlapChoice[]>();
  for (const overlap of file.overlaps) {
    const choices = overlap.by_body.map((choice) => {
      const route = canonical.get(`POST ${choice.route}`);
      if (!route) throw new Error(`overlap target ${choice.route} is not a POST route`);
      return { field: choice.field, route };
    });
    for (const path of overlap.paths) overlaps.set(path, choices);
  }

  const normalize = createNormalizer(file.normalize);
  const isApiPath = (path: string) => apiPatterns.some((regex) => regex.test(path));
  // A front longer than any API path cannot be one: the search for a glued endpoint stops there,
  // so a path of thousands of segments costs a few tries, not thousands.
  const maxApiSegments = Math.max(
    0,
    ...routes.flatMap((route) =>
      route.dialect ? [route.path, ...route.aliases].map((path) => path.split("/").length - 1) : [],
    ),
  );
  // Clients repeat the same few paths; matching each through the router again cost more than
  // the rest of routing. Only matches are kept (never a 404's path), frozen since they are shared.
  const matched = new Map<string, PathLookup>();

  async function lookup(method: string, rawPath: string): Promise<PathLookup> {
    const key = `${method} ${rawPath}`;
    const cached = matched.get(key);
    if (cached) return cached;
    const found = await match(method, rawPath);
    if (found.kind === "route") {
      if (matched.size >= MATCH_CACHE_SIZE) matched.clear();
      Object.freeze(found.match.params);
      matched.set(key, Object.freeze({ kind: "route", match: Object.freeze(found.match) }));
    }
    return found;
  }

  async function route(method: string, path: string): Promise<RouteMatch | undefined> {
    const found = (await router.fetch({ method, url: `http://levity${path}` })) as
      | { route: RouteDef; params: Record<string, string> }
      | undefined;
    if (!found) return undefined;
    const canonicalPath = found.route.path.includes("{")
      ? fillTemplate(found.route.path, found.params)
      : found.route.path;
    return { route: found.route, params: found.params, path: canonicalPath };
  }

  const methodsOf = (path: string) => [
    ...new Set(patterns.filter((p) => p.regex.test(path)).map((p) => p.method)),
  ];

  async function match(method: string, rawPath: string): Promise<PathLookup> {
    const path = normalize(rawPath);
    const found = await route(method, path);
    if (found) {
      if (found.path !== rawPath) found.rewrittenFrom = rawPath;
      return { kind: "route", match: found };
    }
    // The overlaps listed by name come first: they choose by body, not by the last path.
    const choices = method === "POST" ? overlaps.get(path) : undefined;
    if (choices) return { kind: "overlap", from: rawPath, choices };
    const allow = methodsOf(path);
    if (allow.length > 0 || overlaps.has(path))
      return { kind: "wrong-method", allow: allow.length > 0 ? allow : ["POST"] };
    if (file.normalize.glued_endpoints) {
      const glued = await unglue(method, path);
      if (glued?.match) return { kind: "route", match: { ...glued.match, rewrittenFrom: rawPath } };
      if (glued?.choices) return { kind: "overlap", from: rawPath, choices: glued.choices };
      if (glued?.allow) return { kind: "wrong-method", allow: glued.allow };
    }
    return { kind: "unknown", nearest: nearestRoute(routes, path) };
  }

  /**
   * An endpoint given as a Base URL gets the client's own suffix glued on:
   * /v1/chat/completions + /chat/completions, /v1/messages + /v1/messages,
   * /v1beta/models/x:generateContent + /v1beta/models/x:generateContent. The first split whose
   * front is an API path and whose rest is an API route (or an overlapped path) means that rest:
   * the client's own suffix is what it wants. Tried only on paths that match nothing else, so it
   * costs a hit nothing.
   */
  async function unglue(
    method: string,
    path: string,
  ): Promise<{ match?: RouteMatch; choices?: OverlapChoice[]; allow?: string[] } | undefined> {
    let allow: string[] | undefined;
    let segments = 1;
    for (
      let i = path.indexOf("/", 1);
      i > 0 && segments <= maxApiSegments;
      i = path.indexOf("/", i + 1), segments++
    ) {
      const front = path.slice(0, i);
      if (!isApiPath(front)) continue;
      const rest = normalize(path.slice(i));
      const found = await route(method, rest);
      if (found?.route.dialect) return { match: { ...found, gluedOnto: front } };
      const choices = method === "POST" ? overlaps.get(rest) : undefined;
      if (choices) return { choices };
      if (!allow && isApiPath(rest)) allow = methodsOf(rest);
    }
    return allow ? { allow } : undefined;
  }

  return {
    source: file,
    routes,
    router,
    lookup,
    cached: (method, rawPath) => matched.get(`${method} ${rawPath}`),
  };
}

const MATCH_CACHE_SIZE = 4096;

function createNormalizer(options: RoutesFile["normalize"]): (path: string) => string {
  const prefixes = [...options.collapse_repeated_prefixes].sort((a, b) => b.length - a.length);
  return (input) => {
    let path = input;
    if (options.collapse_slashes) path = path.replace(/\/{2,}/g, "/");
    if (options.strip_trailing_slash && path.length > 1 && path.endsWith("/"))
      path = path.replace(/\/+$/, "") || "/";
    if (prefixes.length > 0) path = collapseLeadingPrefixes(path, prefixes);
    return path;
  };
}

/** A leading run of version prefixes collapses to its last one: /v1/v1/x -> /v1/x, /v1/v1beta/x -> /v1beta/x. */
function collapseLeadingPrefixes(path: string, prefixes: string[]): string {
  let rest = path;
  let kept: string | undefined;
  let count = 0;
  for (;;) {
    const prefix = prefixes.find((p) => rest === p || rest.startsWith(`${p}/`));
    if (!prefix) break;
    kept = prefix;
    count++;
    rest = rest.slice(prefix.length);
  }
  return count < 2 || kept === undefined ? path : kept + rest;
}

/** Longer paths are compared by their start: the edit distance costs length × length per route. */
const NEAREST_PROBE_LENGTH = 256;

function nearestRoute(routes: RouteDef[], fullPath: string): RouteDef | undefined {
  const path = fullPath.slice(0, NEAREST_PROBE_LENGTH);
  let best: RouteDef | undefined;
  let bestDistance = Infinity;
  for (const route of routes) {
    for (const candidate of [route.path, ...route.aliases]) {
      const distance = editDistance(path, fillTemplate(candidate, guessParams(candidate, path)));
      if (distance < bestDistance) {
        bestDistance = distance;
        best = route;
      }
    }
  }
  return best;
}

/** Fills a template's parameters from the segment at the same position, so `/v1beta/models/x:foo` compares fairly. */
function guessParams(template: string, path: string): Record<string, string> {
  const params: Record<string, string> = {};
  const templateSegments = template.split("/");
  const pathSegments = path.split("/");
  templateSegments.forEach((segment, i) => {
    const name = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(segment)?.[1];
    if (name) params[name] = (pathSegments[i] ?? "").split(":")[0] ?? "";
  });
  return params;
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(
        above + 1,
        previous[j - 1]! + 1,
        diagonal + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return previous[b.length]!;
}
