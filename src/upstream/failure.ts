/** An upstream's refusal, before any byte reached the client: rendered in the client's own error shape. */
export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds the upstream asked the client to wait. */
    readonly retryAfter?: string,
    /** Milliseconds to leave the account alone, from every hint the upstream gave. */
    readonly hintMs?: number,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}
