import picomatch from "picomatch";
import { lazyConstant } from "../lazy.ts";
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
    matches: globMatcher(glob),
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

/**
 * A glob's matcher, compiled the first time a name could match it: a name that does not begin
 * with the glob's literal head cannot. Compiling the built-in table's globs when it was loaded
 * was 5.9 ms of every start (BENCHMARKS.md, issue 20, twentieth session); a gateway looks up only
 * the models it serves. The head is compared as the compiled matcher compares, ignoring case: a
 * regular expression's case-blind match takes two characters as equal when their upper cases
 * are, and never matches a non-ASCII character to an ASCII one, so upper-casing both sides keeps
 * every name the matcher could take (src/config/prices.test.ts holds the two to the same answers).
 */
function globMatcher(glob: string): (model: string) => boolean {
  const head = literalHead(glob).toUpperCase();
  const compiled = lazyConstant(() => compiledGlob(glob));
  return (model) => {
    if (head !== "" && !model.slice(0, head.length).toUpperCase().startsWith(head)) return false;
    return compiled()(model);
  };
}

/** picomatch's matcher; one it refuses to make (a glob over its length limit) matches nothing. */
function compiledGlob(glob: string): (model: string) => boolean {
  try {
    return picomatch(glob, { nocase: true, dot: true });
  } catch {
    return () => false;
  }
}

/**
 * The glob's leading letters, digits, dashes, underscores and dots: characters picomatch takes
 * only as themselves, where anything else (a wildcard, a brace, an escape, a slash, whose
 * globstar can match nothing) ends the head. None for a glob starting `./`, which picomatch
 * strips before it compiles (a review found `./gpt*` turning `gpt-4o` away).
 */
export function literalHead(glob: string): string {
  if (glob.startsWith("./")) return "";
  const match = /^[A-Za-z0-9._-]*/.exec(glob);
  return match ? match[0] : "";
}

/** The most specific rule of one table that matches the model; on a tie, the first written. */
export function matchRule(rules: readonly PriceRule[], model: string): PriceRule | undefined {
  let best: PriceRule | undefined;
  for (const rule of rules)
    if (rule.matches(model) && (!best || rule.literal > best.literal)) best = rule;
  return best;
}
