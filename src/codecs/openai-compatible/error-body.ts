import type { ErrorFields } from "../family.ts";

const TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_error",
  404: "invalid_request_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  415: "invalid_request_error",
  429: "requests",
};

const CODES: Readonly<Record<number, string>> = {
  401: "invalid_api_key",
  429: "rate_limit_exceeded",
};

/** `{error: {message, type, param, code}}`, as the OpenAI SDKs parse it. */
export function openaiErrorBody(status: number, message: string, fields: ErrorFields = {}) {
  return {
    error: {
      message,
      type:
        fields.type ?? TYPES[status] ?? (status >= 500 ? "server_error" : "invalid_request_error"),
      param: fields.param ?? null,
      code: fields.code !== undefined ? fields.code : (CODES[status] ?? null),
      ...fields.openaiExtra,
    },
  };
}
