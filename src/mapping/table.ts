import picomatch from "picomatch";
import type { LimitsOverride, Modality } from "./model-limits.ts";
import { literalCount } from "./specificity.ts";

export interface Target {
  upstream: string;
  model: string;
  /** What mappings.yaml says of this model's limits, over the built-in table's. */
  limits?: LimitsOverride;
}

/** A target as mappings.yaml writes it: `UPSTREAM/MODEL`, or that with the model's limits. */
export type TargetSource =
  | string
  | { target: string; context_window?: number; max_output?: number; modalities?: Modality[] };

export interface ExactRule {
  name: string;
  /** Tried in order: the next serves when every account of the one before is exhausted. */
  targets: Target[];
  line?: number;
}

export interface WildcardRule {
  pattern: string;
  targets: Target[];
  line?: number;
  literals: number;
  matches: (model: string) => boolean;
}

export interface MappingTable {
  /** Where the rules came from, for messages (`mappings.yaml` or `built-in mappings.yaml`). */
  file: string;
  exact: Map<string, ExactRule>;
  /** Sorted most specific first; equal specificity keeps file order. */
  wildcards: WildcardRule[];
  fallback?: { targets: Target[]; line?: number };
}

export interface RuleSource {
  key: string;
  target: TargetSource | TargetSource[];
  line?: number;
}

export function parseTarget(source: TargetSource): Target {
  const text = typeof source === "string" ? source : source.target;
  const slash = text.indexOf("/");
  const target: Target = { upstream: text.slice(0, slash), model: text.slice(slash + 1) };
  if (typeof source === "string") return target;
  const limits: LimitsOverride = {
    contextWindow: source.context_window,
    maxOutput: source.max_output,
    modalities: source.modalities,
  };
  return { ...target, limits };
}

export function parseTargets(value: TargetSource | TargetSource[]): Target[] {
  return (Array.isArray(value) ? value : [value]).map(parseTarget);
}

export function compileMappings(
  file: string,
  exact: RuleSource[],
  wildcard: RuleSource[],
  fallback: { target: TargetSource | TargetSource[]; line?: number } | undefined,
): MappingTable {
  const wildcards = wildcard
    .map((rule, order) => ({
      order,
      rule: {
        pattern: rule.key,
        targets: parseTargets(rule.target),
        line: rule.line,
        literals: literalCount(rule.key),
        matches: picomatch(rule.key, { dot: true }),
      },
    }))
    .sort((a, b) => b.rule.literals - a.rule.literals || a.order - b.order)
    .map(({ rule }) => rule);
  return {
    file,
    exact: new Map(
      exact.map((rule) => [
        rule.key,
        { name: rule.key, targets: parseTargets(rule.target), line: rule.line },
      ]),
    ),
    wildcards,
    fallback: fallback && { targets: parseTargets(fallback.target), line: fallback.line },
  };
}
