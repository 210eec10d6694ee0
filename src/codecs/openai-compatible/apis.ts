import type { Dialect } from "../names.ts";

/* The three OpenAI APIs, and the levity dialect that speaks each. */

export const OPENAI_APIS = ["chat", "responses", "completions"] as const;
export type OpenAIApi = (typeof OPENAI_APIS)[number];

const API_OF_DIALECT: Readonly<Partial<Record<Dialect, OpenAIApi>>> = {
  "openai-chat": "chat",
  "openai-responses": "responses",
  "openai-completions": "completions",
};
const DIALECT_OF_API: Readonly<Record<OpenAIApi, Dialect>> = {
  chat: "openai-chat",
  responses: "openai-responses",
  completions: "openai-completions",
};

export function apiOfDialect(dialect: Dialect): OpenAIApi | undefined {
  return API_OF_DIALECT[dialect];
}

export function dialectOfApi(api: OpenAIApi): Dialect {
  return DIALECT_OF_API[api];
}
