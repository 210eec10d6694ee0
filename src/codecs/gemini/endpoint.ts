import type { Operation } from "../names.ts";
import { GEMINI_DEFAULT_API_VERSION } from "./base-url.ts";

interface GeminiEndpointCall {
  operation: Operation;
  model: string;
  stream: boolean;
  apiVersion?: string;
  /** Query for the upstream: `alt` must reach it; a client's `key` never does (the account's goes in a header). */
  query?: URLSearchParams;
}

/** The model's method under the base URL: the model and the method are in the path, not the body. */
export function geminiEndpointPath(call: GeminiEndpointCall): string {
  const method =
    call.operation === "count-tokens"
      ? "countTokens"
      : call.stream
        ? "streamGenerateContent"
        : "generateContent";
  // No query (a whole answer's request) makes no URLSearchParams to find it empty.
  const search = call.query === undefined ? "" : searchOf(call.query);
  return `/${call.apiVersion ?? GEMINI_DEFAULT_API_VERSION}/models/${encodeURIComponent(call.model)}:${method}${search}`;
}

function searchOf(given: URLSearchParams): string {
  const query = new URLSearchParams(given);
  // The client's own key (?key=) is not the account's, and must not reach the upstream.
  query.delete(GEMINI_KEY_QUERY);
  return query.size > 0 ? `?${query}` : "";
}

/** Where Gemini's SDKs may put the key in the query string. */
export const GEMINI_KEY_QUERY = "key";
