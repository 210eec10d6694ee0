/** The numbers a pattern's groups capture in a text (for the families' too-long words), or undefined when it does not match. */
export function numbersIn(text: string, pattern: RegExp): number[] | undefined {
  const match = pattern.exec(text);
  return match ? match.slice(1).map(Number) : undefined;
}
