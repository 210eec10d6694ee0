/** Anthropic says a spent balance with 402 billing_error; the status alone says it. */
export function anthropicOutOfCredit(status: number): boolean {
  return status === 402;
}

/**
 * Anthropic refuses thinking it did not sign, or signed for another model or key, with a 400:
 * "messages.1.content.0: Invalid `signature` in `thinking` block".
 */
export function anthropicRefusesSignature(status: number, body: string): boolean {
  return (
    status === 400 && /Invalid `(?:signature|data)` in `(?:redacted_)?thinking` block/.test(body)
  );
}
