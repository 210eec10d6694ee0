/** Anthropic says a spent balance with 402 billing_error; the status alone says it. */
export function anthropicOutOfCredit(status: number): boolean {
  return status === 402;
}
