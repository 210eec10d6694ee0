import type { UpstreamProtocol } from "../config/schema.ts";

export const DEFAULT_BASE_URLS: Record<Exclude<UpstreamProtocol, "echo">, string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com",
};

export interface NormalizedBaseUrl {
  /** Base to which the protocol's own paths are appended; never ends with '/'. */
  url: string;
  /** Gemini API version segment (`v1beta` unless the user wrote `/v1`). */
  apiVersion?: string;
  /** What was changed, for `levity check` and the start-up log. */
  adjusted?: string;
}

// Endpoint paths users paste by mistake when they copy a full request URL.
const OPENAI_ENDPOINTS = /\/(chat\/completions|completions|responses|models|embeddings)\/?$/;
const ANTHROPIC_ENDPOINTS = /\/v1(\/messages(\/count_tokens)?|\/models)?\/?$/;
const GEMINI_ENDPOINTS = /\/(v1beta|v1|v1alpha)(\/models(\/[^/]*)?)?\/?$/;

/**
 * Follows each official SDK's convention: OpenAI-compatible base URLs include the version
 * (`/v1`, or whatever path the provider uses, e.g. `/api/paas/v4`), Anthropic and Gemini base
 * URLs do not. A URL written the other way is understood instead of doubled.
 */
export function normalizeBaseUrl(
  protocol: Exclude<UpstreamProtocol, "echo">,
  raw: string | undefined,
): NormalizedBaseUrl {
  if (raw === undefined) {
    return protocol === "gemini"
      ? { url: DEFAULT_BASE_URLS.gemini, apiVersion: "v1beta" }
      : { url: DEFAULT_BASE_URLS[protocol] };
  }
  const parsed = new URL(raw);
  parsed.search = "";
  parsed.hash = "";
  const origin = parsed.origin;
  let path = parsed.pathname.replace(/\/+$/, "");
  const written = origin + path;

  switch (protocol) {
    case "openai": {
      path = path.replace(OPENAI_ENDPOINTS, "");
      // A bare host means the provider's default API root, which is /v1 for OpenAI and the
      // OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio).
      if (path === "") path = "/v1";
      return withNote(origin + path, written);
    }
    case "anthropic": {
      path = path.replace(ANTHROPIC_ENDPOINTS, "");
      return withNote(origin + path, written);
    }
    case "gemini": {
      const version = GEMINI_ENDPOINTS.exec(path)?.[1];
      path = path.replace(GEMINI_ENDPOINTS, "");
      return { ...withNote(origin + path, written), apiVersion: version ?? "v1beta" };
    }
  }
}

function withNote(url: string, written: string): NormalizedBaseUrl {
  return url === written ? { url } : { url, adjusted: `${written} is read as ${url}` };
}
