/*
 * A request's tokens, guessed from its body before it is sent, for a key's token limits: the
 * upstream's own count replaces the guess when the answer ends. About four characters of English
 * or code to a token, one token for any other character; a long run of base64 (an image, a file)
 * counts as what a model is charged for one picture, not as its length.
 */

const BASE64_RUN = 256;
/** What a run of base64 is counted as: about what the providers charge for one image. */
const BASE64_RUN_TOKENS = 1_000;

export function estimateBodyTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  let run = 0;
  let runs = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const base64 =
      (code >= 48 && code <= 57) ||
      (code >= 65 && code <= 90) ||
      (code >= 97 && code <= 122) ||
      code === 43 ||
      code === 47;
    if (base64) {
      run++;
      if (run === BASE64_RUN) {
        runs++;
        // The run's characters so far are taken back out of the count: the run is counted whole.
        ascii -= BASE64_RUN - 1;
        continue;
      }
      if (run > BASE64_RUN) continue;
    } else run = 0;
    if (code < 0x80) ascii++;
    else other++;
  }
  return Math.ceil(ascii / 4) + other + runs * BASE64_RUN_TOKENS;
}
