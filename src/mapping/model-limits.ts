/*
 * What levity knows of a model without asking anyone: how many input tokens it accepts, how many
 * it may write, and what kinds of input it reads. From each provider's own model pages; a mapping
 * target in mappings.yaml can say otherwise (context_window, max_output, modalities), and its word
 * wins. A model the table does not know has no limits: nothing is refused on a guess.
 */

export const MODALITIES = ["text", "image", "pdf", "audio", "video"] as const;
export type Modality = (typeof MODALITIES)[number];

export interface ModelLimits {
  /** The most input tokens (system, history, tools) a request may carry: what the provider refuses beyond. */
  contextWindow: number;
  /** The most tokens one answer may have, where the provider documents it. */
  maxOutput?: number;
  modalities: readonly Modality[];
  /**
   * Whether levity's estimate (OpenAI's o200k tokenizer) is this model's own tokenizer: a refusal
   * near the window is then sure; for the others it leaves a margin (pipeline/context-fit.ts).
   */
  o200k?: boolean;
}

/** What a mapping target may say of its model; each field replaces the table's. */
export interface LimitsOverride {
  contextWindow?: number;
  maxOutput?: number;
  modalities?: readonly Modality[];
}

const TEXT: readonly Modality[] = ["text"];
const VISION: readonly Modality[] = ["text", "image"];
const DOCUMENTS: readonly Modality[] = ["text", "image", "pdf"];
const EVERYTHING: readonly Modality[] = ["text", "image", "pdf", "audio", "video"];

const K = 1024;

/**
 * First match wins, so the more specific pattern comes first. Patterns are matched against the
 * model's name in lower case, with any `org/` prefix (a relay's `meta-llama/…`) taken off and
 * anchored at the start: a dated or suffixed id (`-20251001`, `-latest`, `:free`) matches too.
 */
const TABLE: readonly (readonly [RegExp, ModelLimits])[] = [
  // Anthropic: docs.anthropic.com, "Models overview".
  [/^claude-opus-4-[67]/, { contextWindow: 1_000_000, maxOutput: 128_000, modalities: DOCUMENTS }],
  [/^claude-sonnet-4-6/, { contextWindow: 1_000_000, maxOutput: 64_000, modalities: DOCUMENTS }],
  [/^claude-opus-4-5/, { contextWindow: 200_000, maxOutput: 64_000, modalities: DOCUMENTS }],
  [/^claude-opus-4/, { contextWindow: 200_000, maxOutput: 32_000, modalities: DOCUMENTS }],
  [/^claude-sonnet-4/, { contextWindow: 200_000, maxOutput: 64_000, modalities: DOCUMENTS }],
  [/^claude-haiku-4/, { contextWindow: 200_000, maxOutput: 64_000, modalities: DOCUMENTS }],
  [/^claude-3-7-sonnet/, { contextWindow: 200_000, maxOutput: 64_000, modalities: DOCUMENTS }],
  [
    /^claude-3-5-(sonnet|haiku)/,
    { contextWindow: 200_000, maxOutput: 8_192, modalities: DOCUMENTS },
  ],
  [
    /^claude-3-(opus|sonnet|haiku)/,
    { contextWindow: 200_000, maxOutput: 4_096, modalities: VISION },
  ],

  // OpenAI: platform.openai.com/docs/models. GPT-5's 400,000 is input and output together: 272,000 in.
  [
    /^gpt-5(\.\d+)?-chat/,
    { contextWindow: 128_000, maxOutput: 16_384, modalities: DOCUMENTS, o200k: true },
  ],
  [/^gpt-5/, { contextWindow: 272_000, maxOutput: 128_000, modalities: DOCUMENTS, o200k: true }],
  [
    /^codex-mini/,
    { contextWindow: 200_000, maxOutput: 100_000, modalities: DOCUMENTS, o200k: true },
  ],
  [
    /^gpt-4\.1/,
    { contextWindow: 1_047_576, maxOutput: 32_768, modalities: DOCUMENTS, o200k: true },
  ],
  [/^gpt-4o/, { contextWindow: 128_000, maxOutput: 16_384, modalities: DOCUMENTS, o200k: true }],
  [/^gpt-4-turbo/, { contextWindow: 128_000, maxOutput: 4_096, modalities: VISION }],
  [/^gpt-3\.5-turbo/, { contextWindow: 16_385, maxOutput: 4_096, modalities: TEXT }],
  [/^o1-mini/, { contextWindow: 128_000, maxOutput: 65_536, modalities: TEXT, o200k: true }],
  [
    /^o(1|3|4-mini)/,
    { contextWindow: 200_000, maxOutput: 100_000, modalities: DOCUMENTS, o200k: true },
  ],
  [/^gpt-oss/, { contextWindow: 131_072, maxOutput: 131_072, modalities: TEXT, o200k: true }],

  // Google: ai.google.dev/gemini-api/docs/models (inputTokenLimit, outputTokenLimit).
  [/^gemini-1\.5-pro/, { contextWindow: 2_097_152, maxOutput: 8_192, modalities: EVERYTHING }],
  [
    /^gemini-(1\.5|2\.0)-flash/,
    { contextWindow: 1_048_576, maxOutput: 8_192, modalities: EVERYTHING },
  ],
  [/^gemini-(2\.5|3)/, { contextWindow: 1_048_576, maxOutput: 65_536, modalities: EVERYTHING }],

  // DeepSeek: api-docs.deepseek.com, "Models & Pricing".
  [/^deepseek-reasoner/, { contextWindow: 128 * 1000, maxOutput: 64 * K, modalities: TEXT }],
  [/^deepseek-chat/, { contextWindow: 128 * 1000, maxOutput: 8 * K, modalities: TEXT }],
  [/^deepseek-(v3|r1)/, { contextWindow: 128 * 1000, modalities: TEXT }],

  // Qwen (Alibaba Model Studio).
  [/^qwen3-coder-plus/, { contextWindow: 1_000_000, maxOutput: 65_536, modalities: TEXT }],
  [/^qwen3-coder/, { contextWindow: 262_144, maxOutput: 65_536, modalities: TEXT }],
  [/^qwen3-max/, { contextWindow: 262_144, maxOutput: 65_536, modalities: TEXT }],
  [/^qwen3-\d+b/, { contextWindow: 131_072, modalities: TEXT }],

  // Moonshot: platform.moonshot.ai.
  [/^kimi-k2-(0905|turbo|thinking)/, { contextWindow: 262_144, modalities: TEXT }],
  [/^kimi-k2/, { contextWindow: 131_072, modalities: TEXT }],

  // Zhipu: docs.z.ai.
  [/^glm-4\.[56]v/, { contextWindow: 65_536, maxOutput: 16_384, modalities: VISION }],
  [/^glm-4\.6/, { contextWindow: 200_000, maxOutput: 128_000, modalities: TEXT }],
  [/^glm-4\.5/, { contextWindow: 128_000, maxOutput: 96_000, modalities: TEXT }],

  // Mistral: docs.mistral.ai, "Models".
  [/^codestral/, { contextWindow: 256_000, modalities: TEXT }],
  [/^(devstral|mistral-large|magistral)/, { contextWindow: 128_000, modalities: TEXT }],
  [/^mistral-(medium|small)/, { contextWindow: 128_000, modalities: VISION }],

  // Meta's Llama as Groq serves it: console.groq.com/docs/models.
  [/^llama-4-(scout|maverick)/, { contextWindow: 131_072, maxOutput: 8_192, modalities: VISION }],
  [/^llama-3\.3-70b/, { contextWindow: 131_072, maxOutput: 32_768, modalities: TEXT }],
  [/^llama-3\.1-8b/, { contextWindow: 131_072, maxOutput: 131_072, modalities: TEXT }],

  // xAI: docs.x.ai.
  [/^grok-code-fast/, { contextWindow: 256_000, modalities: TEXT }],
  [/^grok-4/, { contextWindow: 256_000, modalities: VISION }],
];

/**
 * The table's rows by the first character their pattern requires, in table order, so a request
 * tests the few rows that can match its model rather than all of them. A pattern that does not
 * start with a plain character (a group) is tried for every name.
 */
const ROWS_BY_FIRST: ReadonlyMap<string, readonly (readonly [RegExp, ModelLimits])[]> = (() => {
  const leading = (pattern: RegExp) => {
    const first = pattern.source[1] ?? "";
    return /^[a-z0-9]$/.test(first) ? first : undefined;
  };
  // One pass, each pattern read once: filtering the table again for each of its 8 first
  // characters read the patterns about 750 times as the module loaded.
  const firsts = TABLE.map(([pattern]) => leading(pattern));
  const rows = new Map<string, (readonly [RegExp, ModelLimits])[]>([["", []]]);
  for (const first of firsts) if (first !== undefined && !rows.has(first)) rows.set(first, []);
  TABLE.forEach((row, i) => {
    const first = firsts[i];
    if (first === undefined) for (const list of rows.values()) list.push(row);
    else rows.get(first)!.push(row);
  });
  return rows;
})();

/** The table's limits for a model name, or undefined when the table does not know it. */
export function builtInLimits(model: string): ModelLimits | undefined {
  const name = model.toLowerCase().slice(model.lastIndexOf("/") + 1);
  const rows = ROWS_BY_FIRST.get(name[0] ?? "") ?? ROWS_BY_FIRST.get("")!;
  // A loop, not find: its closure over the name cost every request that looks a model up.
  for (const [pattern, limits] of rows) if (pattern.test(name)) return limits;
  return undefined;
}

/**
 * A model's limits: the mapping's override field by field over the table's. A model neither
 * knows has none; an override that gives no window to a model the table does not know has none.
 */
export function modelLimits(model: string, override?: LimitsOverride): ModelLimits | undefined {
  const known = builtInLimits(model);
  const contextWindow = override?.contextWindow ?? known?.contextWindow;
  if (contextWindow === undefined) return undefined;
  return {
    contextWindow,
    maxOutput: override?.maxOutput ?? known?.maxOutput,
    modalities: override?.modalities ?? known?.modalities ?? TEXT,
    o200k: known?.o200k,
  };
}
