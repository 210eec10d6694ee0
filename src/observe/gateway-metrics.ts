import type { AccountView } from "../pool/view.ts";
import { Counter, Gauge, Histogram, MAX_SERIES, type HistogramState } from "./prometheus.ts";

type TokenKind = "input" | "output" | "cached" | "cache_write" | "reasoning";

interface RequestSeries {
  requests: { value: number };
  latency: HistogramState;
  ttfb: HistogramState;
  tokens: {
    model: string;
    upstream: string;
    account: string;
  } & Partial<Record<TokenKind, { value: number }>>;
  /**
   * The client key's own series, found with the rest: its cost (made with the first priced
   * request, so an unpriced model shows no cost series) and its tokens but cache writes.
   */
  cost?: { value: number };
  keyTokens: Partial<Record<Exclude<TokenKind, "cache_write">, { value: number }>>;
  clientKey: string;
}
import type { RecordSink, RequestRecord } from "./record.ts";

/*
 * levity's metrics. Request metrics come from the same finished records as the request log, so
 * the two always agree; account states and cooldowns are read from the pool at scrape time.
 */

// Seconds: from a cached answer on loopback to a long reasoning stream.
const LATENCY_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

export interface CooldownCount {
  upstream: string;
  account: string;
  reason: string;
  count: number;
}

export class GatewayMetrics implements RecordSink {
  private readonly startedAt = Date.now();
  private inFlightNow = 0;
  private readonly requests = new Counter(
    "levity_requests_total",
    "Requests served, by route, dialect, mapped model, upstream, account and status.",
    ["route", "dialect", "model", "upstream", "account", "status"],
  );
  private readonly latency = new Histogram(
    "levity_request_duration_seconds",
    "Time from request to the answer's last byte.",
    ["route", "dialect", "model", "upstream"],
    LATENCY_BUCKETS,
  );
  private readonly ttfb = new Histogram(
    "levity_time_to_first_byte_seconds",
    "Time from request to the first byte of the answer.",
    ["route", "dialect", "model", "upstream"],
    LATENCY_BUCKETS,
  );
  private readonly tokens = new Counter(
    "levity_tokens_total",
    "Tokens reported by upstreams, by kind (cached and cache_write are part of input, reasoning part of output).",
    ["model", "upstream", "account", "kind"],
  );
  private readonly cost = new Counter(
    "levity_cost_usd_total",
    "What requests cost in US dollars by the price table, by client key name, mapped model and upstream; requests whose model has no price add nothing.",
    ["key", "model", "upstream"],
  );
  private readonly keyTokens = new Counter(
    "levity_key_tokens_total",
    "Tokens by client key name and kind (cached is part of input, reasoning part of output).",
    ["key", "kind"],
  );
  private readonly cacheHitRatio = new Gauge(
    "levity_prompt_cache_hit_ratio",
    "Share of input tokens read from the upstream's prompt cache since levity started, by account.",
    ["upstream", "account"],
  );
  /** Input and cached tokens per upstream and account, for the hit ratio. */
  private readonly cacheTotals = new Map<
    string,
    { upstream: string; account: string; input: number; cached: number }
  >();
  private readonly retries = new Counter(
    "levity_retries_total",
    "Upstream attempts beyond the first, by upstream and mapped model.",
    ["upstream", "model"],
  );
  private readonly cooldowns = new Counter(
    "levity_cooldowns_total",
    "Cooldowns and disables started since levity started, by account and reason.",
    ["upstream", "account", "reason"],
  );
  private readonly accounts = new Gauge(
    "levity_accounts",
    "Accounts by state (healthy, cooling, disabled).",
    ["upstream", "state"],
  );
  private readonly inFlight = new Gauge(
    "levity_requests_in_flight",
    "Requests being served now (streams until their last byte).",
    [],
  );
  private readonly info = new Gauge("levity_build_info", "levity's version.", ["version"]);
  private readonly uptime = new Gauge("levity_uptime_seconds", "Seconds since levity started.", []);
  private readonly memory = new Gauge(
    "process_resident_memory_bytes",
    "Resident memory of the levity process.",
    [],
  );

  constructor(version: string) {
    this.info.set([version], 1);
  }

  started(): void {
    this.inFlightNow++;
  }

  finished(record: RequestRecord | undefined): void {
    this.inFlightNow--;
    if (!record) return;
    const model = record.mappedModel ?? record.requestedModel ?? "";
    const upstream = record.upstream ?? "";
    const account = record.account ?? "";
    const dialect = record.dialect ?? "";
    // A scanner's random paths would each be a new series; they are one.
    const route = record.unmatched ? "unmatched" : record.route;
    const clientKey = record.clientKey ?? "-";
    const key = `${route}\u0000${dialect}\u0000${model}\u0000${upstream}\u0000${account}\u0000${record.status}\u0000${clientKey}`;
    let series = this.seriesByRequest.get(key);
    if (!series) {
      if (this.seriesByRequest.size >= MAX_SERIES) this.seriesByRequest.clear();
      series = {
        requests: this.requests.seriesFor([
          route,
          dialect,
          model,
          upstream,
          account,
          String(record.status),
        ]),
        latency: this.latency.seriesFor([route, dialect, model, upstream]),
        ttfb: this.ttfb.seriesFor([route, dialect, model, upstream]),
        tokens: { model, upstream, account },
        cost: undefined,
        keyTokens: {},
        clientKey,
      };
      this.seriesByRequest.set(key, series);
    }
    series.requests.value++;
    this.latency.record(series.latency, record.latencyMs / 1000);
    this.ttfb.record(series.ttfb, record.ttfbMs / 1000);
    // Token series appear with the first token of their kind, so a failed request adds none.
    // Methods, not a closure made per request: this runs for every request.
    this.addTokens(series, "input", record.inputTokens);
    this.addTokens(series, "output", record.outputTokens);
    this.addTokens(series, "cached", record.cachedTokens);
    this.addTokens(series, "cache_write", record.cacheWriteTokens);
    this.addTokens(series, "reasoning", record.reasoningTokens);
    if (record.costUsd !== undefined) {
      series.cost ??= this.cost.seriesFor([clientKey, model, upstream]);
      series.cost.value += record.costUsd;
    }
    if (record.attempts > 1) this.retries.inc([upstream, model], record.attempts - 1);
    if (record.inputTokens > 0) {
      const totalsKey = `${upstream}\u0000${account}`;
      let totals = this.cacheTotals.get(totalsKey);
      if (!totals) {
        if (this.cacheTotals.size >= MAX_SERIES) this.cacheTotals.clear();
        totals = { upstream, account, input: 0, cached: 0 };
        this.cacheTotals.set(totalsKey, totals);
      }
      totals.input += record.inputTokens;
      totals.cached += record.cachedTokens;
    }
  }

  private addTokens(series: RequestSeries, kind: TokenKind, count: number): void {
    if (count <= 0) return;
    const t = series.tokens;
    t[kind] ??= this.tokens.seriesFor([t.model, t.upstream, t.account, kind]);
    t[kind].value += count;
    if (kind === "cache_write") return;
    const own = series.keyTokens;
    own[kind] ??= this.keyTokens.seriesFor([series.clientKey, kind]);
    own[kind].value += count;
  }

  /** The series one kind of request updates, found once per label set rather than once per request. */
  private readonly seriesByRequest = new Map<string, RequestSeries>();

  /** In-flight requests right now. */
  get current(): number {
    return this.inFlightNow;
  }

  render(accounts: AccountView[], cooldowns: CooldownCount[]): string {
    // The scrape itself is in flight; it is not one of the requests being served.
    this.inFlight.set([], Math.max(0, this.inFlightNow - 1));
    this.uptime.set([], Math.round((Date.now() - this.startedAt) / 1000));
    this.memory.set([], process.memoryUsage().rss);
    this.accounts.clear();
    const states = ["healthy", "cooling", "disabled"] as const;
    for (const upstream of new Set(accounts.map((a) => a.upstream)))
      for (const state of states) this.accounts.set([upstream, state], 0);
    for (const account of accounts) this.accounts.add([account.upstream, account.state], 1);
    for (const c of cooldowns) this.cooldowns.report([c.upstream, c.account, c.reason], c.count);
    for (const t of this.cacheTotals.values())
      this.cacheHitRatio.set([t.upstream, t.account], t.cached / t.input);
    return [
      this.requests,
      this.latency,
      this.ttfb,
      this.tokens,
      this.cost,
      this.keyTokens,
      this.cacheHitRatio,
      this.retries,
      this.cooldowns,
      this.accounts,
      this.inFlight,
      this.info,
      this.uptime,
      this.memory,
    ]
      .map((metric) => metric.render())
      .join("");
  }
}
