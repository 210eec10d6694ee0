import type { Failure } from "./failure.ts";

/*
 * Upstreams sometimes quote the key they refused ("Incorrect API key provided: sk-..."). Whatever
 * levity repeats of an upstream's words (logs, client errors, the accounts view) says where the
 * key was, never the key. Shorter keys ("ollama", "none") are placeholders, not secrets, and
 * replacing them would mangle ordinary words.
 */
const SHORTEST_SECRET = 8;
const PLACEHOLDER = "[account key]";

export function scrubKey(text: string, key: string): string {
  if (key.length < SHORTEST_SECRET || !text.includes(key)) return text;
  return text.split(key).join(PLACEHOLDER);
}

export function scrubFailure(failure: Failure, key: string): Failure {
  const upstream = failure.upstream && {
    ...failure.upstream,
    body: scrubKey(failure.upstream.body, key),
  };
  return { ...failure, message: scrubKey(failure.message, key), ...(upstream ? { upstream } : {}) };
}
