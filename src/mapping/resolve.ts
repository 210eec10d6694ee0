import type { MappingTable, Target, WildcardRule } from "./table.ts";

export type RuleKind = "exact" | "wildcard" | "default" | "unmapped";

export interface Resolution {
  /** The targets in the order they are tried; the first is the usual one, the rest are fallbacks. */
  targets: Target[];
  rule: { kind: RuleKind; pattern?: string; file?: string; line?: number };
}

/** exact > most specific wildcard > default > the requested name unchanged on the first upstream. */
export function resolveModel(
  table: MappingTable,
  requested: string,
  firstUpstream: string,
): Resolution {
  const exact = table.exact.get(requested);
  if (exact)
    return {
      targets: exact.targets,
      rule: { kind: "exact", pattern: exact.name, file: table.file, line: exact.line },
    };
  const wildcard = matchingWildcard(table, requested);
  if (wildcard) {
    return {
      targets: wildcard.targets,
      rule: {
        kind: "wildcard",
        pattern: wildcard.pattern,
        file: table.file,
        line: wildcard.line,
      },
    };
  }
  if (table.fallback) {
    return {
      targets: table.fallback.targets,
      rule: { kind: "default", file: table.file, line: table.fallback.line },
    };
  }
  return { targets: [{ upstream: firstUpstream, model: requested }], rule: { kind: "unmapped" } };
}

/**
 * resolveModel's targets alone, in the same order of rules, for the request path: without the
 * resolution and rule objects it would make for every request only to be dropped.
 */
export function resolveTargets(
  table: MappingTable,
  requested: string,
  firstUpstream: string,
): Target[] {
  return (
    table.exact.get(requested)?.targets ??
    matchingWildcard(table, requested)?.targets ??
    table.fallback?.targets ?? [{ upstream: firstUpstream, model: requested }]
  );
}

/** The first wildcard that matches: the table keeps them most specific first. */
function matchingWildcard(table: MappingTable, requested: string): WildcardRule | undefined {
  for (const wildcard of table.wildcards) if (wildcard.matches(requested)) return wildcard;
  return undefined;
}

export function describeResolution(requested: string, resolution: Resolution): string {
  const { targets, rule } = resolution;
  const where = rule.line === undefined ? (rule.file ?? "") : `${rule.file}:${rule.line}`;
  const to = targets.map((target) => `${target.upstream}/${target.model}`).join(", then ");
  switch (rule.kind) {
    case "exact":
      return `${requested} -> ${to}  (exact rule, ${where})`;
    case "wildcard":
      return `${requested} -> ${to}  (wildcard "${rule.pattern}", ${where})`;
    case "default":
      return `${requested} -> ${to}  (default, ${where})`;
    case "unmapped":
      return `${requested} -> ${to}  (no rule matched and no default: sent unchanged to the first upstream)`;
  }
}
