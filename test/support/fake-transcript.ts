import { createHash } from "node:crypto";

/*
 * What the fake upstreams "hear" in an audio file: its length and digest, so a test can tell the
 * bytes arrived whole and unchanged, and the language the request named, so it can tell that did.
 */
export function transcriptOf(audio: Uint8Array, language?: string): string {
  const digest = createHash("sha256").update(audio).digest("hex").slice(0, 16);
  return `heard ${audio.byteLength} bytes sha256 ${digest}${language ? ` in ${language}` : ""}`;
}
