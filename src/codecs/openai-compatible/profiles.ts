import { OPENAI_APIS, type OpenAIApi } from "./apis.ts";

/*
 * The OpenAI-compatible family. Most providers that speak the OpenAI dialect serve only Chat
 * Completions, and each differs from OpenAI in small documented ways. What an upstream serves
 * natively, and how its chat dialect differs, is configuration with defaults from the base URL's
 * host: `apis`, `profile` and `compat` in gateway.yaml.
 */

/** How one provider's Chat Completions differ from OpenAI's. */
export interface ChatCompat {
  /** Accepts the `developer` role; otherwise such messages are sent as `system`. */
  developerRole: boolean;
  /** The output limit's name: OpenAI's own API wants max_completion_tokens, most others know only max_tokens. */
  maxTokensField: "max_tokens" | "max_completion_tokens";
  /** Accepts `stream_options: {include_usage: true}`; otherwise it is left out (usage then comes when the provider sends it). */
  streamOptions: boolean;
  /** Where reasoning goes when it is sent back: `reasoning_content` (DeepSeek, Kimi, vLLM) or `reasoning` (OpenRouter, Ollama, Groq). */
  reasoningField: "reasoning_content" | "reasoning";
  /**
   * When the assistant's reasoning is sent back on later turns: never (OpenAI has no such field),
   * on turns that called tools (DeepSeek and Kimi in thinking mode refuse such a turn without it),
   * or always.
   */
  reasoningEcho: "never" | "tool_turns" | "always";
}

export const PROFILES = [
  "openai",
  "azure",
  "deepseek",
  "moonshot",
  "xai",
  "mistral",
  "zhipu",
  "groq",
  "openrouter",
  "ollama",
  "generic",
] as const;
export type ProfileName = (typeof PROFILES)[number];

const GENERIC: Readonly<ChatCompat> = {
  developerRole: false,
  maxTokensField: "max_tokens",
  streamOptions: true,
  reasoningField: "reasoning_content",
  reasoningEcho: "never",
};

const PROFILE_COMPAT: Readonly<Record<ProfileName, ChatCompat>> = {
  openai: { ...GENERIC, developerRole: true, maxTokensField: "max_completion_tokens" },
  azure: { ...GENERIC, developerRole: true, maxTokensField: "max_completion_tokens" },
  deepseek: { ...GENERIC, reasoningEcho: "tool_turns" },
  moonshot: { ...GENERIC, reasoningEcho: "tool_turns" },
  xai: GENERIC,
  mistral: { ...GENERIC, streamOptions: false },
  zhipu: { ...GENERIC, streamOptions: false },
  groq: { ...GENERIC, reasoningField: "reasoning" },
  openrouter: { ...GENERIC, reasoningField: "reasoning" },
  ollama: { ...GENERIC, reasoningField: "reasoning" },
  generic: GENERIC,
};

// Hosts whose profile is known; anything else is `generic`.
const HOST_PROFILES: readonly (readonly [RegExp, ProfileName])[] = [
  [/^api\.openai\.com$/, "openai"],
  [/\.openai\.azure\.com$/, "azure"],
  [/(^|\.)deepseek\.com$/, "deepseek"],
  [/(^|\.)moonshot\.(ai|cn)$/, "moonshot"],
  [/(^|\.)x\.ai$/, "xai"],
  [/(^|\.)mistral\.ai$/, "mistral"],
  [/(^|\.)(bigmodel\.cn|z\.ai)$/, "zhipu"],
  [/(^|\.)groq\.com$/, "groq"],
  [/(^|\.)openrouter\.ai$/, "openrouter"],
];

/** The profile a base URL implies: by host, and Ollama by its default port. */
export function profileFromBaseUrl(baseUrl: string): ProfileName {
  const url = new URL(baseUrl);
  for (const [pattern, name] of HOST_PROFILES) if (pattern.test(url.hostname)) return name;
  if (url.port === "11434") return "ollama";
  return "generic";
}

export function compatOf(profile: ProfileName, overrides: Partial<ChatCompat> = {}): ChatCompat {
  return { ...PROFILE_COMPAT[profile], ...overrides };
}

/** The APIs an upstream serves natively unless `apis` says otherwise: all three for OpenAI's own API and Azure OpenAI, chat for the rest. */
export function defaultApis(profile: ProfileName): OpenAIApi[] {
  return profile === "openai" || profile === "azure" ? [...OPENAI_APIS] : ["chat"];
}
