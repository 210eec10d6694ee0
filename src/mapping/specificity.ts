/**
 * How many characters of a glob must appear literally in a matching name. The most specific
 * wildcard wins, so `claude-sonnet-*` beats `claude-*` beats `*`.
 *
 * `*`, `**` and `?` count nothing; a bracket class `[abc]` counts one (it stands for exactly one
 * character); a brace set `{a,bc}` counts its shortest alternative; a backslash escape counts the
 * character it escapes.
 */
export function literalCount(pattern: string): number {
  let count = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*" || ch === "?") continue;
    if (ch === "\\") {
      i++;
      count++;
      continue;
    }
    if (ch === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close > i) {
        count++;
        i = close;
        continue;
      }
    }
    if (ch === "{") {
      const close = matchingBrace(pattern, i);
      if (close > i) {
        const alternatives = splitTopLevel(pattern.slice(i + 1, close));
        count += Math.min(...alternatives.map(literalCount));
        i = close;
        continue;
      }
    }
    count++;
  }
  return count;
}

function matchingBrace(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "{") depth++;
    else if (pattern[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "\\") i++;
    else if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}
