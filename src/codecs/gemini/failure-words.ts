/** Gemini answers a bad key with 400 API_KEY_INVALID, not 401. */
export function geminiRejectsKey(status: number, body: string): boolean {
  return status === 400 && /API_KEY_INVALID|API key not valid/i.test(body);
}
