/**
 * A text from elsewhere (an upstream's error message) cut to `max` characters for a sentence of
 * levity's own: at the last space within its final fifth when there is one, so that no word is
 * left half-written, and marked with "…" so that the cut is not read as the upstream's words.
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(" ", max - 1);
  let end = cut >= max * 0.8 ? cut : max - 1;
  // Not between the two halves of a character outside the BMP (an emoji).
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end).trimEnd()}…`;
}
