import type { UpstreamCodec } from "../codecs/codec.ts";
import { FAMILY_LIST } from "../codecs/families.ts";
import { classifyStatus, type Failure, type FailureWords } from "../failure.ts";
import { cooldownHint } from "./cooldown-hint.ts";

/*
 * The one place an upstream's error answer becomes a Failure, for both runners and every
 * operation: its status, the dialect's words for a refused key or a spent balance, the message in
 * its error body, and how long it asked to be left alone. The account's key is cleared later, in
 * one place too: serveWithPool, where every failure of an attempt passes.
 */

/**
 * Every family's words: the status does not say which family answered, and relays pass on other
 * vendors' words (an OpenAI-compatible proxy in front of Gemini says API_KEY_INVALID).
 */
const ANY_FAMILY_WORDS: Readonly<FailureWords> = {
  rejectsKey: (status, body) => FAMILY_LIST.some((family) => family.rejectsKey(status, body)),
  outOfCredit: (status, body) => FAMILY_LIST.some((family) => family.outOfCredit(status, body)),
};

/**
 * Whether an upstream's error says the prompt is over the model's window, in any family's words
 * (a relay passes on another vendor's), with the numbers it names.
 */
export function readTooLong(
  status: number,
  text: string,
): { tokens?: number; limit?: number } | undefined {
  for (const family of FAMILY_LIST) {
    const found = family.contextTooLong.read(status, text);
    if (found) return found;
  }
  return undefined;
}

function tooLongOf(status: number, text: string): Pick<Failure, "tooLong"> {
  const tooLong = readTooLong(status, text);
  return tooLong ? { tooLong } : {};
}

export function failureFromAnswer(
  codec: Pick<UpstreamCodec, "parseError">,
  status: number,
  headers: Headers,
  body: string,
  words: FailureWords = ANY_FAMILY_WORDS,
): Failure {
  const parsed = codec.parseError(body);
  const failure: Failure = {
    kind: classifyStatus(status, body, words),
    status,
    message: parsed.message,
    hintMs: cooldownHint(headers, parsed.retryAfter),
    upstream: { body, headers },
    ...tooLongOf(status, body),
    ...signatureRefusedOf(status, body),
  };
  return failure;
}

/** Any family's words: a relay passes on another vendor's refusal. */
function signatureRefusedOf(status: number, text: string): Pick<Failure, "signatureRefused"> {
  return FAMILY_LIST.some((family) => family.refusesSignature(status, text))
    ? { signatureRefused: true }
    : {};
}

/** An error event inside a stream, or an error object inside a 200 answer: no headers, no body of its own. */
export function failureFromEvent(
  status: number,
  message: string,
  words: FailureWords = ANY_FAMILY_WORDS,
): Failure {
  return {
    kind: classifyStatus(status, message, words),
    status,
    message,
    ...tooLongOf(status, message),
    // A relay that reports errors inside a 200, or a stream's error event before any content.
    ...signatureRefusedOf(status, message),
  };
}
