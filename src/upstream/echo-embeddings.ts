import type { EmbedInput, Vector } from "../codecs/embedding.ts";

/*
 * Echo's embeddings: a vector made from the input's own characters (FNV-1a seeding xorshift),
 * scaled to length 1, so the same text always gives the same vector and different texts differ.
 * Enough to try a client's indexing with no account; it means nothing about the text.
 */

/** Echo's vector size when the request names none (small: it carries no meaning). */
export const ECHO_DIMENSIONS = 8;

function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0 || 1;
}

export function echoVector(input: EmbedInput): Vector {
  const size = input.dimensions ?? ECHO_DIMENSIONS;
  let state = seedOf(input.tokens ? input.tokens.join(" ") : (input.text ?? ""));
  const values = new Array<number>(size);
  let norm = 0;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    values[i] = state / 0xffffffff - 0.5;
    norm += values[i]! * values[i]!;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  // Rounded to float32, as every provider's vectors are: float and base64 answers then agree.
  return values.map((v) => Math.fround(v * scale));
}
