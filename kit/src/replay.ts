import type { Json } from "./dialect.ts";
import type { RecordedRequest } from "./fixtures.ts";

/*
 * A recorded request made ready for the gateway under test: the key the recorder scrubbed put back
 * as this run's key, the model swapped for the one that reaches the fake under test, and the
 * headers a client's HTTP stack sets itself left to it.
 */

const SCRUBBED = "[scrubbed]";
const LEFT_TO_FETCH = new Set([
  "host",
  "content-length",
  "connection",
  "accept-encoding",
  "transfer-encoding",
  "keep-alive",
]);

export interface Outgoing {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Json;
  bodyText?: string;
}

function keyHeader(name: string, value: string, key: string): string | undefined {
  if (value !== SCRUBBED && !value.includes(SCRUBBED)) return value;
  if (name === "authorization") return `Bearer ${key}`;
  if (name === "x-api-key" || name === "x-goog-api-key" || name === "api-key") return key;
  return undefined;
}

/** The path with Gemini's model segment and a scrubbed `key=` query replaced. */
export function rewritePath(path: string, model: string, key: string): string {
  return path
    .replace(/(\/models\/)[^/:?]+(:)/, `$1${encodeURIComponent(model)}$2`)
    .replace(/([?&]key=)(%5Bscrubbed%5D|\[scrubbed\])/i, `$1${encodeURIComponent(key)}`);
}

export function outgoing(
  baseUrl: string,
  request: RecordedRequest,
  model: string,
  key: string,
): Outgoing {
  const headers: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(request.headers ?? {})) {
    const name = rawName.toLowerCase();
    if (LEFT_TO_FETCH.has(name)) continue;
    const kept = keyHeader(name, String(value), key);
    if (kept !== undefined) headers[name] = kept;
  }
  const result: Outgoing = {
    url: baseUrl.replace(/\/+$/, "") + rewritePath(request.path, model, key),
    method: request.method,
    headers,
  };
  if (request.body !== undefined) {
    const body = structuredClone(request.body);
    if (typeof body.model === "string") body.model = model;
    result.body = body;
  } else if (request.bodyText !== undefined) result.bodyText = request.bodyText;
  return result;
}

export interface ClientAnswer {
  status: number;
  contentType: string;
  text: string;
  error?: string;
}

export async function send(request: Outgoing, timeoutMs: number): Promise<ClientAnswer> {
  const body =
    request.body !== undefined ? JSON.stringify(request.body) : (request.bodyText ?? undefined);
  const headers = { ...request.headers };
  if (request.body !== undefined) headers["content-type"] ??= "application/json";
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD" ? undefined : body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      text: await response.text(),
    };
  } catch (error) {
    return { status: 0, contentType: "", text: "", error: (error as Error).message };
  }
}
