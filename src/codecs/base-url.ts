import { FAMILIES } from "./families.ts";
import type { Family } from "./names.ts";

export interface NormalizedBaseUrl {
  /** Base to which the protocol's own paths are appended; never ends with '/'. */
  url: string;
  /** Gemini API version segment (`v1beta` unless the user wrote `/v1`). */
  apiVersion?: string;
  /** What was changed, for `levity check` and the start-up log. */
  adjusted?: string;
}

/**
 * Follows each official SDK's convention, which each family's `basePath` knows: OpenAI-compatible
 * base URLs include the version, Anthropic and Gemini base URLs do not. A URL written the other
 * way is understood instead of doubled.
 */
export function normalizeBaseUrl(family: Family, raw: string | undefined): NormalizedBaseUrl {
  const rules = FAMILIES[family];
  if (raw === undefined) {
    const { apiVersion } = rules.basePath("");
    return apiVersion === undefined
      ? { url: rules.defaultBaseUrl }
      : { url: rules.defaultBaseUrl, apiVersion };
  }
  const parsed = new URL(raw);
  parsed.search = "";
  parsed.hash = "";
  const written = parsed.origin + parsed.pathname.replace(/\/+$/, "");
  const { path, apiVersion } = rules.basePath(parsed.pathname.replace(/\/+$/, ""));
  const url = parsed.origin + path;
  const note = url === written ? {} : { adjusted: `${written} is read as ${url}` };
  return apiVersion === undefined ? { url, ...note } : { url, ...note, apiVersion };
}
