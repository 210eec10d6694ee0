import type { ErrorFields } from "../family.ts";
const STATUSES: Readonly<Record<number, string>> = {
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

/** `{error: {code, message, status}}`, Google's RPC status as the Gemini SDKs parse it. */
export function geminiErrorBody(status: number, message: string, fields: ErrorFields = {}) {
  return {
    error: {
      code: status,
      message,
      status: STATUSES[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"),
      ...(fields.rpcDetails ? { details: fields.rpcDetails } : {}),
    },
  };
}
