/*
 * The recorded-CLI-traffic fixture format (test/fixtures/cli-traffic/<cli>/<version>/<session>.json)
 * and the scrubbing every recorded request and answer goes through before it is written: the
 * fixtures are test data anyone can read, so no key, token or path of the recording machine may
 * reach them. Pure; the recorder (scripts/record-cli-traffic.ts) and its tests use it.
 */

export type CliName = "claude-code" | "codex" | "gemini-cli" | "kilo-code";
export type SessionName =
  | "plain"
  | "tool-loop"
  | "thinking"
  | "image"
  | "multi-turn"
  | "compaction"
  | "count-tokens";
/** Every session, in the order the recorder runs them. */
export const SESSIONS: SessionName[] = [
  "plain",
  "tool-loop",
  "thinking",
  "image",
  "multi-turn",
  "compaction",
  "count-tokens",
];
export type Dialect = "anthropic" | "openai-responses" | "openai-chat" | "gemini";
export type Purpose = "main" | "title" | "count" | "quota" | "other";

export interface RecordedExchange {
  request: {
    method: string;
    /** Path and query, as the CLI asked for them. */
    path: string;
    headers: Record<string, string>;
    /** The JSON body; a body that is not JSON is kept as `bodyText` instead. */
    body?: unknown;
    bodyText?: string;
  };
  response: { status: number; contentType: string; body: string };
  purpose: Purpose;
}

export interface SessionFixture {
  format: 1;
  cli: CliName;
  version: string;
  session: SessionName;
  dialect: Dialect;
  recordedAt: string;
  /** The request headers whose values were replaced by "[scrubbed]". */
  scrubbed: string[];
  exchanges: RecordedExchange[];
}

export const SCRUBBED = "[scrubbed]";
export const HOME_STANDIN = "/home/user";
export const WORK_STANDIN = "/work/project";

/** Headers that say nothing about the CLI, only about the connection it happened to use. */
const HOP_BY_HOP = new Set(["host", "content-length", "connection", "accept-encoding"]);

/** Names of headers that carry a credential, whatever their value looks like. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|cookie|set-cookie)$|api[-_]?key|(^|[-_])(key|token|secret|password)($|[-_])/i;

/**
 * Substrings that look like a credential: OpenAI/Anthropic-style sk- keys, Google API keys, and
 * the token after "Bearer". Word-bounded so that "task-…" or "risk-…" stay as they are.
 */
const KEY_LIKE = [
  /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{12,}/g,
  /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{20,}/g,
  /(?<=\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
];

/** What identifies this recording: the fake key and the temporary directories the CLI ran in. */
export interface ScrubContext {
  /** The fake keys handed to the CLI (any string equal to or containing one is scrubbed). */
  keys: string[];
  /** The temporary home directory, and any other spellings of it (a resolved symlink). */
  homes: string[];
  /** The temporary work directory, likewise. */
  works: string[];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A string with keys, tokens and the machine's temporary paths replaced. */
export function scrubText(text: string, ctx: ScrubContext): string {
  let out = text;
  for (const key of ctx.keys) if (key) out = out.replaceAll(key, SCRUBBED);
  for (const pattern of KEY_LIKE) out = out.replace(pattern, SCRUBBED);
  // The longest first: a work directory may sit inside the home.
  const paths = [
    ...ctx.works.map((p) => [p, WORK_STANDIN] as const),
    ...ctx.homes.map((p) => [p, HOME_STANDIN] as const),
  ]
    .filter(([p]) => p.length > 1)
    .sort((a, b) => b[0].length - a[0].length);
  // Only where a path starts: ~/.gemini/tmp/<work directory's name> is not the work directory.
  for (const [path, standin] of paths)
    out = out.replace(new RegExp(`(?<![\\w.-])${escapeRegExp(path)}`, "g"), standin);
  // A CLI may name a directory of its own after the work directory's name, lower-cased (Gemini
  // CLI's ~/.gemini/tmp/<name>): the random part would change on every recording.
  for (const [path, standin] of paths) {
    const name = path.split("/").filter(Boolean).at(-1) ?? "";
    if (name.length > 3)
      out = out.replace(new RegExp(escapeRegExp(name), "gi"), standin.split("/").at(-1)!);
  }
  return out;
}

/** Every string in a JSON value scrubbed (object keys too: a path can be a key). */
export function scrubJson(value: unknown, ctx: ScrubContext): unknown {
  if (typeof value === "string") return scrubText(value, ctx);
  if (Array.isArray(value)) return value.map((item) => scrubJson(item, ctx));
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [scrubText(k, ctx), scrubJson(v, ctx)]),
    );
  return value;
}

/**
 * The headers a fixture keeps: all but hop-by-hop ones, names lower-cased, secret-bearing values
 * replaced; `scrubbed` gets the names of those replaced.
 */
export function scrubHeaders(
  headers: Iterable<[string, string]>,
  ctx: ScrubContext,
  scrubbed: Set<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const secret = SECRET_HEADER.test(name) || ctx.keys.some((key) => key && value.includes(key));
    if (secret) scrubbed.add(name);
    out[name] = secret ? SCRUBBED : scrubText(value, ctx);
  }
  return out;
}

/** A request path with any key in its query (Gemini's ?key=) scrubbed. */
export function scrubPath(path: string, ctx: ScrubContext): string {
  const [pathname, query] = path.split(/\?(.*)/s, 2) as [string, string | undefined];
  if (query === undefined) return scrubText(pathname, ctx);
  const params = new URLSearchParams(query);
  const kept = [...params].map(([name, value]) =>
    SECRET_HEADER.test(name) || name === "key"
      ? `${name}=${encodeURIComponent(SCRUBBED)}`
      : `${name}=${encodeURIComponent(scrubText(value, ctx))}`,
  );
  return `${scrubText(pathname, ctx)}?${kept.join("&").replaceAll("%5Bscrubbed%5D", SCRUBBED)}`;
}

/** A raw exchange as the recording proxy saw it. */
export interface RawExchange {
  method: string;
  path: string;
  headers: [string, string][];
  bodyText: string;
  status: number;
  contentType: string;
  responseText: string;
}

/** The exchange as a fixture keeps it, everything scrubbed; `purpose` is the caller's judgement. */
export function toRecorded(
  raw: RawExchange,
  purpose: Purpose,
  ctx: ScrubContext,
  scrubbed: Set<string>,
): RecordedExchange {
  let body: unknown;
  let json = false;
  if (raw.bodyText !== "") {
    try {
      body = JSON.parse(raw.bodyText);
      json = true;
    } catch {
      json = false;
    }
  }
  const request: RecordedExchange["request"] = {
    method: raw.method,
    path: scrubPath(raw.path, ctx),
    headers: scrubHeaders(raw.headers, ctx, scrubbed),
  };
  if (json) request.body = scrubJson(body, ctx);
  else if (raw.bodyText !== "") request.bodyText = scrubText(raw.bodyText, ctx);
  return {
    request,
    response: {
      status: raw.status,
      contentType: raw.contentType,
      body: scrubText(raw.responseText, ctx),
    },
    purpose,
  };
}
