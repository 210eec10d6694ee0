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
  const query = new URLSearchParams(call.query);
  // The client's own key (?key=) is not the account's, and must not reach the upstream.
  query.delete(GEMINI_KEY_QUERY);
  const search = query.size > 0 ? `?${query}` : "";
  return `/${call.apiVersion ?? GEMINI_DEFAULT_API_VERSION}/models/${encodeURIComponent(call.model)}:${method}${search}`;
}

/** Where Gemini's SDKs may put the key in the query string. */
export const GEMINI_KEY_QUERY = "key";
