import { priceRules, type PriceEntry } from "../config/prices.ts";

/*
 * The providers' list prices, US dollars per million tokens, standard tier, prompts of up to
 * 200K tokens (the long-context surcharges are not modelled). Reasoning is billed as output by
 * all three, so no entry names it. Read on 2026-11-26:
 *
 * - Anthropic: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing": base
 *   input, 5-minute cache writes, cache hits, output). A 1-hour cache write costs more than the
 *   5-minute one; the usage an answer reports does not say which was written, so the 5-minute
 *   price is used.
 * - OpenAI: https://developers.openai.com/api/docs/pricing ("Standard": input, cached input,
 *   output). OpenAI charges nothing extra to write its cache: cache_write is input.
 * - Gemini: https://ai.google.dev/gemini-api/docs/pricing (paid tier: input, context caching,
 *   output "including thinking tokens"). Cache storage per hour is not per request and is left
 *   out. Gemini 2.5's context-caching column itself could not be read from the stored copies;
 *   its cached-input figures are a tenth of input, the discount those copies describe.
 *
 * Globs: the most specific match wins, so `gpt-4o-mini*` beats `gpt-4o*`. A model's dated
 * snapshots (claude-sonnet-4-5-20250929, gpt-4o-2024-08-06, gemini-2.0-flash-001) match their
 * family; OpenAI's and Gemini's families are written `{,-2*}` or `{,-0*,-preview*}` so a
 * differently priced sibling (gpt-4o-audio-preview, gemini-2.5-flash-image) is not mistaken for
 * its family: it has no price until gateway.yaml gives one.
 */
const ENTRIES: Readonly<Record<string, PriceEntry>> = {
  // Anthropic
  "claude-opus-4*": { input: 15, cache_write: 18.75, cached_input: 1.5, output: 75 },
  "claude-opus-4-1*": { input: 15, cache_write: 18.75, cached_input: 1.5, output: 75 },
  // Opus 4.5 and later 4.x: the price was cut with 4.5.
  "claude-opus-4-[5-9]*": { input: 5, cache_write: 6.25, cached_input: 0.5, output: 25 },
  "claude-sonnet-4*": { input: 3, cache_write: 3.75, cached_input: 0.3, output: 15 },
  "claude-3-7-sonnet*": { input: 3, cache_write: 3.75, cached_input: 0.3, output: 15 },
  "claude-haiku-4*": { input: 1, cache_write: 1.25, cached_input: 0.1, output: 5 },
  "claude-3-5-haiku*": { input: 0.8, cache_write: 1, cached_input: 0.08, output: 4 },
  // OpenAI
  "gpt-5{,-2*}": { input: 1.25, cached_input: 0.125, output: 10 },
  "gpt-5.1{,-2*}": { input: 1.25, cached_input: 0.125, output: 10 },
  "gpt-5-mini{,-2*}": { input: 0.25, cached_input: 0.025, output: 2 },
  "gpt-5-nano{,-2*}": { input: 0.05, cached_input: 0.005, output: 0.4 },
  "gpt-4.1{,-2*}": { input: 2, cached_input: 0.5, output: 8 },
  "gpt-4.1-mini{,-2*}": { input: 0.4, cached_input: 0.1, output: 1.6 },
  "gpt-4.1-nano{,-2*}": { input: 0.1, cached_input: 0.025, output: 0.4 },
  "gpt-4o{,-2*}": { input: 2.5, cached_input: 1.25, output: 10 },
  // The first gpt-4o snapshot kept its launch price and has no cache discount.
  "gpt-4o-2024-05-13": { input: 5, output: 15 },
  "gpt-4o-mini{,-2*}": { input: 0.15, cached_input: 0.075, output: 0.6 },
  "o3{,-2*}": { input: 2, cached_input: 0.5, output: 8 },
  "o3-mini{,-2*}": { input: 1.1, cached_input: 0.55, output: 4.4 },
  "o4-mini{,-2*}": { input: 1.1, cached_input: 0.275, output: 4.4 },
  // Gemini
  "gemini-2.5-pro{,-0*,-preview*}": { input: 1.25, cached_input: 0.125, output: 10 },
  "gemini-2.5-flash{,-0*,-preview*}": { input: 0.3, cached_input: 0.03, output: 2.5 },
  "gemini-2.5-flash-lite{,-0*,-preview*}": { input: 0.1, cached_input: 0.01, output: 0.4 },
  "gemini-2.0-flash{,-0*}": { input: 0.1, cached_input: 0.025, output: 0.4 },
  "gemini-2.0-flash-lite{,-0*}": { input: 0.075, output: 0.3 },
  "gemini-3-pro-preview*": { input: 2, cached_input: 0.2, output: 12 },
  "gemini-3-flash-preview*": { input: 0.5, cached_input: 0.05, output: 3 },
};

/** The compiled-in table, under gateway.yaml's prices: and each upstream's own. */
export const BUILT_IN_PRICES = priceRules(ENTRIES);

/** When these prices were read, for the README and the warning about a model without one. */
export const PRICES_READ_ON = "2026-11-26";
