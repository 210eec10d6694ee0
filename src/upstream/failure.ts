/** An upstream's refusal, before any byte reached the client: rendered in the client's own error shape. */
export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds the upstream asked the client to wait. */
    readonly retryAfter?: string,
    /** Milliseconds to leave the account alone, from every hint the upstream gave. */
    readonly hintMs?: number,
    /** The upstream's error body as it came, for telling a refused key or an empty balance from other errors. */
    readonly body?: string,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}
