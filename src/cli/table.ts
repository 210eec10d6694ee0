/**
 * Rows as aligned columns, two spaces apart, no trailing space: the tables of `levity routes`,
 * `accounts`, `keys` and `usage`. Columns named in `rightAligned` (numbers) are padded on the left.
 */
export function tableLines(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number> = new Set(),
): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) =>
    row
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}
