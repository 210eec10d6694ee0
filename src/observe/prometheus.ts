/*
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (0.0.4). Hand-written because the few metrics levity keeps do not justify a
 * dependency, and because label values come partly from clients (model names): each metric keeps
 * at most MAX_SERIES label sets, and folds any further ones into one "other" series, so a client
 * cycling through model names cannot grow the gateway's memory.
 */

export const MAX_SERIES = 2000;
const OTHER = "other";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

abstract class Metric<S> {
  protected readonly series = new Map<string, { labels: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  protected abstract fresh(): S;
  abstract readonly type: string;

  /** The series for these label values, to update directly where one request touches it many times. */
  seriesFor(values: readonly string[]): S {
    return this.at(values);
  }

  protected at(values: readonly string[]): S {
    let key = values.join("\u0000");
    let entry = this.series.get(key);
    if (!entry) {
      let labels = [...values];
      if (this.series.size >= MAX_SERIES) {
        labels = labels.map(() => OTHER);
        key = labels.join("\u0000");
        entry = this.series.get(key);
      }
      if (!entry) {
        entry = { labels, state: this.fresh() };
        this.series.set(key, entry);
      }
    }
    return entry.state;
  }

  protected labelText(labels: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((name, i) => `${name}="${escapeLabel(labels[i] ?? "")}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return pairs.length ? `{${pairs.join(",")}}` : "";
  }

  render(): string {
    let text = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { labels, state } of this.series.values()) text += this.renderSeries(labels, state);
    return text;
  }

  protected abstract renderSeries(labels: string[], state: S): string;
}

export class Counter extends Metric<{ value: number }> {
  readonly type = "counter";
  protected fresh() {
    return { value: 0 };
  }
  inc(labels: readonly string[], by = 1): void {
    this.at(labels).value += by;
  }
  /** For a count kept elsewhere (the pool's cooldowns): report its current total. */
  report(labels: readonly string[], total: number): void {
    this.at(labels).value = total;
  }
  protected renderSeries(labels: string[], state: { value: number }): string {
    return `${this.name}${this.labelText(labels)} ${formatValue(state.value)}\n`;
  }
}

export class Gauge extends Metric<{ value: number }> {
  readonly type = "gauge";
  protected fresh() {
    return { value: 0 };
  }
  set(labels: readonly string[], value: number): void {
    this.at(labels).value = value;
  }
  add(labels: readonly string[], by: number): void {
    this.at(labels).value += by;
  }
  /** For gauges computed at scrape time: forget the label sets of the last scrape. */
  clear(): void {
    this.series.clear();
  }
  protected renderSeries(labels: string[], state: { value: number }): string {
    return `${this.name}${this.labelText(labels)} ${formatValue(state.value)}\n`;
  }
}

export interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric<HistogramState> {
  readonly type = "histogram";
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    /** Upper bounds, ascending; +Inf is implied. */
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  protected fresh(): HistogramState {
    return { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
  }
  observe(labels: readonly string[], value: number): void {
    this.record(this.at(labels), value);
  }
  /** Counts per bucket are kept apart and summed when rendered, so an observation touches one. */
  record(state: HistogramState, value: number): void {
    state.sum += value;
    state.count++;
    // A loop rather than findIndex: a closure per observation, twice a request, added up.
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++)
      if (value <= buckets[i]!) {
        state.counts[i]!++;
        return;
      }
  }
  protected renderSeries(labels: string[], state: HistogramState): string {
    let text = "";
    let cumulative = 0;
    this.buckets.forEach((bound, i) => {
      cumulative += state.counts[i]!;
      text += `${this.name}_bucket${this.labelText(labels, ["le", formatValue(bound)])} ${cumulative}\n`;
    });
    text += `${this.name}_bucket${this.labelText(labels, ["le", "+Inf"])} ${state.count}\n`;
    text += `${this.name}_sum${this.labelText(labels)} ${formatValue(state.sum)}\n`;
    text += `${this.name}_count${this.labelText(labels)} ${state.count}\n`;
    return text;
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
