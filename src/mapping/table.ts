import picomatch from "picomatch";
import { literalCount } from "./specificity.ts";

export interface Target {
  upstream: string;
  model: string;
}

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
  target: string | string[];
  line?: number;
}

export function parseTarget(text: string): Target {
  const slash = text.indexOf("/");
  return { upstream: text.slice(0, slash), model: text.slice(slash + 1) };
}

export function parseTargets(value: string | string[]): Target[] {
  return (Array.isArray(value) ? value : [value]).map(parseTarget);
}

export function compileMappings(
  file: string,
  exact: RuleSource[],
  wildcard: RuleSource[],
  fallback: { target: string | string[]; line?: number } | undefined,
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
