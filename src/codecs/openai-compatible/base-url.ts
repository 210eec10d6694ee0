// Endpoint paths users paste by mistake when they copy a full request URL.
const ENDPOINTS = /\/(chat\/completions|completions|responses|models|embeddings)\/?$/;

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/**
 * OpenAI-compatible base URLs include the version (`/v1`, or whatever path the provider uses,
 * e.g. `/api/paas/v4`). A bare host means the provider's default API root, which is /v1 for
 * OpenAI and the OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio).
 */
export function openaiBasePath(path: string): { path: string } {
  const stripped = path.replace(ENDPOINTS, "");
  return { path: stripped === "" ? "/v1" : stripped };
}
