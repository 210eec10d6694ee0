/** One request as the request log and the metrics see it. Never a key or a token; bodies only when log_bodies is on. */
export interface RequestRecord {
  /** When the request arrived, in epoch milliseconds. */
  time: number;
  requestId: string;
  /** The name of the client key that authenticated it (never the key). */
  clientKey?: string;
  method: string;
  /** The canonical route path (`/v1beta/models/{model}:generateContent`), or the raw path when no route matched. */
  route: string;
  /** Set when no route matched: the metrics label such requests "unmatched" rather than by their path. */
  unmatched?: boolean;
  dialect?: string;
  requestedModel?: string;
  mappedModel?: string;
  upstream?: string;
  account?: string;
  /** Upstream attempts made: more than one means retries. */
  attempts: number;
  status: number;
  stream: boolean;
  /** Until the answer's last byte, or until the client left. */
  latencyMs: number;
  /** Until the status line and the first content were handed to the client. */
  ttfbMs: number;
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the upstream's prompt cache (part of inputTokens). */
  cachedTokens: number;
  /** Input tokens written to the upstream's prompt cache (part of inputTokens; Anthropic's cache_creation). */
  cacheWriteTokens: number;
  reasoningTokens: number;
  /** What the request cost in US dollars by the price table; undefined when its model has no price. */
  costUsd?: number;
  error?: string;
  /** Set on a replay made with `levity replay` (or the monitor's Replay): the request id it replays. */
  replayOf?: string;
  requestBody?: string;
  responseBody?: string;
}

/** Where finished records go: the request log and the metrics. */
export interface RecordSink {
  /** A request arrived (for the in-flight gauge). */
  started(): void;
  /** It finished; `record` is undefined for requests that are not traffic (a healthy health check, an admin call). */
  finished(record: RequestRecord | undefined): void;
}
