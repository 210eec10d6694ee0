/** Gemini answers a bad key with 400 API_KEY_INVALID, not 401. */
export function geminiRejectsKey(status: number, body: string): boolean {
  return status === 400 && /API_KEY_INVALID|API key not valid/i.test(body);
}

/**
 * Gemini refuses a thought signature it cannot verify ("Corrupted thought signature.", Vertex's
 * "Thought signature is not valid") and a function call of the current turn without one
 * ("Function call is missing a thought_signature in functionCall parts"), each with a 400.
 */
export function geminiRefusesSignature(status: number, body: string): boolean {
  return (
    status === 400 &&
    /Corrupted thought signature|Thought signature is not valid|missing a thought_signature/i.test(
      body,
    )
  );
}
