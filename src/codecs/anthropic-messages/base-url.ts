// Endpoint paths users paste by mistake when they copy a full request URL.
const ENDPOINTS = /\/v1(\/messages(\/count_tokens)?|\/models)?\/?$/;

export const ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com";

/** Anthropic base URLs leave out the version: the SDK adds `/v1/messages`. */
export function anthropicBasePath(path: string): { path: string } {
  return { path: path.replace(ENDPOINTS, "") };
}
