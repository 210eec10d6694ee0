import { FAMILIES } from "../codecs/families.ts";
import type { ConfigSnapshot, Upstream } from "../config/snapshot.ts";
import type { Logger } from "../log.ts";
import { modelLimits } from "../mapping/model-limits.ts";
import type { Target } from "../mapping/table.ts";
import { accountHeaders, modelListEndpoint } from "./protocol.ts";
import { namedForEmbedding } from "../codecs/embedding.ts";

export interface ModelEntry {
  id: string;
  /** The upstream that serves it, or "levity" for a mapping name. */
  ownedBy: string;
  displayName?: string;
  /** The most input tokens the model accepts (its context window, as levity's refusal counts it). */
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  modalities?: readonly string[];
  /** It makes embeddings rather than text. */
  embeds?: boolean;
}

/**
 * An entry with its limits: the mapping's own word first, then what its upstream's list said, then
 * levity's table (mapping/model-limits.ts).
 */
function described(entry: ModelEntry, target: Target | undefined): ModelEntry {
  const limits = modelLimits(target?.model ?? entry.id, target?.limits);
  const override = target?.limits;
  return {
    ...entry,
    inputTokenLimit: override?.contextWindow ?? entry.inputTokenLimit ?? limits?.contextWindow,
    outputTokenLimit: override?.maxOutput ?? entry.outputTokenLimit ?? limits?.maxOutput,
    modalities: override?.modalities ?? entry.modalities ?? limits?.modalities,
    embeds: entry.embeds ?? namedForEmbedding(target?.model ?? entry.id),
  };
}

const CACHE_MS = 5 * 60_000;
// A failed listing is retried sooner, so a recovered upstream shows up again.
const RETRY_MS = 30_000;
const FETCH_TIMEOUT_MS = 5_000;

/** Every model name a client can ask for: mapping names and targets, then each upstream's own list. */
export class ModelCatalog {
  private readonly cache = new Map<string, { expires: number; models: Promise<ModelEntry[]> }>();

  constructor(private readonly log: Logger) {}

  async list(snapshot: ConfigSnapshot): Promise<ModelEntry[]> {
    const entries = new Map<string, ModelEntry>();
    // The target each name is described by: a mapping name by its first target.
    const describedBy = new Map<string, Target>();
    const add = (entry: ModelEntry, target?: Target) => {
      const known = entries.get(entry.id);
      if (target && !describedBy.has(entry.id)) describedBy.set(entry.id, target);
      // A name listed twice keeps its first owner, and the limits an upstream's list gave.
      if (!known) entries.set(entry.id, entry);
      else
        entries.set(entry.id, {
          ...known,
          inputTokenLimit: known.inputTokenLimit ?? entry.inputTokenLimit,
          outputTokenLimit: known.outputTokenLimit ?? entry.outputTokenLimit,
          embeds: known.embeds ?? entry.embeds,
        });
    };
    for (const [name, rule] of snapshot.mappings.exact)
      add({ id: name, ownedBy: "levity" }, rule.targets[0]);
    const targets = [...snapshot.mappings.exact.values(), ...snapshot.mappings.wildcards].flatMap(
      (rule) => rule.targets,
    );
    if (snapshot.mappings.fallback) targets.push(...snapshot.mappings.fallback.targets);
    for (const target of targets) add({ id: target.model, ownedBy: target.upstream }, target);
    const lists = await Promise.all(
      snapshot.upstreams.map((upstream) => this.upstreamModels(upstream)),
    );
    for (const list of lists) for (const entry of list) add(entry);
    return [...entries.values()].map((entry) => described(entry, describedBy.get(entry.id)));
  }

  private upstreamModels(upstream: Upstream): Promise<ModelEntry[]> {
    if (upstream.protocol === "echo")
      return Promise.resolve([
        { id: "echo", ownedBy: upstream.name, displayName: "Echo (built in)" },
      ]);
    const account = upstream.accounts[0];
    const url = modelListEndpoint(upstream);
    if (!account || !url) return Promise.resolve([]);
    const cacheKey = `${upstream.name} ${url} ${account.name}`;
    const cached = this.cache.get(cacheKey);
    if (cached && Date.now() < cached.expires) return cached.models;
    const entry = { expires: Date.now() + CACHE_MS, models: Promise.resolve<ModelEntry[]>([]) };
    entry.models = this.fetchList(upstream, url, account.key).catch((error: Error) => {
      entry.expires = Date.now() + RETRY_MS;
      this.log.warn(
        `could not list the models of upstream "${upstream.name}": ${error.message}; /v1/models shows the mapped names only`,
      );
      return [];
    });
    this.cache.set(cacheKey, entry);
    return entry.models;
  }

  private async fetchList(upstream: Upstream, url: string, key: string): Promise<ModelEntry[]> {
    // The request carries the account's key: a redirect is never followed, since fetch would send
    // the key on to wherever the upstream points. A listing that redirects is a failed listing.
    const response = await fetch(url, {
      headers: accountHeaders(upstream.protocol, key),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      redirect: "manual",
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new Error(
        `HTTP ${response.status}, a redirect, which levity does not follow with an account's key`,
      );
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body: unknown = await response.json();
    return upstream.protocol === "echo"
      ? []
      : FAMILIES[upstream.protocol].parseModelList(body, upstream.name);
  }
}
