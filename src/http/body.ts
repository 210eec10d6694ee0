import type { BodyLimits } from "../config/request-limits.ts";
import type { JsonObject } from "../codecs/json.ts";
import type { Deadline, Deadlines } from "../deadlines.ts";
import { GatewayError } from "../failure.ts";
import {
  DEFAULT_MULTIPART_LIMITS,
  type MultipartBody,
  type MultipartLimits,
  MultipartParser,
  multipartBoundary,
} from "../codecs/multipart.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(
    413,
    `Request body is larger than ${formatMb(maxBytes)} MB (proxy.max_body_mb in gateway.yaml, or the route's own max_body_mb in routes.yaml).`,
  );
}

function formatMb(bytes: number): string {
  return String(Math.round((bytes / 1024 / 1024) * 100) / 100);
}

/**
 * A request body read whole, within its limits: at most `maxBytes` (a declared length over it is
 * refused before a byte is read, a body without one the moment it passes it), arrived by
 * `timeoutMs`, or refused with 408 and the connection closed, so a slow sender cannot hold it.
 * What the bytes mean is the subclass's `arrived`; `read()` resolves once it has taken them.
 *
 * One object a read, which is also its own deadline: a promise with an executor, a deadline
 * closure, a cancel closure and two callbacks in three functions cost about twenty objects a
 * request on the path every request takes (bench/allocations.ts).
 */
export abstract class BodyRead implements Deadline {
  readonly at: number;
  private readonly settle = Promise.withResolvers<void>();
  /** Once settled, a read that ends late (after the deadline answered 408) is not taken. */
  private settled = false;

  constructor(
    private readonly request: Request,
    protected readonly limits: BodyLimits,
    private readonly deadlines: Deadlines,
  ) {
    this.at = deadlines.from(limits.timeoutMs);
  }

  /** Takes the body once it is all here; what it throws is the read's failure. */
  protected abstract arrived(bytes: ArrayBuffer | Uint8Array): void;

  read(): Promise<void> {
    const { request, limits } = this;
    const length = request.headers.get("content-length");
    const declared = Number(length);
    // A runtime that threw here rather than returning a rejected promise would otherwise leave the
    // deadline to reject a promise no one holds: the read fails instead, and its deadline goes.
    try {
      if (declared > limits.maxBytes) this.failed(tooLarge(limits.maxBytes));
      else if (length === null || !(declared > 0)) {
        // Asked for only when no length is declared: request.body makes a stream object, which the
        // usual request (its length declared, read whole below) does not need.
        const body = request.body;
        if (!body) this.received(new Uint8Array(0));
        else {
          this.deadlines.add(this);
          readChunked(body, limits.maxBytes).then(this.received.bind(this), this.failed.bind(this));
        }
      } else {
        this.deadlines.add(this);
        request.arrayBuffer().then(this.received.bind(this), this.failed.bind(this));
      }
    } catch (error) {
      this.failed(error);
    }
    return this.settle.promise;
  }

  /** The deadline: the body is still arriving. */
  fire(): void {
    this.failed(bodyTimedOut(this.limits));
  }

  private received(bytes: ArrayBuffer | Uint8Array): void {
    if (this.settled) return;
    try {
      if (bytes.byteLength > this.limits.maxBytes) throw tooLarge(this.limits.maxBytes);
      this.arrived(bytes);
    } catch (error) {
      this.failed(error);
      return;
    }
    this.settled = true;
    this.deadlines.cancel(this);
    this.settle.resolve();
  }

  private failed(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.deadlines.cancel(this);
    this.settle.reject(error);
  }
}

function bodyTimedOut(limits: BodyLimits): GatewayError {
  return new GatewayError(
    408,
    `The request body did not arrive within ${limits.timeoutMs / 1000} s (proxy.body_timeout in gateway.yaml).`,
    { headers: { connection: "close" } },
  );
}

/** `reading`, unless the body is still arriving at proxy.body_timeout: then a 408 that closes the connection. */
async function withinBodyTimeout<T>(
  reading: Promise<T>,
  limits: BodyLimits,
  deadlines: Deadlines,
): Promise<T> {
  let cancel = () => {};
  const expired = new Promise<never>((_, reject) => {
    cancel = deadlines.after(limits.timeoutMs, () => reject(bodyTimedOut(limits)));
  });
  try {
    return await Promise.race([reading, expired]);
  } finally {
    cancel();
  }
}

/** A body sent without a declared length (chunked), read under the limit as it comes. */
async function readChunked(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A body that may be absent (admin commands with no options): absent or empty is `{}`. */
export function optionalJsonObject(bytes: ArrayBuffer | Uint8Array): {
  json: JsonObject;
  text: string;
} {
  return bytes.byteLength === 0 ? { json: {}, text: "" } : parseJsonObject(bytes);
}

/**
 * Why a body that must be JSON is refused before it is read: any content type is accepted when
 * the body is JSON (curl -d sends form encoding by default); multipart is plainly not JSON.
 */
export function notJson(request: Request): GatewayError | undefined {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("multipart/")) return undefined;
  return new GatewayError(
    415,
    `Request body is ${type.split(";")[0]}; this endpoint expects a JSON object (Content-Type: application/json).`,
  );
}

/** The request body as a JSON object. */
export function requiredJsonObject(bytes: ArrayBuffer | Uint8Array): {
  json: JsonObject;
  text: string;
} {
  if (bytes.byteLength === 0)
    throw new GatewayError(400, "Request body is empty; this endpoint expects a JSON object.");
  return parseJsonObject(bytes);
}

function parseJsonObject(bytes: ArrayBuffer | Uint8Array): { json: JsonObject; text: string } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new GatewayError(400, "Request body is not valid UTF-8.");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GatewayError(400, `Request body is not valid JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new GatewayError(
      400,
      `Request body must be a JSON object, not ${json === null ? "null" : Array.isArray(json) ? "an array" : typeof json}.`,
    );
  }
  return { json: json as JsonObject, text };
}

/**
 * A multipart/form-data body, read as it arrives through the streaming parser: within `maxBytes`
 * (a declared Content-Length over it is refused before a byte is read, a chunked body the moment
 * it passes it) and `limits.timeoutMs`; a malformed body is refused at its first bad byte with a
 * 400 naming the field. Each refusal closes the connection, since the rest of the body is unread.
 */
export async function readMultipart(
  request: Request,
  limits: BodyLimits & Partial<MultipartLimits>,
  deadlines: Deadlines,
): Promise<MultipartBody> {
  let boundary: string;
  try {
    boundary = multipartBoundary(request.headers.get("content-type"));
  } catch (error) {
    throw error instanceof GatewayError ? closing(error) : error;
  }
  const parser = new MultipartParser(boundary, {
    fieldMaxBytes: limits.fieldMaxBytes ?? DEFAULT_MULTIPART_LIMITS.fieldMaxBytes,
    maxParts: limits.maxParts ?? DEFAULT_MULTIPART_LIMITS.maxParts,
  });
  const declared = Number(request.headers.get("content-length"));
  if (declared > limits.maxBytes) throw closing(tooLargeUpload(limits.maxBytes));
  if (!request.body) return parser.end();
  const reader = request.body.getReader();
  const consume = async (): Promise<MultipartBody> => {
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return parser.end();
      total += value.byteLength;
      if (total > limits.maxBytes) throw tooLargeUpload(limits.maxBytes);
      parser.push(value);
    }
  };
  try {
    return await withinBodyTimeout(consume(), limits, deadlines);
  } catch (error) {
    // Stop reading: what is left of the body is never taken in.
    reader.cancel().catch(() => {});
    throw error instanceof GatewayError ? closing(error) : error;
  }
}

function tooLargeUpload(maxBytes: number): GatewayError {
  return new GatewayError(
    413,
    `Request body is larger than ${formatMb(maxBytes)} MB, this endpoint's limit (max_body_mb in routes.yaml).`,
    { type: "invalid_request_error", code: "request_too_large" },
  );
}

/** The client may still be sending the body levity will not read: the connection ends with the answer. */
function closing(error: GatewayError): GatewayError {
  if (error.details.headers?.connection) return error;
  return new GatewayError(error.status, error.message, {
    ...error.details,
    headers: { ...error.details.headers, connection: "close" },
  });
}
