// @ts-expect-error: the parser ships no types; its output shape is declared below.
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One family as the independent parser reads it (prom2json's shape). */
export interface MetricFamily {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

export function parseMetrics(text: string): Map<string, MetricFamily> {
  const families = parsePrometheusTextFormat(text) as MetricFamily[];
  return new Map(families.map((family) => [family.name, family]));
}

/** The value of the one series of `family` whose labels include `labels`, summed over the matches. */
export function sample(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name);
  if (!family) throw new Error(`no metric ${name}`);
  return family.metrics
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((total, m) => total + Number(m.value ?? m.count ?? 0), 0);
}

/**
 * A histogram's series whose label text contains `labelText` (e.g. `model="gpt-4o-real"`). The
 * parser above reads histograms only without labels, so these lines are read here; the parser has
 * still checked the whole document's syntax.
 */
export function histogramSeries(
  text: string,
  name: string,
  labelText: string,
): { count: number; sum: number; buckets: Map<string, number> } {
  const lines = text
    .split("\n")
    .filter((line) => line.startsWith(`${name}_`) && line.includes(labelText));
  const value = (suffix: string) =>
    Number(
      lines
        .find((line) => line.startsWith(`${name}_${suffix}{`))
        ?.split(" ")
        .at(-1),
    );
  const buckets = new Map<string, number>();
  for (const line of lines.filter((l) => l.startsWith(`${name}_bucket{`)))
    buckets.set(/le="([^"]+)"/.exec(line)![1]!, Number(line.split(" ").at(-1)));
  return { count: value("count"), sum: value("sum"), buckets };
}
