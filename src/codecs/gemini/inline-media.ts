import type { MediaPart } from "../../ir.ts";

/*
 * Gemini reads media inline or from its own file store, never from an arbitrary URL, so a URL a
 * client sends is fetched and inlined. The fetch is network I/O and a security boundary, so it is
 * not done here: the caller passes it in (upstream/media-fetch.ts), and this module only decides
 * which parts need it and how Gemini takes each.
 */

/** A fetched item as Gemini's inlineData holds it. */
export interface InlineMedia {
  mediaType: string;
  /** base64 */
  data: string;
}

/** Fetches each URL (each distinct one once), or throws the error the client should see. */
export type FetchMedia = (urls: readonly string[]) => Promise<ReadonlyMap<string, InlineMedia>>;

/** Gemini's own limit for a request's inline data, and so for any one item. */
export const INLINE_MEDIA_CAP_BYTES = 20 * 1024 * 1024;

const BY_EXTENSION: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  pdf: "application/pdf",
  heic: "image/heic",
  heif: "image/heif",
};

/** Google storage and Gemini file URIs are passed by reference; anything else must be fetched. */
export function isGoogleFileUri(url: string): boolean {
  return (
    url.startsWith("gs://") ||
    /^https:\/\/generativelanguage\.googleapis\.com\/[^?]*\/files\//.test(url)
  );
}

export function guessMediaType(url: string): string {
  const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  return (extension && BY_EXTENSION[extension]) || "application/octet-stream";
}

/** The media parts among `parts` as Gemini takes them: inline data, a file reference, or fetched and inlined. */
export async function geminiMediaParts(
  parts: readonly MediaPart[],
  fetchMedia: FetchMedia | undefined,
): Promise<Map<MediaPart, unknown>> {
  const toFetch = parts.flatMap((part) =>
    part.source.kind === "url" && !isGoogleFileUri(part.source.url) ? [part.source.url] : [],
  );
  let fetched: ReadonlyMap<string, InlineMedia> = new Map();
  if (toFetch.length > 0) {
    if (!fetchMedia) throw new Error("a Gemini request with media URLs needs a media fetcher");
    fetched = await fetchMedia(toFetch);
  }
  return new Map(
    parts.map((part): [MediaPart, unknown] => {
      const source = part.source;
      if (source.kind === "base64")
        return [part, { inlineData: { mimeType: source.mediaType, data: source.data } }];
      if (isGoogleFileUri(source.url))
        return [
          part,
          {
            fileData: {
              mimeType: source.mediaType ?? guessMediaType(source.url),
              fileUri: source.url,
            },
          },
        ];
      const item = fetched.get(source.url)!;
      return [part, { inlineData: { mimeType: item.mediaType, data: item.data } }];
    }),
  );
}
