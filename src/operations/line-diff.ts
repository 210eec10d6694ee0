/*
 * A line diff for people: what `levity replay --diff` shows between the upstream request levity
 * sent (or would send) first and the one it sends now. Requests are pretty-printed JSON, mostly
 * the same: the common head and tail are set aside first, and only the middle is compared line
 * by line (longest common subsequence), so the usual diff costs little whatever the body's size.
 */

export type DiffLine = { op: " " | "-" | "+"; text: string };

/** Past this many line pairs in the changed middle, the middle is shown as removed then added. */
const MAX_PAIRS = 4_000_000;

export function diffLines(before: string[], after: string[]): DiffLine[] {
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head++;
  let tail = 0;
  while (
    tail < before.length - head &&
    tail < after.length - head &&
    before[before.length - 1 - tail] === after[after.length - 1 - tail]
  )
    tail++;
  const a = before.slice(head, before.length - tail);
  const b = after.slice(head, after.length - tail);
  const same = (lines: string[]): DiffLine[] => lines.map((text) => ({ op: " ", text }));
  return [
    ...same(before.slice(0, head)),
    ...middle(a, b),
    ...same(before.slice(before.length - tail)),
  ];
}

function middle(a: string[], b: string[]): DiffLine[] {
  if (a.length * b.length > MAX_PAIRS)
    return [
      ...a.map((text): DiffLine => ({ op: "-", text })),
      ...b.map((text): DiffLine => ({ op: "+", text })),
    ];
  // lengths[i][j]: the longest common subsequence of a[i..] and b[j..].
  const width = b.length + 1;
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lengths[i * width + j] =
        a[i] === b[j]
          ? lengths[(i + 1) * width + j + 1]! + 1
          : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ op: " ", text: a[i]! });
      i++;
      j++;
    } else if (lengths[(i + 1) * width + j]! >= lengths[i * width + j + 1]!)
      out.push({ op: "-", text: a[i++]! });
    else out.push({ op: "+", text: b[j++]! });
  }
  while (i < a.length) out.push({ op: "-", text: a[i++]! });
  while (j < b.length) out.push({ op: "+", text: b[j++]! });
  return out;
}

/**
 * The diff as text: each line marked "- ", "+ " or "  ", unchanged runs longer than twice the
 * context folded into one "  … N unchanged lines" line. No change at all says so.
 */
export function formatDiff(lines: DiffLine[], context = 3): string {
  if (lines.every((line) => line.op === " "))
    return `  (no difference: ${lines.length} lines the same)\n`;
  const near = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.op === " ") return;
    for (let k = Math.max(0, index - context); k <= index + context && k < lines.length; k++)
      near[k] = true;
  });
  let out = "";
  let folded = 0;
  const flush = () => {
    if (folded > 0) out += `  … ${folded} unchanged line${folded === 1 ? "" : "s"}\n`;
    folded = 0;
  };
  lines.forEach((line, index) => {
    if (!near[index]) {
      folded++;
      return;
    }
    flush();
    out += `${line.op} ${line.text}\n`;
  });
  flush();
  return out;
}
