import { GatewayError } from "../failure.ts";
import { concatBytes } from "../bytes.ts";

/*
 * multipart/form-data (RFC 7578) as OpenAI's upload endpoints take it (audio transcriptions,
 * image edits). The parser is pushed the body chunk by chunk, so a body is refused at its first
 * malformed byte and no part is ever larger than its limit in memory. A part's bytes are kept as
 * slices of the chunks that carried them when a slice is large (at least LARGE_SLICE bytes, and
 * at least half of the buffer it points into), and otherwise copied into a buffer of up to
 * COALESCE_BYTES: however small the chunks a client sends, a part is a few pieces (at most one per
 * 8 KiB), and the memory held for it is at most about twice its bytes.
 */

export interface MultipartPart {
  /** The form field's name (Content-Disposition `name`). */
  name: string;
  /** Set for a file part, even when empty (`filename=""`). */
  filename?: string;
  contentType?: string;
  /** The part's bytes as they arrived. */
  chunks: Uint8Array[];
  size: number;
}

export interface MultipartBody {
  parts: MultipartPart[];
  /** Bytes read, boundaries and headers included. */
  size: number;
}

export interface MultipartLimits {
  /** A text field (a part without a filename) larger than this is refused, naming the field. */
  fieldMaxBytes: number;
  /** At most this many parts. */
  maxParts: number;
}

export const DEFAULT_MULTIPART_LIMITS: Readonly<MultipartLimits> = {
  fieldMaxBytes: 64 * 1024,
  maxParts: 100,
};

/** One part's header block may hold at most this much; real ones hold a few hundred bytes. */
const HEADER_MAX_BYTES = 8 * 1024;
/** A slice at least this long is kept as a view into its chunk; a shorter one is copied. */
export const LARGE_SLICE = 16 * 1024;
/** Short slices are gathered into a buffer of at most this many bytes before it becomes a piece. */
export const COALESCE_BYTES = 64 * 1024;
/** RFC 2046: a boundary is 1 to 70 characters. */
const BOUNDARY_MAX = 70;

const CRLF = new Uint8Array([13, 10]);
const HEADER_END = new Uint8Array([13, 10, 13, 10]);
const ascii = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

function malformed(message: string, field: string | null = null): GatewayError {
  return new GatewayError(400, message, { param: field, code: "invalid_multipart" });
}

/**
 * The boundary named by a Content-Type header, or a 400 saying what is wrong with it. Anything
 * but multipart/form-data is refused here, before a byte of the body is read.
 */
export function multipartBoundary(contentType: string | null): string {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "multipart/form-data") {
    throw new GatewayError(
      400,
      `Request body is ${type || "untyped"}; this endpoint expects multipart/form-data (a file upload).`,
      { param: null, code: "invalid_multipart" },
    );
  }
  const match = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? "");
  const boundary = match?.[1] ?? match?.[2] ?? "";
  if (boundary === "" || boundary.length > BOUNDARY_MAX || !/^[\x20-\x7e]+$/.test(boundary)) {
    throw malformed(
      "The multipart/form-data Content-Type has no usable boundary (boundary=, 1 to 70 characters).",
    );
  }
  return boundary;
}

type State = "preamble" | "after-delimiter" | "headers" | "body" | "end";

/**
 * A streaming multipart/form-data parser: `push` each chunk as it arrives, then `end`. Either
 * throws a GatewayError 400 naming the field at fault (or the body, when no field is known yet).
 */
export class MultipartParser {
  private readonly dashBoundary: Uint8Array;
  private readonly delimiter: Uint8Array;
  private state: State = "preamble";
  private carry: Uint8Array = new Uint8Array(0);
  private part: MultipartPart | undefined;
  // Short slices of the current part, gathered before they become one of its pieces.
  private gather: Uint8Array = new Uint8Array(0);
  private gathered = 0;
  private readonly parts: MultipartPart[] = [];
  private size = 0;

  constructor(
    boundary: string,
    private readonly limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS,
  ) {
    this.dashBoundary = ascii.encode(`--${boundary}`);
    this.delimiter = ascii.encode(`\r\n--${boundary}`);
  }

  push(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    let buf = chunk;
    let pos = 0;
    const carry = this.carry;
    this.carry = new Uint8Array(0);
    if (
      carry.byteLength > 0 &&
      this.state === "body" &&
      chunk.byteLength >= this.delimiter.byteLength
    ) {
      // Inside a part, what was carried over is at most a delimiter's length: it is settled
      // against the chunk's start, so that the chunk itself is kept as it is, never joined.
      const at = this.straddle(carry, chunk);
      this.append(at === undefined ? carry : carry.subarray(0, at));
      if (at !== undefined) {
        this.state = "after-delimiter";
        pos = this.delimiter.byteLength - (carry.byteLength - at);
      }
    } else if (carry.byteLength > 0) {
      // A few bytes (an unfinished header block, or a short chunk): joining them costs little.
      buf = concatBytes(carry, chunk);
    }
    for (;;) {
      const next = this.step(buf, pos);
      if (next === undefined) return;
      pos = next;
    }
  }

  /** The body is over: the parts, or a 400 when it stopped before its closing boundary. */
  end(): MultipartBody {
    if (this.state === "end") return { parts: this.parts, size: this.size };
    if (this.state === "preamble" && this.parts.length === 0)
      throw malformed("The multipart body holds no parts (no line with its boundary).");
    const name = this.part?.name;
    throw malformed(
      name !== undefined
        ? `The multipart body ended inside the part "${name}", before its closing boundary.`
        : "The multipart body ended before its closing boundary.",
      name ?? null,
    );
  }

  /** Advances from `pos`; returns the next position, or undefined when `buf` needs more bytes. */
  private step(buf: Uint8Array, pos: number): number | undefined {
    switch (this.state) {
      case "preamble": {
        const at = indexOf(buf, this.dashBoundary, pos);
        if (at < 0) {
          this.keep(buf, Math.max(pos, buf.byteLength - this.dashBoundary.byteLength + 1));
          return undefined;
        }
        this.state = "after-delimiter";
        return at + this.dashBoundary.byteLength;
      }
      case "after-delimiter": {
        // `--` closes the body; otherwise optional transport padding, then CRLF.
        let at = pos;
        if (buf.byteLength - at < 2) return this.keep(buf, pos);
        if (buf[at] === 45 && buf[at + 1] === 45) {
          this.finishPart();
          this.state = "end";
          return undefined;
        }
        while (at < buf.byteLength && (buf[at] === 32 || buf[at] === 9)) at++;
        if (buf.byteLength - at < 2) return this.keep(buf, pos);
        if (buf[at] !== 13 || buf[at + 1] !== 10)
          throw malformed(
            "A multipart boundary line is followed by other text (the boundary appears inside a part?).",
            this.part?.name ?? null,
          );
        this.finishPart();
        this.state = "headers";
        return at + 2;
      }
      case "headers": {
        // A part with no headers at all starts with the blank line itself.
        if (buf.byteLength - pos >= 2 && buf[pos] === 13 && buf[pos + 1] === 10) {
          this.startPart("");
          this.state = "body";
          return pos + 2;
        }
        const at = indexOf(buf, HEADER_END, pos);
        if (at < 0) {
          if (buf.byteLength - pos > HEADER_MAX_BYTES)
            throw malformed(
              `A multipart part's headers are longer than ${HEADER_MAX_BYTES} bytes.`,
            );
          return this.keep(buf, pos);
        }
        // Headers that arrived whole in one chunk are held to the same limit.
        if (at - pos > HEADER_MAX_BYTES)
          throw malformed(`A multipart part's headers are longer than ${HEADER_MAX_BYTES} bytes.`);
        this.startPart(latin1.decode(buf.subarray(pos, at)));
        this.state = "body";
        return at + HEADER_END.byteLength;
      }
      case "body": {
        const at = indexOf(buf, this.delimiter, pos);
        if (at < 0) {
          // The last bytes may be the start of a delimiter: keep them for the next chunk.
          const safe = Math.max(pos, buf.byteLength - this.delimiter.byteLength + 1);
          this.append(buf.subarray(pos, safe));
          return this.keep(buf, safe);
        }
        this.append(buf.subarray(pos, at));
        this.state = "after-delimiter";
        return at + this.delimiter.byteLength;
      }
      case "end":
        // The epilogue, which RFC 2046 says to ignore.
        return undefined;
    }
  }

  /** Where in `carry` a delimiter begins that `chunk` completes, if one does. */
  private straddle(carry: Uint8Array, chunk: Uint8Array): number | undefined {
    const d = this.delimiter;
    for (let i = 0; i < carry.byteLength; i++) {
      const inCarry = carry.byteLength - i;
      let j = 0;
      while (j < inCarry && carry[i + j] === d[j]) j++;
      if (j < inCarry) continue;
      while (j < d.byteLength && chunk[j - inCarry] === d[j]) j++;
      if (j === d.byteLength) return i;
    }
    return undefined;
  }

  private keep(buf: Uint8Array, from: number): undefined {
    this.carry = buf.slice(from);
    return undefined;
  }

  private startPart(headers: string): void {
    if (this.parts.length >= this.limits.maxParts)
      throw malformed(`The multipart body has more than ${this.limits.maxParts} parts.`);
    const fields = new Map<string, string>();
    for (const line of headers.split("\r\n")) {
      if (line === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw malformed(`A multipart part has a malformed header line.`);
      fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const disposition = fields.get("content-disposition");
    const name = disposition === undefined ? undefined : dispositionParam(disposition, "name");
    if (!disposition?.toLowerCase().startsWith("form-data") || name === undefined || name === "")
      throw malformed(
        `Part ${this.parts.length + 1} of the multipart body has no Content-Disposition: form-data with a name.`,
      );
    const filename = dispositionParam(disposition, "filename");
    const contentType = fields.get("content-type");
    this.part = {
      name,
      ...(filename !== undefined ? { filename } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
      chunks: [],
      size: 0,
    };
  }

  private append(bytes: Uint8Array): void {
    const part = this.part;
    if (!part || bytes.byteLength === 0) return;
    part.size += bytes.byteLength;
    if (part.filename === undefined && part.size > this.limits.fieldMaxBytes)
      throw malformed(
        `The field "${part.name}" is larger than ${this.limits.fieldMaxBytes} bytes.`,
        part.name,
      );
    // A view pins its whole buffer: it is kept only when large and most of that buffer.
    if (bytes.byteLength >= LARGE_SLICE && bytes.byteLength * 2 >= bytes.buffer.byteLength) {
      this.flush(part);
      part.chunks.push(bytes);
      return;
    }
    let from = 0;
    while (from < bytes.byteLength) {
      if (this.gathered === this.gather.byteLength) {
        if (this.gathered === COALESCE_BYTES) this.flush(part);
        // Grown by doubling, so the copying stays linear and a small field holds a small buffer.
        const grown = new Uint8Array(
          Math.min(COALESCE_BYTES, Math.max(256, this.gathered * 2, bytes.byteLength - from)),
        );
        grown.set(this.gather.subarray(0, this.gathered));
        this.gather = grown;
      }
      const take = Math.min(bytes.byteLength - from, this.gather.byteLength - this.gathered);
      this.gather.set(bytes.subarray(from, from + take), this.gathered);
      this.gathered += take;
      from += take;
    }
  }

  /** The gathered short slices become one piece of the part, in a buffer of their exact size. */
  private flush(part: MultipartPart): void {
    if (this.gathered === 0) return;
    part.chunks.push(
      this.gathered === this.gather.byteLength ? this.gather : this.gather.slice(0, this.gathered),
    );
    this.gather = new Uint8Array(0);
    this.gathered = 0;
  }

  private finishPart(): void {
    if (this.part) {
      this.flush(this.part);
      this.parts.push(this.part);
    }
    this.part = undefined;
  }
}

/** A Content-Disposition parameter, quoted or not; browsers escape `"` as %22 in quoted names. */
function dispositionParam(disposition: string, key: string): string | undefined {
  const pattern = new RegExp(`;\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i");
  const match = pattern.exec(disposition);
  if (!match) return undefined;
  const quoted = match[1];
  const raw = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (match[2] ?? "");
  // Header bytes were read as Latin-1; names and filenames are sent as UTF-8 bytes.
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff);
  try {
    return utf8.decode(bytes);
  } catch {
    return raw;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(
    needle,
    from,
  );
}

/** The first part named `name`. */
export function partNamed(body: MultipartBody, name: string): MultipartPart | undefined {
  return body.parts.find((part) => part.name === name);
}

/**
 * A text field's value: undefined when absent, a 400 naming it when it is a file or not UTF-8.
 */
export function textField(body: MultipartBody, name: string): string | undefined {
  const part = partNamed(body, name);
  if (!part) return undefined;
  if (part.filename !== undefined)
    throw malformed(`The field "${name}" must be text, not a file.`, name);
  try {
    return utf8.decode(partBytes(part));
  } catch {
    throw malformed(`The field "${name}" is not valid UTF-8.`, name);
  }
}

/** Every value of a repeated text field (`timestamp_granularities[]`), in order. */
export function textFields(body: MultipartBody, name: string): string[] {
  return body.parts
    .filter((part) => part.name === name && part.filename === undefined)
    .map((part) => {
      try {
        return utf8.decode(partBytes(part));
      } catch {
        throw malformed(`The field "${name}" is not valid UTF-8.`, name);
      }
    });
}

/** A part's bytes in one array: one copy, made only where the whole is needed (base64). */
export function partBytes(part: MultipartPart): Uint8Array {
  if (part.chunks.length === 1) return part.chunks[0]!;
  const out = new Uint8Array(part.size);
  let offset = 0;
  for (const chunk of part.chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The parts as a multipart/form-data body again, with a new boundary: the pieces are the parts'
 * own chunks, so the file is not copied; the length is known, so the upstream gets a
 * Content-Length rather than a chunked body.
 */
export function encodeMultipart(parts: readonly MultipartPart[]): {
  pieces: Uint8Array[];
  length: number;
  contentType: string;
} {
  const boundary = `levity-${crypto.randomUUID()}`;
  const pieces: Uint8Array[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(part.name)}"`;
    if (part.filename !== undefined) head += `; filename="${quote(part.filename)}"`;
    head += "\r\n";
    if (part.contentType !== undefined) head += `Content-Type: ${part.contentType}\r\n`;
    pieces.push(ascii.encode(`${head}\r\n`));
    // A loop, not a spread: a part may hold more pieces than a call takes arguments.
    for (const chunk of part.chunks) pieces.push(chunk);
    pieces.push(CRLF);
  }
  pieces.push(ascii.encode(`--${boundary}--\r\n`));
  const length = pieces.reduce((sum, piece) => sum + piece.byteLength, 0);
  return { pieces, length, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A text part, for a field levity sets itself (the mapped model). */
export function textPart(name: string, value: string): MultipartPart {
  const bytes = new TextEncoder().encode(value);
  return { name, chunks: [bytes], size: bytes.byteLength };
}

/** WHATWG's multipart/form-data encoding of names: `"`, CR and LF percent-encoded. */
function quote(value: string): string {
  return value.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** For the request log: text fields as they are, each file as its name, type and size only. */
export function describeMultipart(body: MultipartBody): string {
  const out: Record<string, string> = {};
  for (const part of body.parts) {
    out[part.name] =
      part.filename !== undefined
        ? `<file ${JSON.stringify(part.filename)}, ${part.contentType ?? "no type"}, ${part.size} bytes>`
        : (safeText(part) ?? `<${part.size} bytes, not UTF-8>`);
  }
  return JSON.stringify(out);
}

function safeText(part: MultipartPart): string | undefined {
  try {
    return utf8.decode(partBytes(part));
  } catch {
    return undefined;
  }
}

/** One read of piecesStream joins consecutive pieces into at most this many bytes. */
const PULL_BYTES = 64 * 1024;

/**
 * An encoded body's pieces as a stream. A piece of PULL_BYTES or more goes as it is; shorter
 * consecutive pieces go joined, up to PULL_BYTES per read: fetch writes each chunk it reads on
 * its own, and 60,000 one-byte chunks took seconds. Only that small batch is copied, never the
 * whole body.
 */
export function piecesStream(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        let end = next;
        let bytes = 0;
        while (end < pieces.length && bytes + pieces[end]!.byteLength <= PULL_BYTES)
          bytes += pieces[end++]!.byteLength;
        if (end === next && end < pieces.length) end++;
        if (end - next === 1) controller.enqueue(pieces[next]!);
        else if (end > next) {
          const batch = new Uint8Array(bytes);
          for (let at = 0; next < end; next++) {
            batch.set(pieces[next]!, at);
            at += pieces[next]!.byteLength;
          }
          controller.enqueue(batch);
        }
        next = end;
        if (next >= pieces.length) controller.close();
      },
    },
    { highWaterMark: 0 },
  );
}
