import picomatch from "picomatch";
import { literalCount } from "../mapping/specificity.ts";

/** US dollars per million tokens of each kind. */
export interface Price {
  /** Prompt tokens neither read from nor written to a cache. */
  input: number;
  /** Prompt tokens read from the upstream's cache. */
  cachedInput: number;
  /** Prompt tokens written to the upstream's cache (Anthropic's cache_creation). */
  cacheWrite: number;
  /** Generated tokens other than reasoning. */
  output: number;
  reasoning: number;
}

/** A `prices:` entry as written: input and output required, the other three default from them. */
export interface PriceEntry {
  input: number;
  output: number;
  cached_input?: number;
  cache_write?: number;
  reasoning?: number;
}

/** One glob of a price table, with what choosing the most specific match needs. */
export interface PriceRule {
  glob: string;
  /** Literal characters in the glob: the most specific match wins. */
  literal: number;
  matches: (model: string) => boolean;
  price: Price;
}

/** The rules of one table (gateway.yaml's, an upstream's, the compiled-in one), in written order. */
export function priceRules(entries: Readonly<Record<string, PriceEntry>>): PriceRule[] {
  return Object.entries(entries).map(([glob, entry]) => ({
    glob,
    literal: literalCount(glob),
    matches: picomatch(glob, { nocase: true, dot: true }),
    price: {
      input: entry.input,
      // What a provider does not discount or surcharge is billed at its plain rate.
      cachedInput: entry.cached_input ?? entry.input,
      cacheWrite: entry.cache_write ?? entry.input,
      output: entry.output,
      reasoning: entry.reasoning ?? entry.output,
    },
  }));
}

/** The most specific rule of one table that matches the model; on a tie, the first written. */
export function matchRule(rules: readonly PriceRule[], model: string): PriceRule | undefined {
  let best: PriceRule | undefined;
  for (const rule of rules)
    if (rule.matches(model) && (!best || rule.literal > best.literal)) best = rule;
  return best;
}
