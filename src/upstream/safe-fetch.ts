import type { PeerCertificate } from "node:tls";
import { type AddressAllowList, classifyAddress, parseAddress } from "../config/address-policy.ts";

/*
 * Fetching a URL a client chose (an image to inline for Gemini) without letting the client aim
 * levity at its own network. The host is resolved once, every address it resolves to is checked,
 * and the connection goes to the checked address (the URL rewritten to the IP literal, with the
 * original Host header, TLS server name and certificate check), so a DNS answer that changes
 * between check and connect changes nothing. Redirects are followed by hand, each one checked
 * the same way. Bytes are counted while they arrive, against the item's cap and the request's.
 */

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

// node:dns and node:tls load with the first URL a client has levity fetch: most gateways never do,
// and each runtime module loaded at start is resident memory for the life of the process.
export const systemResolver: Resolver = (hostname) =>
  import("node:dns/promises").then(({ lookup }) => lookup(hostname, { all: true, verbatim: true }));

/** Why a fetch was not used. Logged for the operator; the client always gets the same words. */
export class FetchRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "FetchRefused";
  }
}

/** Bytes a whole request may still take, shared by its fetches. */
export interface ByteBudget {
  remaining: number;
}

export interface SafeFetchOptions {
  allow: AddressAllowList;
  resolve: Resolver;
  signal: AbortSignal;
  budget: ByteBudget;
  itemCapBytes: number;
  maxRedirects: number;
  /** The media type of an answer worth reading, or undefined to refuse it before its body. */
  mediaType(headers: Headers, url: URL): string | undefined;
  /** Certificate authorities (PEM) trusted instead of the system's: for tests with their own. */
  ca?: string;
}

export interface Fetched {
  mediaType: string;
  bytes: Uint8Array;
}

/** The addresses `url` may be fetched from; throws FetchRefused when any of them is closed. */
async function checkedAddresses(url: URL, options: SafeFetchOptions): Promise<string[]> {
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new FetchRefused(`scheme ${url.protocol}`);
  if (url.username || url.password) throw new FetchRefused("credentials in the URL");
  const literal = parseAddress(url.hostname);
  let addresses: string[];
  if (literal) addresses = [url.hostname.replace(/^\[|\]$/g, "")];
  else {
    try {
      addresses = (await options.resolve(url.hostname)).map((entry) => entry.address);
    } catch (error) {
      throw new FetchRefused(`${url.hostname} does not resolve: ${(error as Error).message}`);
    }
  }
  if (addresses.length === 0) throw new FetchRefused(`${url.hostname} resolves to nothing`);
  // Every address, not just the first: the runtime is never asked to pick among them.
  const hostAllowed = !literal && options.allow.allowsHost(url.hostname);
  for (const address of addresses) {
    const kind = classifyAddress(address);
    if (kind === "public" || hostAllowed || options.allow.allowsAddress(address)) continue;
    throw new FetchRefused(
      `${url.hostname} resolves to ${address}, a ${kind} address, which is not in proxy.media_fetch.allow`,
    );
  }
  return addresses;
}

/** fetch() aimed at a checked address, as if at the URL's own host. */
async function fetchPinned(
  url: URL,
  address: string,
  options: SafeFetchOptions,
): Promise<Response> {
  const pinned = new URL(url);
  pinned.hostname = address.includes(":") ? `[${address}]` : address;
  const byName = parseAddress(url.hostname) === undefined;
  const hostname = url.hostname;
  const tls =
    url.protocol === "https:"
      ? tlsFor(hostname, byName, options.ca, await import("node:tls"))
      : undefined;
  return fetch(pinned, {
    redirect: "manual",
    signal: options.signal,
    headers: {
      host: url.host,
      accept: "image/*, application/pdf;q=0.9",
      "accept-encoding": "identity",
      "user-agent": "levity",
    },
    // Straight to the address checked: a proxy would resolve the name again, on its own.
    proxy: false,
    decompress: false,
    keepalive: false,
    tls,
  });
}

/**
 * SNI and the certificate check use the name the client wrote, not the address connected to.
 * The function also gives the request a connection of its own, never one pooled for another name.
 */
function tlsFor(
  hostname: string,
  byName: boolean,
  ca: string | undefined,
  { checkServerIdentity }: typeof import("node:tls"),
) {
  const trust = ca === undefined ? {} : { ca };
  if (!byName) return trust;
  return {
    ...trust,
    serverName: hostname,
    checkServerIdentity: (_name: string, cert: PeerCertificate) =>
      checkServerIdentity(hostname, cert),
  };
}

async function readCapped(response: Response, options: SafeFetchOptions): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length"));
  if (declared > options.itemCapBytes || declared > options.budget.remaining) {
    await response.body?.cancel().catch(() => {});
    throw new FetchRefused(`declares ${declared} bytes, over the cap`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      options.budget.remaining -= value.byteLength;
      if (total > options.itemCapBytes || options.budget.remaining < 0) {
        await reader.cancel().catch(() => {});
        throw new FetchRefused(`over the cap after ${total} bytes`);
      }
      chunks.push(value);
    }
  }
  return Buffer.concat(chunks);
}

/** The body at `start`, fetched only from addresses open to it; throws FetchRefused otherwise. */
export async function safeFetch(start: string, options: SafeFetchOptions): Promise<Fetched> {
  let url: URL;
  try {
    url = new URL(start);
  } catch {
    throw new FetchRefused("not a URL");
  }
  for (let hop = 0; ; hop++) {
    const addresses = await checkedAddresses(url, options);
    let response: Response;
    try {
      response = await fetchPinned(url, addresses[0]!, options);
    } catch (error) {
      throw new FetchRefused(`${url.host}: ${(error as Error).message}`);
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel().catch(() => {});
      if (hop >= options.maxRedirects)
        throw new FetchRefused(`more than ${options.maxRedirects} redirects`);
      try {
        url = new URL(location, url);
      } catch {
        throw new FetchRefused("a redirect to something that is not a URL");
      }
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new FetchRefused(`HTTP ${response.status}`);
    }
    const encoding = response.headers.get("content-encoding");
    const mediaType = options.mediaType(response.headers, url);
    if ((encoding && encoding.toLowerCase() !== "identity") || !mediaType) {
      await response.body?.cancel().catch(() => {});
      throw new FetchRefused(
        encoding
          ? `content-encoding ${encoding}`
          : `content-type ${response.headers.get("content-type") ?? "missing"}`,
      );
    }
    return { mediaType, bytes: await readCapped(response, options).catch(rethrowAsRefused) };
  }
}

function rethrowAsRefused(error: unknown): never {
  if (error instanceof FetchRefused) throw error;
  throw new FetchRefused(`reading the body: ${(error as Error).message}`);
}
