// The version segment, and the endpoint paths users paste by mistake after it.
const ENDPOINTS = /\/(v1beta|v1|v1alpha)(\/models(\/[^/]*)?)?\/?$/;

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";
export const GEMINI_DEFAULT_API_VERSION = "v1beta";

/** Gemini base URLs leave out the version; one written with it keeps it as the API version (`v1beta` unless it says otherwise). */
export function geminiBasePath(path: string): { path: string; apiVersion: string } {
  const version = ENDPOINTS.exec(path)?.[1];
  return { path: path.replace(ENDPOINTS, ""), apiVersion: version ?? GEMINI_DEFAULT_API_VERSION };
}
