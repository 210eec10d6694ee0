/*
 * The names levity gives dialects, operations and upstream protocols. They sit here, at the bottom
 * of the layers, because every codec is keyed by them; config/schema.ts validates against these
 * lists rather than defining its own.
 */

export const DIALECTS = [
  "openai-chat",
  "openai-completions",
  "openai-responses",
  "anthropic-messages",
  "gemini",
] as const;
export type Dialect = (typeof DIALECTS)[number];

export const OPERATIONS = [
  "health",
  "list-models",
  "get-model",
  "generate",
  "count-tokens",
  /** Responses compaction: forwarded where the upstream serves it, emulated elsewhere. */
  "compact",
  /** OpenAI's /v1/embeddings and Gemini's :embedContent and :batchEmbedContents. */
  "embeddings",
  "metrics",
  "monitor-page",
  "admin-status",
  "admin-accounts",
  "admin-reset-accounts",
  "admin-enable-account",
  "admin-disable-account",
  "admin-logs",
  "admin-usage",
  "admin-reload",
  /** Client keys made with `levity keys`: list, one, add, change limits, revoke. */
  "admin-keys",
  "admin-key",
  "admin-add-key",
  "admin-update-key",
  "admin-revoke-key",
  /** A logged request sent again (levity replay). */
  "admin-replay",
  /** GET /: a browser is sent to the monitor page, a program gets a short index of the Base URLs. */
  "index",
  /** An endpoint levity knows of but does not serve yet: a 501 in the client's shape naming it. */
  "not-served",
  /** OpenAI's POST /v1/images/generations, over an OpenAI or a Gemini upstream. */
  "image-generation",
  /** OpenAI's POST /v1/images/edits (multipart), the same way. */
  "image-edit",
  /** OpenAI speech to text: forwarded to an OpenAI upstream, over Gemini as an inline-audio request. */
  "transcribe",
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const PROTOCOLS = ["gemini", "openai", "anthropic", "echo"] as const;
export type UpstreamProtocol = (typeof PROTOCOLS)[number];

/**
 * A vendor's API family: what its dialects share (error body, model list shape, auth header,
 * base-URL rules, failure words, rate-limit headers). Every upstream protocol but echo is one.
 */
export type Family = Exclude<UpstreamProtocol, "echo">;

/** The family each dialect belongs to: the shapes its clients read are that family's. */
export const FAMILY_OF_DIALECT: Readonly<Record<Dialect, Family>> = {
  "openai-chat": "openai",
  "openai-completions": "openai",
  "openai-responses": "openai",
  "anthropic-messages": "anthropic",
  gemini: "gemini",
};
