/**
 * Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`.
 * For state another process writes on its own schedule (the request log's batches), where there
 * is no event to wait on; the condition, not the interval, is what the test relies on.
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  /** How often to look: longer where a condition must hold across a pause (a writer that stopped). */
  everyMs = 5,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
