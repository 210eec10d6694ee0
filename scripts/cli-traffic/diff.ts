import type { RecordedExchange, SessionFixture } from "./fixture.ts";

/*
 * What changed in a CLI's requests from one recorded version to the next, session by session:
 * the endpoints it calls, its headers, the fields of its request bodies, its tools (by name), and
 * its model and parameters, as a few readable lines for the re-recording script's output. Values
 * that differ on every run (session ids, hashes, timestamps) are not changes. Pure.
 */

export interface ValueChange {
  name: string;
  before: string;
  after: string;
}

export interface SessionDiff {
  /** The session was not recorded for the earlier version (or is gone in the new one). */
  added?: boolean;
  removed?: boolean;
  requests: { before: number; after: number };
  endpoints: { added: string[]; removed: string[] };
  headers: { added: string[]; removed: string[]; changed: ValueChange[] };
  fields: { added: string[]; removed: string[] };
  tools: { added: string[]; removed: string[] };
  /** Model and scalar parameters of the first main request. */
  values: ValueChange[];
}

/** Ids, hashes, dates and times that are new on every run, whatever the CLI's version. */
const VOLATILE: [RegExp, string][] = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>"],
  [/\b[0-9a-f]{16,}\b/gi, "<hash>"],
  [/\d{4}-\d{2}-\d{2}T[\d:.]+Z?/g, "<time>"],
  [/\d{4}-\d{2}-\d{2}/g, "<date>"],
];

function stable(value: string): string {
  return VOLATILE.reduce((text, [pattern, standin]) => text.replace(pattern, standin), value);
}

/** The version string in a value (a user agent's), so it does not count as a change by itself. */
function withoutVersion(value: string, version: string): string {
  return version ? value.replaceAll(version, "<version>") : value;
}

/** The first request that is the model's own turn; any request if none is. */
function firstMain(fixture: SessionFixture): RecordedExchange | undefined {
  return fixture.exchanges.find((e) => e.purpose === "main") ?? fixture.exchanges[0];
}

/** Dotted paths of an object's fields, into nested objects but not into arrays (turns, tools). */
export function fieldPaths(value: unknown, prefix = ""): string[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    const nested = fieldPaths(inner, path);
    return nested.length > 0 ? nested : [path];
  });
}

/** Scalar fields (model, max_tokens, effort, …) with their values, by dotted path. */
function scalars(value: unknown, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  if (!value || typeof value !== "object" || Array.isArray(value)) return out;
  for (const [key, inner] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (inner !== null && typeof inner === "object") {
      if (!Array.isArray(inner)) for (const [p, v] of scalars(inner, path)) out.set(p, v);
    } else out.set(path, JSON.stringify(inner));
  }
  return out;
}

/** The names of the tools a request declares, in any of the four dialects. */
export function toolNames(body: unknown): string[] {
  const tools = (body as { tools?: unknown })?.tools;
  if (!Array.isArray(tools)) return [];
  return tools
    .flatMap((tool: any) => {
      if (Array.isArray(tool?.functionDeclarations ?? tool?.function_declarations))
        return (tool.functionDeclarations ?? tool.function_declarations).map((f: any) => f?.name);
      const builtIn = Object.keys(tool ?? {}).find((k) => /^(google|url|code)/i.test(k));
      return [tool?.function?.name ?? tool?.name ?? builtIn ?? tool?.type];
    })
    .filter((name): name is string => typeof name === "string");
}

function setDiff(before: Iterable<string>, after: Iterable<string>) {
  const a = new Set(before);
  const b = new Set(after);
  return {
    added: [...b].filter((x) => !a.has(x)).sort(),
    removed: [...a].filter((x) => !b.has(x)).sort(),
  };
}

const endpoint = (e: RecordedExchange) => `${e.request.method} ${e.request.path}`;

const EMPTY: SessionFixture = {
  format: 1,
  cli: "claude-code",
  version: "",
  session: "plain",
  dialect: "anthropic",
  recordedAt: "",
  scrubbed: [],
  exchanges: [],
};

export function diffSessions(
  before: SessionFixture | undefined,
  after: SessionFixture | undefined,
): SessionDiff {
  const old = before ?? EMPTY;
  const now = after ?? EMPTY;
  const oldMain = firstMain(old);
  const newMain = firstMain(now);
  const oldHeaders = oldMain?.request.headers ?? {};
  const newHeaders = newMain?.request.headers ?? {};
  const headerNames = setDiff(Object.keys(oldHeaders), Object.keys(newHeaders));
  const changedHeaders = Object.keys(newHeaders)
    .filter((name) => name in oldHeaders)
    .map((name) => ({
      name,
      before: oldHeaders[name]!,
      after: newHeaders[name]!,
    }))
    .filter(
      (c) =>
        stable(withoutVersion(c.before, old.version)) !==
        stable(withoutVersion(c.after, now.version)),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  const oldValues = scalars(oldMain?.request.body);
  const newValues = scalars(newMain?.request.body);
  const values = [...newValues]
    .filter(([path, value]) => oldValues.has(path) && oldValues.get(path) !== value)
    .map(([name, after]) => ({ name, before: oldValues.get(name)!, after }))
    .filter((c) => stable(c.before) !== stable(c.after))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    ...(before ? {} : { added: true }),
    ...(after ? {} : { removed: true }),
    requests: { before: old.exchanges.length, after: now.exchanges.length },
    endpoints: setDiff(old.exchanges.map(endpoint), now.exchanges.map(endpoint)),
    headers: { ...headerNames, changed: changedHeaders },
    fields: setDiff(
      old.exchanges.flatMap((e) => fieldPaths(e.request.body)),
      now.exchanges.flatMap((e) => fieldPaths(e.request.body)),
    ),
    tools: setDiff(
      old.exchanges.flatMap((e) => toolNames(e.request.body)),
      now.exchanges.flatMap((e) => toolNames(e.request.body)),
    ),
    values,
  };
}

/** "a → b", or for comma-separated lists (anthropic-beta) the items added and removed. */
function describeChange(change: ValueChange): string {
  const short = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);
  if (change.before.includes(",") && change.after.includes(",")) {
    const items = (text: string) => text.split(",").map((item) => item.trim());
    const { added, removed } = setDiff(items(change.before), items(change.after));
    if (added.length + removed.length > 0)
      return `${change.name} ${[...added.map((a) => `+${a}`), ...removed.map((r) => `-${r}`)].join(" ")}`;
  }
  return `${change.name} ${short(change.before)} → ${short(change.after)}`;
}

function listed(label: string, { added, removed }: { added: string[]; removed: string[] }) {
  const parts = [
    added.length > 0 ? `added ${added.join(", ")}` : "",
    removed.length > 0 ? `removed ${removed.join(", ")}` : "",
  ].filter(Boolean);
  return parts.length > 0 ? [`  ${label}: ${parts.join("; ")}`] : [];
}

export function formatDiff(
  cli: string,
  from: string,
  to: string,
  session: string,
  diff: SessionDiff,
): string {
  const head = `${cli} ${from} → ${to}, ${session}:`;
  if (diff.added) return `${head} new session (${diff.requests.after} requests)`;
  if (diff.removed) return `${head} no longer recorded`;
  const lines = [
    ...(diff.requests.before !== diff.requests.after
      ? [`  requests: ${diff.requests.before} → ${diff.requests.after}`]
      : []),
    ...listed("endpoints", diff.endpoints),
    ...listed("headers", diff.headers),
    ...(diff.headers.changed.length > 0
      ? [`  headers changed: ${diff.headers.changed.map(describeChange).join("; ")}`]
      : []),
    ...listed("body fields", diff.fields),
    ...listed("tools", diff.tools),
    ...(diff.values.length > 0
      ? [`  values changed: ${diff.values.map(describeChange).join("; ")}`]
      : []),
  ];
  return lines.length === 0 ? `${head} no change in its requests` : [head, ...lines].join("\n");
}

function versionParts(version: string): number[] {
  return version.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
}

export function compareVersions(a: string, b: string): number {
  const [x, y] = [versionParts(a), versionParts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The recorded version a new recording is compared with: the newest one before it (else the newest other). */
export function latestOtherVersion(versions: string[], current: string): string | undefined {
  const others = versions.filter((v) => v !== current).sort(compareVersions);
  return others.filter((v) => compareVersions(v, current) < 0).at(-1) ?? others.at(-1);
}
