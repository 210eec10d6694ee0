import type { UpstreamCodec } from "../codecs/shared.ts";
import { classifyStatus, type Failure, type FailureWords } from "../failure.ts";
import { cooldownHint } from "../pool/hints.ts";

/*
 * The one place an upstream's error answer becomes a Failure, for both runners and every
 * operation: its status, the dialect's words for a refused key or a spent balance, the message in
 * its error body, and how long it asked to be left alone. The account's key is scrubbed later, in
 * one place too: serveWithPool, where every failure of an attempt passes.
 */

/** Until each dialect says its own words: every dialect's, as levity has always read them. */
export const ANY_DIALECT_WORDS: Readonly<FailureWords> = {
  keyRejected: /API_KEY_INVALID|API key not valid|invalid[ _-]?api[ _-]?key/i,
  outOfCredit: /insufficient_quota|exceeded your current quota/i,
};

export function failureFromAnswer(
  codec: Pick<UpstreamCodec, "parseError">,
  status: number,
  headers: Headers,
  body: string,
  words: FailureWords = ANY_DIALECT_WORDS,
): Failure {
  const parsed = codec.parseError(body);
  return {
    kind: classifyStatus(status, body, words),
    status,
    message: parsed.message,
    hintMs: cooldownHint(headers, parsed.retryAfter),
    upstream: { body, headers },
  };
}

/** An error event inside a stream, or an error object inside a 200 answer: no headers, no body of its own. */
export function failureFromEvent(
  status: number,
  message: string,
  words: FailureWords = ANY_DIALECT_WORDS,
): Failure {
  return { kind: classifyStatus(status, message, words), status, message };
}
