import picomatch from "picomatch";
import {
  type LimitsOverride,
  type Modality,
  type ModelLimits,
  modelLimits,
} from "./model-limits.ts";
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
  /**
   * Each of the table's targets' limits (modelLimits), found once per table: looking a model up
   * in the built-in table tests its patterns, a few dozen for some names, for every request.
   */
  limits: ReadonlyMap<Target, ModelLimits | undefined>;
}

/** A target's limits: the table's, found when it was compiled, or found now for one it does not hold. */
export function limitsOf(table: MappingTable, target: Target): ModelLimits | undefined {
  const known = table.limits.get(target);
  return known !== undefined || table.limits.has(target)
    ? known
    : modelLimits(target.model, target.limits);
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
  const exactRules = new Map(
    exact.map((rule) => [
      rule.key,
      { name: rule.key, targets: parseTargets(rule.target), line: rule.line },
    ]),
  );
  const fallbackRule = fallback && { targets: parseTargets(fallback.target), line: fallback.line };
  const limits = new Map<Target, ModelLimits | undefined>();
  for (const rule of [
    ...exactRules.values(),
    ...wildcards,
    ...(fallbackRule ? [fallbackRule] : []),
  ])
    for (const target of rule.targets) limits.set(target, modelLimits(target.model, target.limits));
  return { file, exact: exactRules, wildcards, fallback: fallbackRule, limits };
}
