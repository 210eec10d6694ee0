import type { Dialect } from "../config/schema.ts";
import type { ErrorDetails } from "../failure.ts";

/** The three error shapes a client can understand. */
export type ErrorFamily = "openai" | "anthropic" | "gemini";

export function familyOfDialect(dialect: Dialect): ErrorFamily {
  if (dialect === "anthropic-messages") return "anthropic";
  if (dialect === "gemini") return "gemini";
  return "openai";
}

/**
 * The family a request expects when its route does not say: by path prefix, then by the
 * headers only one SDK sends.
 */
export function familyOfRequest(path: string, headers: Headers): ErrorFamily {
  if (
    path.startsWith("/v1beta") ||
    /:(generateContent|streamGenerateContent|countTokens)\b/.test(path)
  )
    return "gemini";
  if (headers.has("anthropic-version") || /(^|\/)messages(\/|$)/.test(path)) return "anthropic";
  if (headers.has("x-goog-api-key")) return "gemini";
  return "openai";
}

// GatewayError lives in src/failure.ts; re-exported until every importer points there.
export { GatewayError } from "../failure.ts";

const OPENAI_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_error",
  404: "invalid_request_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  429: "requests",
};

const OPENAI_CODES: Record<number, string> = { 401: "invalid_api_key", 429: "rate_limit_exceeded" };

const ANTHROPIC_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "request_too_large",
  415: "invalid_request_error",
  429: "rate_limit_error",
  504: "timeout_error",
  529: "overloaded_error",
};

const GEMINI_STATUSES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "INVALID_ARGUMENT",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  415: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
  529: "UNAVAILABLE",
};

export function errorBody(
  family: ErrorFamily,
  status: number,
  message: string,
  details: ErrorDetails = {},
  requestId?: string,
): unknown {
  switch (family) {
    case "openai":
      return {
        error: {
          message,
          type:
            details.type ??
            OPENAI_TYPES[status] ??
            (status >= 500 ? "server_error" : "invalid_request_error"),
          param: details.param ?? null,
          code: details.code !== undefined ? details.code : (OPENAI_CODES[status] ?? null),
        },
      };
    case "anthropic":
      return {
        type: "error",
        error: {
          type:
            details.type ??
            ANTHROPIC_TYPES[status] ??
            (status >= 500 ? "api_error" : "invalid_request_error"),
          message,
        },
        ...(requestId ? { request_id: requestId } : {}),
      };
    case "gemini":
      return {
        error: {
          code: status,
          message,
          status: GEMINI_STATUSES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"),
        },
      };
  }
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
    if (family === "anthropic") headers.set("request-id", requestId);
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
