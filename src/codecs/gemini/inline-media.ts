import { GatewayError } from "../../http/errors.ts";
import type { MediaPart } from "../../ir.ts";

/*
 * Gemini reads media inline or from its own file store, never from an arbitrary URL, so a URL a
 * client sends is fetched here and inlined, within a size cap.
 */

/** Gemini's own limit for a request's inline data. */
export const INLINE_MEDIA_CAP_BYTES = 20 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

const BY_EXTENSION: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", pdf: "application/pdf", heic: "image/heic" };

/** Google storage and Gemini file URIs are passed by reference; anything else must be fetched. */
export function isGoogleFileUri(url: string): boolean {
  return url.startsWith("gs://") || /^https:\/\/generativelanguage\.googleapis\.com\/[^?]*\/files\//.test(url);
}

export function guessMediaType(url: string): string {
  const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  return (extension && BY_EXTENSION[extension]) || "application/octet-stream";
}

export async function fetchInline(url: string, capBytes = INLINE_MEDIA_CAP_BYTES): Promise<{ mediaType: string; data: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayError(400, `The image URL ${JSON.stringify(url.slice(0, 100))} is not a URL.`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new GatewayError(400, `Only http(s) image URLs can be fetched for Gemini, not ${parsed.protocol}`);
  let response: Response;
  try {
    response = await fetch(parsed, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "follow" });
  } catch (error) {
    throw new GatewayError(400, `Could not fetch the image at ${parsed.origin}${parsed.pathname} to send it to Gemini: ${(error as Error).message}`);
  }
  if (!response.ok || !response.body) throw new GatewayError(400, `Fetching the image at ${parsed.origin}${parsed.pathname} for Gemini failed with HTTP ${response.status}.`);
  const tooLarge = () => new GatewayError(413, `The image at ${parsed.origin}${parsed.pathname} is larger than ${capBytes / 1024 / 1024} MB, the most that can be sent inline to Gemini.`);
  if (Number(response.headers.get("content-length")) > capBytes) {
    await response.body.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > capBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const mediaType = response.headers.get("content-type")?.split(";")[0]?.trim() || guessMediaType(url);
  return { mediaType, data: Buffer.concat(chunks).toString("base64") };
}

/** A media part as Gemini takes it: inline data, a file reference, or fetched and inlined. */
export async function geminiMedia(part: MediaPart): Promise<unknown> {
  const source = part.source;
  if (source.kind === "base64") return { inlineData: { mimeType: source.mediaType, data: source.data } };
  if (isGoogleFileUri(source.url)) return { fileData: { mimeType: source.mediaType ?? guessMediaType(source.url), fileUri: source.url } };
  const fetched = await fetchInline(source.url);
  return { inlineData: { mimeType: fetched.mediaType, data: fetched.data } };
}
