import type { MediaFetchSettings } from "../config/snapshot.ts";
import {
  type FetchMedia,
  guessMediaType,
  INLINE_MEDIA_CAP_BYTES,
  type InlineMedia,
} from "../codecs/gemini/inline-media.ts";
import { GatewayError } from "../failure.ts";
import { AddressAllowList } from "../config/address-policy.ts";
import { type ByteBudget, type Resolver, safeFetch, systemResolver } from "./safe-fetch.ts";

/*
 * Media URLs a client sends for a Gemini model, fetched so the codec can inline them. The client
 * chose the URL, so the fetch goes only where safe-fetch.ts allows (public addresses, and the
 * operator's allow-list), within a count and a byte budget per request, and every way it can fail
 * reads the same to the client: an answer that told "refused" from "unreachable" from "timed out"
 * would make levity a port scanner.
 */

const MAX_REDIRECTS = 3;

/** proxy.media_fetch's defaults, for a target built without a configuration. */
const DEFAULT_MEDIA_FETCH: Readonly<MediaFetchSettings> = {
  allow: [],
  maxUrls: 8,
  maxTotalBytes: 20 * 1024 * 1024,
  timeoutMs: 15_000,
};

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

interface MediaFetchOptions {
  settings?: MediaFetchSettings;
  /** How host names become addresses: the system's resolver unless a test gives its own. */
  resolve?: Resolver;
}

/**
 * Every URL fetched (each distinct one once) as base64 with its media type. Throws the one 400
 * if any of them cannot be used, or a 400 naming max_urls if there are more than that.
 */
async function fetchMediaUrls(
  urls: readonly string[],
  options: MediaFetchOptions = {},
): Promise<Map<string, InlineMedia>> {
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
    // Parsed per request that fetches, which is rare and costs far less than the fetch itself.
    allow: new AddressAllowList(settings.allow),
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

/** The codec's fetch for one request, under proxy.media_fetch (the defaults when absent). */
export function mediaFetcher(settings?: MediaFetchSettings, resolve?: Resolver): FetchMedia {
  return (urls) => fetchMediaUrls(urls, { settings, resolve });
}
