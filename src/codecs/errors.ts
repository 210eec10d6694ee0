import { FAMILIES, familyBySdkHeader } from "./families.ts";
import { type Dialect, type Family, FAMILY_OF_DIALECT } from "./names.ts";
import type { ErrorDetails } from "../failure.ts";

/** The three error shapes a client can understand: one per family. */
export type ErrorFamily = Family;

export function familyOfDialect(dialect: Dialect): ErrorFamily {
  return FAMILY_OF_DIALECT[dialect];
}

// Compiled once: a literal in the function is a new object on every request.
const GEMINI_METHOD = /:(generateContent|streamGenerateContent|countTokens)\b/;
const MESSAGES_PATH = /(^|\/)messages(\/|$)/;

/**
 * The family a request expects when its route does not say: by path prefix, then by the
 * headers only one SDK sends.
 */
export function familyOfRequest(path: string, headers: Headers): ErrorFamily {
  if (path.startsWith("/v1beta") || GEMINI_METHOD.test(path)) return "gemini";
  if (MESSAGES_PATH.test(path)) return "anthropic";
  // Then the header only one family's SDK sends (anthropic-version before x-goog-api-key).
  return familyBySdkHeader(headers)?.name ?? "openai";
}

/** The error body a client of this family parses; each family's shape is its own (codecs/). */
export function errorBody(
  family: ErrorFamily,
  status: number,
  message: string,
  details: ErrorDetails = {},
  requestId?: string,
): unknown {
  return FAMILIES[family].errorBody(status, message, details, requestId);
}

export function errorResponse(
  family: ErrorFamily,
  status: number,
  message: string,
  details: ErrorDetails = {},
  requestId?: string,
): Response {
  const headers = new Headers(details.headers);
  headers.set("content-type", "application/json");
  if (requestId) {
    headers.set("x-request-id", requestId);
    const own = FAMILIES[family].requestIdHeader;
    if (own) headers.set(own, requestId);
  }
  // The SDKs retry 408/409/429/5xx by default; a client mistake or a missing capability will not
  // improve on retry, so tell them not to.
  if (
    (status >= 400 && status < 500 && status !== 408 && status !== 409 && status !== 429) ||
    status === 501
  ) {
    headers.set("x-should-retry", "false");
  }
  return new Response(JSON.stringify(errorBody(family, status, message, details, requestId)), {
    status,
    headers,
  });
}
