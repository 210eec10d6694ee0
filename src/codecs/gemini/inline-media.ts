import type { MediaFetchSettings } from "../../config/snapshot.ts";
import { GatewayError } from "../../http/errors.ts";
import type { MediaPart } from "../../ir.ts";
import { AddressAllowList } from "../../upstream/address-policy.ts";
import {
  safeFetch,
  systemResolver,
  type ByteBudget,
  type Resolver,
} from "../../upstream/safe-fetch.ts";

/*
 * Gemini reads media inline or from its own file store, never from an arbitrary URL, so a URL a
 * client sends is fetched here and inlined. The client chose the URL, so the fetch goes only
 * where safe-fetch.ts allows (public addresses, and the operator's allow-list), within a count and
 * a byte budget per request, and every way it can fail reads the same to the client: an answer
 * that told "refused" from "unreachable" from "timed out" would make levity a port scanner.
 */

/** Gemini's own limit for a request's inline data, and so for any one item. */
export const INLINE_MEDIA_CAP_BYTES = 20 * 1024 * 1024;
const MAX_REDIRECTS = 3;

/** proxy.media_fetch's defaults, for a target built without a configuration. */
export const DEFAULT_MEDIA_FETCH: MediaFetchSettings = {
  allow: [],
  maxUrls: 8,
  maxTotalBytes: 20 * 1024 * 1024,
  timeoutMs: 15_000,
};

const BY_EXTENSION: Record<string, string> = {
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

/** An image or a PDF, by its Content-Type or, when that says nothing, by its name; anything else is not read. */
function acceptedMediaType(headers: Headers, url: URL): string | undefined {
  const declared = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  const type =
    !declared || declared === "application/octet-stream" ? guessMediaType(url.pathname) : declared;
  return type.startsWith("image/") || type === "application/pdf" ? type : undefined;
}

/** The one answer for a URL levity did not use, whatever the reason. */
function notUsable(url: string): GatewayError {
  const shown = JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url);
  return new GatewayError(
    400,
    `levity could not use the image at ${shown} (an address it may not fetch, unreachable, or not an image within the limits).`,
  );
}

// The allow-list is parsed once per configuration, not per request.
const allowLists = new WeakMap<MediaFetchSettings, AddressAllowList>();
function allowListOf(settings: MediaFetchSettings): AddressAllowList {
  let list = allowLists.get(settings);
  if (!list) allowLists.set(settings, (list = new AddressAllowList(settings.allow)));
  return list;
}

export interface MediaFetchOptions {
  settings?: MediaFetchSettings;
  /** How host names become addresses: the system's resolver unless a test gives its own. */
  resolve?: Resolver;
}

/**
 * Every URL fetched (each distinct one once) as base64 with its media type. Throws the one 400
 * if any of them cannot be used, or a 400 naming max_urls if there are more than that.
 */
export async function fetchMediaUrls(
  urls: readonly string[],
  options: MediaFetchOptions = {},
): Promise<Map<string, { mediaType: string; data: string }>> {
  const settings = options.settings ?? DEFAULT_MEDIA_FETCH;
  const distinct = [...new Set(urls)];
  if (distinct.length > settings.maxUrls) {
    throw new GatewayError(
      400,
      `This request has ${distinct.length} image URLs for a Gemini model; levity fetches at most ${settings.maxUrls} per request (proxy.media_fetch.max_urls). Send the others inline as base64.`,
    );
  }
  const budget: ByteBudget = { remaining: settings.maxTotalBytes };
  // One failure fails the request, so the others stop at once instead of using their budget.
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(settings.timeoutMs)]);
  const fetchOptions = {
    allow: allowListOf(settings),
    resolve: options.resolve ?? systemResolver,
    signal,
    budget,
    itemCapBytes: INLINE_MEDIA_CAP_BYTES,
    maxRedirects: MAX_REDIRECTS,
    mediaType: acceptedMediaType,
  };
  const results = await Promise.all(
    distinct.map(async (url) => {
      try {
        const fetched = await safeFetch(url, fetchOptions);
        return [
          url,
          { mediaType: fetched.mediaType, data: Buffer.from(fetched.bytes).toString("base64") },
        ] as const;
      } catch {
        // Whatever the reason (a FetchRefused says which), the client is told the same thing.
        stop.abort();
        throw notUsable(url);
      }
    }),
  ).catch((error) => {
    stop.abort();
    throw error;
  });
  return new Map(results);
}

/** The media parts among `parts` as Gemini takes them: inline data, a file reference, or fetched and inlined. */
export async function geminiMediaParts(
  parts: readonly MediaPart[],
  options: MediaFetchOptions = {},
): Promise<Map<MediaPart, unknown>> {
  const toFetch = parts.flatMap((part) =>
    part.source.kind === "url" && !isGoogleFileUri(part.source.url) ? [part.source.url] : [],
  );
  const fetched =
    toFetch.length > 0
      ? await fetchMediaUrls(toFetch, options)
      : new Map<string, { mediaType: string; data: string }>();
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
