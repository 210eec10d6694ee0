import type { ConfigSnapshot } from "../config/snapshot.ts";
import { matchRule, type Price, type PriceRule } from "../config/prices.ts";
import type { Logger } from "../log.ts";
import type { RequestRecord } from "../observe/record.ts";
import { BUILT_IN_PRICES } from "./built-in-prices.ts";

/** Token counts in the IR's sense: input includes cached and cache-write, output includes reasoning. */
export interface TokenCounts {
  input: number;
  output: number;
  cached: number;
  cacheWrite: number;
  reasoning: number;
}

/**
 * What the tokens cost in US dollars. Each token is priced once, by its kind: the prompt's plain
 * part, its cache reads and cache writes, the answer's plain part and its reasoning.
 */
export function costOf(price: Price, tokens: TokenCounts): number {
  const plainInput = Math.max(0, tokens.input - tokens.cached - tokens.cacheWrite);
  const plainOutput = Math.max(0, tokens.output - tokens.reasoning);
  return (
    (plainInput * price.input +
      tokens.cached * price.cachedInput +
      tokens.cacheWrite * price.cacheWrite +
      plainOutput * price.output +
      tokens.reasoning * price.reasoning) /
    1e6
  );
}

/**
 * A model's price as an upstream is billed for it: the upstream's own prices: first, then
 * gateway.yaml's, then the compiled-in table. The first table with a match decides, and within a
 * table the most specific glob wins.
 */
export function priceFor(
  tables: { upstream?: readonly PriceRule[]; gateway: readonly PriceRule[] },
  model: string,
): Price | undefined {
  for (const table of [tables.upstream ?? [], tables.gateway, BUILT_IN_PRICES]) {
    const rule = matchRule(table, model);
    if (rule) return rule.price;
  }
  return undefined;
}

/** The model a record was billed for: the mapped one, or the requested one when nothing mapped it. */
export function billedModel(record: RequestRecord): string | undefined {
  return record.mappedModel ?? record.requestedModel;
}

/** The record's cost by the snapshot's prices; undefined when its model has none, 0 when no upstream was asked. */
export function costOfRecord(
  snapshot: ConfigSnapshot,
  record: RequestRecord,
  lookup: (snapshot: ConfigSnapshot, upstream: string, model: string) => Price | undefined = lookUp,
): number | undefined {
  // Refused before any upstream was asked (no key, a bad body, an admin call): nothing was spent.
  if (!record.upstream) return 0;
  const model = billedModel(record);
  if (!model) return undefined;
  const price = lookup(snapshot, record.upstream, model);
  if (!price) return undefined;
  return costOf(price, {
    input: record.inputTokens,
    output: record.outputTokens,
    cached: record.cachedTokens,
    cacheWrite: record.cacheWriteTokens,
    reasoning: record.reasoningTokens,
  });
}

function lookUp(snapshot: ConfigSnapshot, upstreamName: string, model: string): Price | undefined {
  const upstream = snapshot.upstreamByName.get(upstreamName);
  return priceFor({ upstream: upstream?.prices, gateway: snapshot.prices }, model);
}

/** At most this many (upstream, model) pairs are remembered as warned about; client-chosen names are unbounded. */
const WARNED_MAX = 1000;
/** Prices remembered per snapshot; past this many (upstream, model) pairs, forgotten. */
const PRICES_REMEMBERED = 4096;

/**
 * Prices records, and says once per (upstream, model) when a model that was served has no
 * price, naming the prices: entry that would give it one.
 */
export function createPricer(log: Pick<Logger, "warn">) {
  // By upstream, then model: a key string joined from the two was two strings a request to make
  // and hash, where these lookups hash the names the configuration already holds.
  const warned = new Map<string, Set<string>>();
  let warnedPairs = 0;
  // Matching a model against every glob of three tables was a few microseconds a request; a
  // snapshot's answer for a pair does not change, so it is looked up once (a reload starts anew).
  const known = new WeakMap<ConfigSnapshot, RememberedPrices>();
  const cached = (snapshot: ConfigSnapshot, upstream: string, model: string) => {
    let remembered = known.get(snapshot);
    if (!remembered) {
      remembered = { byUpstream: new Map(), pairs: 0 };
      known.set(snapshot, remembered);
    }
    let prices = remembered.byUpstream.get(upstream);
    let price = prices?.get(model);
    if (price === undefined) {
      price = lookUp(snapshot, upstream, model) ?? null;
      // Model names come from clients: the memory is bounded.
      if (remembered.pairs >= PRICES_REMEMBERED) {
        remembered.byUpstream.clear();
        remembered.pairs = 0;
        prices = undefined;
      }
      if (!prices) {
        prices = new Map();
        remembered.byUpstream.set(upstream, prices);
      }
      prices.set(model, price);
      remembered.pairs++;
    }
    return price ?? undefined;
  };
  return (snapshot: ConfigSnapshot, record: RequestRecord): number | undefined => {
    const cost = costOfRecord(snapshot, record, cached);
    const model = billedModel(record);
    if (cost !== undefined || !model || !record.upstream) return cost;
    let models = warned.get(record.upstream);
    if (models?.has(model) || warnedPairs >= WARNED_MAX) return cost;
    if (!models) {
      models = new Set();
      warned.set(record.upstream, models);
    }
    models.add(model);
    warnedPairs++;
    // Quoted as JSON: a client chose the name, and it must not break the log line.
    const name = JSON.stringify(model.slice(0, 200));
    const upstream = JSON.stringify(record.upstream);
    log.warn(
      `cost: no price for model ${name} on upstream ${upstream}; its requests are counted as unpriced. Give it one in gateway.yaml, under the top-level prices: for every upstream or under this upstream's own prices: (${name}: { input: 1.25, cached_input: 0.125, output: 10 }, US dollars per million tokens).`,
    );
    return cost;
  };
}

/** A snapshot's prices as looked up so far, by upstream then model, and how many pairs that is. */
interface RememberedPrices {
  byUpstream: Map<string, Map<string, Price | null>>;
  pairs: number;
}
