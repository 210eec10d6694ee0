import { randomId } from "../codecs/shared.ts";
import { readSse } from "../codecs/sse.ts";
import { errorBody } from "../codecs/errors.ts";
import type { Logger } from "../log.ts";

/*
 * The Responses API over a WebSocket, as Codex speaks it (docs/codex-transports.md): the client
 * sends `{"type":"response.create", ...the body of POST /responses}` and reads back the events of
 * a streamed response, one JSON text message each, until response.completed (or .failed,
 * .incomplete, or an `error` message). The connection then waits for the next response.create.
 *
 * Nothing here knows about upstreams: each response.create becomes a POST /v1/responses with
 * stream: true and the upgrade request's own headers, fed to the gateway's own handler. Auth,
 * mapping, the pool, translation and the request log are therefore exactly those of a POST.
 */

/**
 * The gateway's own handler, as this module uses it: a request in, its answer out. Declared here
 * rather than imported, so operations do not depend on the HTTP layer above them.
 */
export type ServeRequest = (
  request: Request,
  options?: { peer?: () => string | undefined },
) => Promise<Response>;

/** What a host (Bun, Deno) gives this module of one accepted socket. */
export interface SocketPeer {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** The part of the upgrade request each message's POST is built from. */
export interface UpgradeRequest {
  url: string;
  headers: Headers;
  /** The client's address, as the server saw the upgrade: a key limited to networks needs it. */
  address?: string;
}

/** The last response on this connection: what a `previous_response_id` naming it stands for. */
interface LastResponse {
  id: string;
  /** The whole input it answered, after expansion. */
  input: unknown[];
  output: unknown[];
}

// Headers of the upgrade that describe the WebSocket connection rather than the request.
const CONNECTION_HEADERS: readonly string[] = [
  "connection",
  "upgrade",
  "content-length",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
];
// Headers of levity's own answer worth telling a client that only sees a message: retry hints and where to look in the log.
const ERROR_HEADERS: readonly string[] = ["retry-after", "x-request-id", "x-should-retry"];
// A client sends one response.create at a time and waits for its end; more than this queued is a runaway client.
const MAX_QUEUED = 8;
const SHUTDOWN_REASON = "levity is shutting down";
const TERMINAL_EVENTS: ReadonlySet<string> = new Set([
  "response.completed",
  "response.failed",
  "response.incomplete",
]);

export class ResponsesSocket {
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private closing = false;
  private last: LastResponse | undefined;
  /** The connection's response the request in hand continues, if it does. */
  private continued: string | undefined;
  private readonly gone = new AbortController();
  private readonly inFlight = new Set<AbortController>();
  private readonly headers: Headers;
  /** The x-levity-warning texts already logged for this connection. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly gateway: ServeRequest,
    private readonly upgrade: UpgradeRequest,
    private readonly peer: SocketPeer,
    private readonly log: Logger,
  ) {
    this.headers = new Headers(upgrade.headers);
    for (const name of CONNECTION_HEADERS) this.headers.delete(name);
    this.headers.set("content-type", "application/json");
  }

  /** One message from the client; messages are served in order, one at a time. */
  receive(message: string | Uint8Array): void {
    if (this.queued >= MAX_QUEUED) {
      this.sendError(
        429,
        `Too many messages waiting on this connection (${MAX_QUEUED}); send the next response.create after the last one's response.completed.`,
      );
      return;
    }
    this.queued++;
    this.queue = this.queue
      .then(() => this.serve(message))
      .catch((error: unknown) => {
        // A bug must not take the connection (or the process) down: the client gets an error message.
        this.log.error(
          `WebSocket message on ${new URL(this.upgrade.url).pathname} failed: ${(error as Error).stack ?? error}`,
        );
        this.sendError(
          500,
          "levity hit an internal error while serving this message. This is a bug; the log has the details.",
        );
      })
      .finally(() => {
        this.queued--;
        if (this.closing && this.queued === 0) this.peer.close(1001, SHUTDOWN_REASON);
      });
  }

  /**
   * The server is stopping: the socket closes now if no message is being served, else once the
   * answer in hand is sent, so a drain waits for answers, not for idle Codex sessions. Codex
   * reconnects on its next turn.
   */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.queued === 0) this.peer.close(1001, SHUTDOWN_REASON);
  }

  /** The client went away: whatever is in flight is aborted, which reaches the upstream call. */
  closed(): void {
    this.gone.abort();
    for (const request of this.inFlight) request.abort();
  }

  private async serve(message: string | Uint8Array): Promise<void> {
    if (this.gone.signal.aborted) return;
    if (typeof message !== "string") {
      this.sendError(
        400,
        "levity reads text messages only: send each response.create as JSON text.",
      );
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      this.sendError(
        400,
        'The message is not valid JSON. Send {"type": "response.create", ...the body of POST /v1/responses}.',
      );
      return;
    }
    if (!isObject(parsed)) {
      this.sendError(400, "The message must be a JSON object with a type.");
      return;
    }
    const { type, ...rest } = parsed;
    // Codex acknowledges a response it has processed; there is nothing for levity to do with it.
    if (type === "response.processed") return;
    if (type !== "response.create") {
      this.sendError(
        400,
        `Unknown message type ${JSON.stringify(type)?.slice(0, 60) ?? "(none)"}: levity accepts response.create.`,
        "type",
      );
      return;
    }
    // Some clients nest the body as {type, response: {...}}; Codex sends it flat.
    const body =
      isObject(rest.response) && rest.input === undefined && rest.model === undefined
        ? { ...rest.response }
        : rest;
    await this.create(body);
  }

  private async create(body: Record<string, unknown>): Promise<void> {
    const input = this.expandInput(body);
    if (input === undefined) return;
    if (body.generate === false) {
      this.warmUp(body, input);
      return;
    }
    const { generate: _generate, ...request } = body;
    // Aborted if the client leaves while this request is in flight, which reaches the upstream call.
    const abort = new AbortController();
    this.inFlight.add(abort);
    try {
      // An input the client left out stays out, so the POST's own refusal ("input is required") is the answer.
      const post = new Request(this.upgrade.url, {
        method: "POST",
        headers: this.headers,
        body: JSON.stringify({
          ...request,
          ...(body.input === undefined && this.continued === undefined ? {} : { input }),
          stream: true,
        }),
        signal: abort.signal,
      });
      const address = this.upgrade.address;
      const response = await this.gateway(post, { peer: () => address });
      this.tellWarning(response.headers);
      const contentType = response.headers.get("content-type") ?? "";
      let completed = false;
      if (!response.ok || !contentType.includes("text/event-stream") || !response.body)
        await this.forwardError(response);
      else completed = await this.relay(response.body, input, abort);
      // As OpenAI does: a continuation that failed evicts the response it continued, and naming it
      // again is then previous_response_not_found.
      if (!completed && this.continued !== undefined && this.last?.id === this.continued)
        this.last = undefined;
    } finally {
      this.inFlight.delete(abort);
    }
  }

  /**
   * The input the request stands for. A previous_response_id naming this connection's last
   * response is answered from the connection, as OpenAI's WebSocket mode does: Codex sends only
   * the new items after it, with store: false, so no store holds that response. Any other id goes
   * on unchanged (levity's store or the upstream may know it).
   */
  private expandInput(body: Record<string, unknown>): unknown[] | undefined {
    const raw = body.input;
    const items =
      raw === undefined
        ? []
        : typeof raw === "string"
          ? [{ type: "message", role: "user", content: raw }]
          : raw;
    if (!Array.isArray(items)) {
      this.sendError(400, "input must be a string or a list of input items.", "input");
      return undefined;
    }
    const previous = body.previous_response_id;
    if (this.last && typeof previous === "string" && previous === this.last.id) {
      delete body.previous_response_id;
      this.continued = previous;
      return [...this.last.input, ...this.last.output, ...items];
    }
    this.continued = undefined;
    return items;
  }

  /**
   * `generate: false` asks only that the request be taken in (Codex warms the connection up
   * before the first turn): it is answered here, with no upstream call, and the next request
   * continues from it.
   */
  private warmUp(body: Record<string, unknown>, input: unknown[]): void {
    const id = randomId("resp_");
    const model = typeof body.model === "string" ? body.model : "";
    const shell = {
      id,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      model,
      output: [],
      usage: null,
      error: null,
      incomplete_details: null,
    };
    this.send({
      type: "response.created",
      sequence_number: 0,
      response: { ...shell, status: "in_progress" },
    });
    this.send({
      type: "response.completed",
      sequence_number: 1,
      response: {
        ...shell,
        status: "completed",
        usage: {
          input_tokens: 0,
          output_tokens: 0,
          total_tokens: 0,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens_details: { reasoning_tokens: 0 },
        },
      },
    });
    this.last = { id, input, output: [] };
  }

  /**
   * A WebSocket client sees no headers, so what x-levity-warning says (a server tool left out of
   * every turn, as Codex offers web_search with each) goes to the log, once per connection.
   */
  private tellWarning(headers: Headers): void {
    const warning = headers.get("x-levity-warning");
    if (!warning || this.warned.has(warning)) return;
    this.warned.add(warning);
    this.log.warn(
      `request ${headers.get("x-request-id") ?? "-"} (Responses WebSocket): ${warning}; a WebSocket client sees no headers, so this is said once per connection`,
    );
  }

  /** Each SSE event of the POST's answer as one text message; the final response is remembered for the next turn. Whether it completed. */
  private async relay(
    body: ReadableStream<Uint8Array>,
    input: unknown[],
    request: AbortController,
  ): Promise<boolean> {
    const items: unknown[] = [];
    const events = readSse(body)[Symbol.asyncIterator]();
    for (;;) {
      const next = await events.next();
      if (next.done) break;
      const event = next.value;
      if (this.gone.signal.aborted) return false;
      if (event.data === "[DONE]") continue;
      this.peer.send(event.data);
      const type = event.event ?? eventType(event.data);
      if (type === "response.output_item.done") {
        const item = parseObject(event.data)?.item;
        if (item !== undefined) items.push(item);
        continue;
      }
      if (type !== "error" && (type === undefined || !TERMINAL_EVENTS.has(type))) continue;
      const response = parseObject(event.data)?.response;
      const completed = type === "response.completed";
      if (completed && isObject(response) && typeof response.id === "string") {
        this.last = {
          id: response.id,
          input,
          output:
            Array.isArray(response.output) && response.output.length > 0 ? response.output : items,
        };
      }
      // The client has its answer: whatever the body still holds is read to its end in the background,
      // and the client closing the socket now no longer counts as leaving before the answer finished.
      this.inFlight.delete(request);
      void drain(events);
      return completed;
    }
    if (!this.gone.signal.aborted)
      this.sendError(
        502,
        "The response ended before response.completed; the upstream's stream was cut.",
      );
    return false;
  }

  /** An answer that is not a stream: levity's (or the upstream's) error, in the shape Codex reads from a socket. */
  private async forwardError(response: Response): Promise<void> {
    let text = "";
    try {
      text = await response.text();
    } catch {
      // The body broke off; the status still says what happened.
    }
    const json = parseObject(text);
    const status = response.ok ? 502 : response.status;
    const error = isObject(json?.error)
      ? json.error
      : openaiError(
          status,
          response.ok ? "The answer was not a stream." : text.slice(0, 500) || `HTTP ${status}`,
        );
    const headers: Record<string, string> = {};
    for (const name of ERROR_HEADERS) {
      const value = response.headers.get(name);
      if (value) headers[name] = value;
    }
    this.send({ type: "error", status, error, headers });
  }

  private sendError(status: number, message: string, param?: string): void {
    this.send({ type: "error", status, error: openaiError(status, message, param) });
  }

  private send(value: unknown): void {
    if (!this.gone.signal.aborted) this.peer.send(JSON.stringify(value));
  }
}

/** Reads what is left of a stream whose answer the client already has, so it ends as a finished request. */
async function drain(events: AsyncIterator<unknown>): Promise<void> {
  try {
    for (;;) if ((await events.next()).done) return;
  } catch {
    // The stream broke after its final event: nothing the client is owed.
  }
}

function openaiError(status: number, message: string, param?: string): Record<string, unknown> {
  return (errorBody("openai", status, message, { param }) as { error: Record<string, unknown> })
    .error;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The type of an event sent without an `event:` line, read without parsing the whole payload. */
function eventType(data: string): string | undefined {
  return /"type"\s*:\s*"([^"]+)"/.exec(data)?.[1];
}
