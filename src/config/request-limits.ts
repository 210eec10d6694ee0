/*
 * What one client request may hold, as gateway.yaml sets it (proxy.max_body_mb, proxy.body_timeout,
 * proxy.limits). Only the shapes and defaults live here, beside the rest of the configuration: the
 * body reader (src/http/body.ts) and the translated path's count checks
 * (src/pipeline/request-limits.ts) enforce them.
 */

export interface BodyLimits {
  maxBytes: number;
  /** The whole body must arrive within this long: a client that trickles it is cut off. */
  timeoutMs: number;
}

export interface RequestLimits {
  /** Messages (contents, input items), stored history included. */
  messages: number;
  /** Content parts over all messages, tool results' contents included. */
  parts: number;
  tools: number;
  /** Images, PDFs and other media, by URL or inline. */
  media: number;
}

/**
 * Far above what coding agents send (a long Claude Code or Codex session: hundreds to a few
 * thousand messages, tens of tools; no upstream takes more than 3,000 images in a request, OpenAI
 * no more than 128 tools), so only a request crafted to be expensive meets them.
 */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  messages: 50_000,
  parts: 200_000,
  tools: 2_000,
  media: 5_000,
};
