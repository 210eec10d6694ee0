import type { ErrorFields } from "../family.ts";

const TYPES: Readonly<Record<number, string>> = {
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

/** `{type: "error", error: {type, message}, request_id}`, as the Anthropic SDKs parse it. */
export function anthropicErrorBody(
  status: number,
  message: string,
  fields: ErrorFields = {},
  requestId?: string,
) {
  return {
    type: "error",
    error: {
      type: fields.type ?? TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error"),
      message,
    },
    ...(requestId ? { request_id: requestId } : {}),
  };
}
