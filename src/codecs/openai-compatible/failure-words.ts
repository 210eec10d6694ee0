/** A 400 that names the key as invalid (OpenAI says 401 invalid_api_key; some compatible servers say it with 400). */
export function openaiRejectsKey(status: number, body: string): boolean {
  return status === 400 && /invalid[ _-]?api[ _-]?key/i.test(body);
}

/** OpenAI says a spent balance with a 429 whose code is insufficient_quota, not with 402. */
export function openaiOutOfCredit(status: number, body: string): boolean {
  return status === 429 && /insufficient_quota|exceeded your current quota/i.test(body);
}

/**
 * OpenAI refuses encrypted reasoning another organisation made with a 400 invalid_encrypted_content:
 * "The encrypted content gAAA...DQ== could not be verified."
 */
export function openaiRefusesSignature(status: number, body: string): boolean {
  return (
    status === 400 &&
    /invalid_encrypted_content|encrypted content .{0,200}could not be verified/i.test(body)
  );
}
