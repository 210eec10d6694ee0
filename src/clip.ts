/**
 * A text from elsewhere (an upstream's error message) cut to `max` characters for a sentence of
 * levity's own: at the last space within its final fifth when there is one, so that no word is
 * left half-written, and marked with "…" so that the cut is not read as the upstream's words.
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(" ", max - 1);
  const end = cut >= max * 0.8 ? cut : max - 1;
  return `${text.slice(0, end).trimEnd()}…`;
}
