/*
 * An HTTP/1.1 client for plain-HTTP upstreams (a local Ollama, vLLM or llama.cpp server, a
 * provider's sidecar, a fake in the tests), over Bun's TCP sockets on the serving thread.
 *
 * Why not fetch for these: Bun's fetch runs every call on an HTTP thread of its own, and each call
 * crosses to it and back. On this project's 2-core bench machine that crossing was ~20 µs of CPU a
 * request and ~45 µs of latency at c=1, more than any step of levity's own (BENCHMARKS.md, issue
 * 20, twelfth session). An https upstream, a proxied one (HTTP_PROXY and the like), a body sent as
 * a stream, and Deno still go through fetch (forward.ts decides).
 *
 * What it does, as fetch did for these calls: keep-alive connections per origin, reused newest
 * first and never after IDLE_REUSE_MS idle; a request written whole (partial writes resumed on
 * drain); the answer's head parsed (1xx skipped), its body framed by content-length, chunked
 * encoding or the connection's close, and handed over as a Response whose body is a stream with
 * back-pressure (the socket pauses while 64 KB wait unread), or as bytes when it all came with
 * the head. Bytes are passed on as sent (fetch's `decompress: false`): whole-body.ts decodes. A
 * request a reused connection closed on before it was all written is sent again once on a new one
 * (the upstream closed it idle as the request went out); one written whole never is. The signal
 * aborts at any point: the socket is cut and never reused.
 */
import type { Socket, SocketHandler } from "bun";
import { concatBytes } from "../bytes.ts";

/** An answer's status line and headers: what callers read of a Response before its body. */
export interface UpstreamHead {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
}

/**
 * An answer: its head, and its body either whole (`bytes`, when it all came with the head, null
 * for a status without one) or as a stream still arriving. No Response is made here: for a whole
 * answer read as text, the Response and its text() were a tenth of a served request's CPU.
 */
export type Http1Answer =
  | { head: UpstreamHead; bytes: Uint8Array | null; body?: undefined }
  | { head: UpstreamHead; bytes?: undefined; body: ReadableStream<Uint8Array> };

export interface Http1Init {
  method: string;
  /** A Headers object, or a plain object of lower-case names and values a Headers object would hold (levity's upstream calls, and the bench's floor proxy). */
  headers: Headers | Readonly<Record<string, string>>;
  body: string | Uint8Array;
  signal: AbortSignal;
}

/** A head larger than this is not an answer levity can use (fetch took a 70 KB one). */
const HEAD_MAX_BYTES = 256 * 1024;
/**
 * A connection idle longer than this is closed rather than reused: Node's servers close theirs
 * after 5 s, and one reused as its server closes it would fail the request written into it.
 */
export const IDLE_REUSE_MS = 4_000;
/** Idle connections kept per origin; one more is closed. */
const IDLE_PER_ORIGIN = 256;
/** Unread body bytes a stream holds before its socket stops reading. */
const BODY_BUFFER_BYTES = 64 * 1024;

const DEFAULT_USER_AGENT = `Bun/${typeof Bun === "undefined" ? "" : Bun.version}`;
/** Headers levity writes itself, whatever the caller set. */
const OWN_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
]);
const encoder = new TextEncoder();
const NOT_ASCII = /[\u0080-\uffff]/;
const CONTENT_LENGTH = /^\d{1,15}$/;

/** Where a URL goes, parsed once per URL string. */
interface Target {
  origin: string;
  hostname: string;
  port: number;
  host: string;
  path: string;
}

type Framing = "none" | "length" | "chunked" | "close";

/** The error fetch gives for a connection that broke, with its code, as forward.ts explains it. */
function connectionError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A malformed answer: the connection is unusable after it. */
function malformed(message: string): Error {
  return connectionError(
    "ERR_INVALID_HTTP_RESPONSE",
    `the upstream's answer is not valid HTTP/1.1: ${message}`,
  );
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
}

/** The end of a head (the byte after its blank line) in `bytes`, searching from `from`; -1 if none yet. */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = Math.max(from, 1); i < bytes.length; i++) {
    if (bytes[i] !== 10) continue;
    // "\n\n" or "\n\r\n": a blank line (servers that end lines with a bare LF are read too).
    if (bytes[i - 1] === 10) return i + 1;
    if (bytes[i - 1] === 13 && i >= 2 && bytes[i - 2] === 10) return i + 1;
  }
  return -1;
}

/** One connection to one origin, its socket's `data`. */
class Connection {
  socket: Socket<Connection> | undefined = undefined;
  exchange: Exchange | undefined = undefined;
  idleSince = 0;
  /** It has carried an answer before: a close before this request's first byte may be the upstream's idle close. */
  reused = false;
  closed = false;

  constructor(
    readonly pool: Http1Client,
    readonly origin: string,
  ) {}
}

const HANDLERS: Readonly<SocketHandler<Connection>> = {
  binaryType: "uint8array" as const,
  open(socket: Socket<Connection>) {
    socket.data.socket = socket;
  },
  data(socket: Socket<Connection>, data: Uint8Array) {
    const conn = socket.data;
    if (conn.exchange) conn.exchange.received(data);
    // Bytes on an idle connection: the upstream is not speaking HTTP/1.1 keep-alive as it should.
    else socket.terminate();
  },
  drain(socket: Socket<Connection>) {
    socket.data.exchange?.writeRest();
  },
  close(socket: Socket<Connection>, error?: Error) {
    const conn = socket.data;
    conn.closed = true;
    conn.pool.forget(conn);
    conn.exchange?.connectionClosed(error);
  },
  error(socket: Socket<Connection>, error: Error) {
    const conn = socket.data;
    conn.exchange?.connectionClosed(error);
    socket.terminate();
  },
};

/** One request and its answer on one connection. */
class Exchange {
  private conn: Connection | undefined = undefined;
  private request: Uint8Array;
  private written = 0;
  private retried = false;
  private gotBytes = false;
  private state: "head" | "body" | "done" = "head";
  // A head not yet whole: its bytes so far, the first headLength of this buffer.
  private head: Uint8Array | undefined = undefined;
  private headLength = 0;
  private scanFrom = 0;
  private framing: Framing = "none";
  private remaining = 0;
  private reusable = true;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined = undefined;
  private paused = false;
  // Chunked encoding: what is being read, and the size line read so far.
  private chunkState: "size" | "data" | "data-end" | "trailer" = "size";
  private line = "";
  private resolve!: (answer: Http1Answer) => void;
  private reject!: (error: unknown) => void;
  readonly answer: Promise<Http1Answer>;

  constructor(
    private readonly client: Http1Client,
    private readonly target: Target,
    init: Http1Init,
  ) {
    this.request = requestBytes(target, init);
    this.answer = new Promise<Http1Answer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.signal = init.signal;
  }

  private readonly signal: AbortSignal;

  start(): void {
    if (this.signal.aborted) {
      this.reject(this.signal.reason);
      return;
    }
    // The exchange itself is the listener (handleEvent): no function made a request.
    this.signal.addEventListener("abort", this);
    this.send(this.client.idleConnection(this.target.origin));
  }

  private send(conn: Connection | undefined): void {
    if (conn) {
      this.attach(conn);
      return;
    }
    this.client.connect(this.target).then(
      (fresh) => {
        if (this.state === "done") {
          fresh.socket?.terminate();
          return;
        }
        this.attach(fresh);
      },
      (error: unknown) => this.fail(error),
    );
  }

  private attach(conn: Connection): void {
    this.conn = conn;
    conn.exchange = this;
    // Closed between its opening and now (an upstream that accepts and hangs up at once): its
    // close found no exchange to tell.
    if (conn.closed) {
      this.connectionClosed(undefined);
      return;
    }
    conn.socket!.ref();
    this.written = 0;
    this.writeRest();
  }

  writeRest(): void {
    const socket = this.conn?.socket;
    if (!socket || this.written >= this.request.length) return;
    const wrote = socket.write(this.request, this.written, this.request.length - this.written);
    if (wrote < 0) return; // closed: close() reports it
    this.written += wrote;
  }

  handleEvent(): void {
    this.fail(this.signal.reason);
  }

  received(data: Uint8Array): void {
    this.gotBytes = true;
    try {
      if (this.state === "head") this.readHead(data);
      else if (this.state === "body") this.readBody(data, 0);
      else this.cut();
    } catch (error) {
      this.fail(error);
    }
  }

  private readHead(data: Uint8Array): void {
    const bytes = this.head === undefined ? data : this.appendToHead(data);
    const end = headEnd(bytes, this.scanFrom);
    if (end < 0) {
      if (bytes.length > HEAD_MAX_BYTES) throw malformed(`a head of over ${HEAD_MAX_BYTES} bytes`);
      if (this.head === undefined) {
        this.head = new Uint8Array(Math.max(1024, bytes.length * 2));
        this.head.set(bytes);
        this.headLength = bytes.length;
      }
      this.scanFrom = Math.max(0, bytes.length - 3);
      return;
    }
    if (end > HEAD_MAX_BYTES) throw malformed(`a head of over ${HEAD_MAX_BYTES} bytes`);
    this.head = undefined;
    this.headLength = 0;
    this.scanFrom = 0;
    const parsed = parseHead(latin1(bytes, 0, end));
    if (parsed.status < 200) {
      // 100 Continue, 103 Early Hints: the answer's own head follows.
      if (parsed.status === 101) throw malformed("101 Switching Protocols");
      if (end < bytes.length) this.readHead(bytes.subarray(end));
      return;
    }
    this.begin(parsed, bytes, end);
  }

  /**
   * A head that comes in pieces, kept in a buffer that doubles when full: a head sent a byte at a
   * time costs its length in copies, not its length squared.
   */
  private appendToHead(data: Uint8Array): Uint8Array {
    let head = this.head!;
    const length = this.headLength + data.length;
    if (length > head.length) {
      const grown = new Uint8Array(Math.max(length, head.length * 2));
      grown.set(head.subarray(0, this.headLength));
      head = grown;
      this.head = grown;
    }
    head.set(data, this.headLength);
    this.headLength = length;
    return head.subarray(0, length);
  }

  private begin(parsed: ParsedHead, bytes: Uint8Array, end: number): void {
    const { status, headers } = parsed;
    const connection = headers.get("connection")?.toLowerCase() ?? "";
    this.reusable = parsed.http11
      ? !connection.includes("close")
      : connection.includes("keep-alive");
    const transfer = headers.get("transfer-encoding");
    const length = headers.get("content-length");
    if (status === 204 || status === 205 || status === 304) this.framing = "none";
    else if (transfer !== null) {
      const codings = transfer.toLowerCase().split(",");
      this.framing = codings[codings.length - 1]!.trim() === "chunked" ? "chunked" : "close";
    } else if (length !== null && CONTENT_LENGTH.test(length)) {
      this.framing = "length";
      this.remaining = Number(length);
    } else if (length !== null) {
      // A list of the same length repeated ("5, 5") is one length (RFC 9110, 8.6); anything else is refused.
      const values = new Set(length.split(",").map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!))
        throw malformed(`content-length "${length.slice(0, 40)}"`);
      this.framing = "length";
      this.remaining = Number(only);
    } else this.framing = "close";
    if (this.framing === "close") this.reusable = false;
    // A body that came whole with its head is handed over as bytes: no stream for most answers.
    const rest = bytes.length - end;
    if (this.framing === "none" || (this.framing === "length" && rest >= this.remaining)) {
      const body = this.framing === "none" ? null : bytes.slice(end, end + this.remaining);
      if (rest > this.remaining || (this.framing === "none" && rest > 0)) this.reusable = false;
      this.remaining = 0;
      this.state = "done";
      this.finish();
      this.resolve({ head: parsed, bytes: body });
      return;
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.resumeReading(),
        cancel: () => this.cut(),
      },
      { highWaterMark: BODY_BUFFER_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    this.state = "body";
    this.resolve({ head: parsed, body: stream });
    if (rest > 0) this.readBody(bytes, end);
  }

  private readBody(data: Uint8Array, from: number): void {
    if (this.framing === "close") this.deliver(from === 0 ? data : data.subarray(from));
    else if (this.framing === "length") {
      const take = Math.min(this.remaining, data.length - from);
      if (take > 0) this.deliver(data.subarray(from, from + take));
      this.remaining -= take;
      if (from + take < data.length) this.reusable = false;
      if (this.remaining === 0) this.endBody();
    } else this.readChunked(data, from);
  }

  private readChunked(data: Uint8Array, from: number): void {
    let at = from;
    while (at < data.length && this.state === "body") {
      if (this.chunkState === "data") {
        const take = Math.min(this.remaining, data.length - at);
        this.deliver(data.subarray(at, at + take));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.chunkState = "data-end";
        continue;
      }
      // A line: a chunk's size, the CRLF after its data, or a trailer.
      const newline = data.indexOf(10, at);
      const stop = newline < 0 ? data.length : newline;
      this.line += latin1(data, at, stop);
      if (this.line.length > 4096) throw malformed("a chunk line of over 4 KB");
      at = stop + 1;
      if (newline < 0) break;
      const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
      this.line = "";
      if (this.chunkState === "data-end") {
        if (line !== "") throw malformed("no line end after a chunk");
        this.chunkState = "size";
      } else if (this.chunkState === "size") {
        const size = line.split(";", 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw malformed(`chunk size "${size.slice(0, 20)}"`);
        this.remaining = Number.parseInt(size, 16);
        this.chunkState = this.remaining === 0 ? "trailer" : "data";
      } else if (line === "") {
        if (at < data.length) this.reusable = false;
        this.endBody();
      }
    }
  }

  private deliver(chunk: Uint8Array): void {
    if (chunk.length === 0 || !this.controller) return;
    this.controller.enqueue(chunk);
    if ((this.controller.desiredSize ?? 1) <= 0 && !this.paused) {
      this.paused = true;
      this.conn?.socket?.pause();
    }
  }

  private resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.socket?.resume();
  }

  private endBody(): void {
    this.state = "done";
    this.controller?.close();
    this.finish();
  }

  /** The answer is whole: the connection goes back to the pool, or is closed. */
  private finish(): void {
    this.signal.removeEventListener("abort", this);
    const conn = this.conn;
    if (!conn) return;
    this.conn = undefined;
    conn.exchange = undefined;
    if (this.paused) conn.socket?.resume();
    if (this.reusable && this.written >= this.request.length && !conn.closed)
      this.client.keep(conn);
    else conn.socket?.terminate();
  }

  connectionClosed(error: Error | undefined): void {
    if (this.state === "done") return;
    const conn = this.conn;
    // A reused connection the upstream closed before the request was all written (it closed it
    // idle as the request went out): once more on a new one. Never one written whole: the upstream
    // may have run it, and a POST must not run twice (RFC 9112, 9.3.1; fetch does not either).
    if (
      this.state === "head" &&
      !this.gotBytes &&
      conn?.reused &&
      this.written < this.request.length &&
      !this.retried
    ) {
      this.retried = true;
      if (conn) conn.exchange = undefined;
      this.conn = undefined;
      this.send(undefined);
      return;
    }
    // A body framed by the close ends with it, reset or not (as fetch reads it), and so does a
    // chunked one closed after its last chunk without the final blank line.
    if (
      this.state === "body" &&
      (this.framing === "close" || (this.framing === "chunked" && this.chunkState === "trailer"))
    ) {
      this.endBody();
      return;
    }
    this.fail(
      error ??
        connectionError(
          "ECONNRESET",
          this.state === "head"
            ? "the connection closed before an answer"
            : "the connection closed before the answer's end",
        ),
    );
  }

  /** Aborted, or broken: the socket is cut, whoever waits hears why. */
  private fail(error: unknown): void {
    if (this.state === "done") return;
    const inBody = this.state === "body";
    this.state = "done";
    this.signal.removeEventListener("abort", this);
    if (inBody) this.controller?.error(error);
    else this.reject(error);
    this.cut();
  }

  /** Drops the connection: the reader cancelled the body, or the exchange failed. */
  private cut(): void {
    if (this.state !== "done") {
      this.state = "done";
      this.signal.removeEventListener("abort", this);
    }
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    conn.exchange = undefined;
    conn.socket?.terminate();
  }
}

interface ParsedHead extends UpstreamHead {
  readonly http11: boolean;
}

function parseHead(text: string): ParsedHead {
  // Read by index rather than split into lines and matched: a head is read for every answer, and
  // each line, slice and match was a string or an array of its own (BENCHMARKS.md, issue 20).
  let next = text.indexOf("\n");
  if (next < 0) next = text.length;
  const head = statusOf(text, contentEnd(text, 0, next));
  for (let start = next + 1; start < text.length; start = next + 1) {
    next = text.indexOf("\n", start);
    if (next < 0) next = text.length;
    const end = contentEnd(text, start, next);
    if (end === start) continue;
    const colon = text.indexOf(":", start);
    if (colon <= start || colon >= end)
      throw malformed(`header line "${text.slice(start, Math.min(end, start + 40))}"`);
    try {
      // Headers strips the value's leading and trailing spaces and tabs itself (as fetch's do).
      head.headers.append(text.slice(start, colon), text.slice(colon + 1, end));
    } catch {
      throw malformed(`header "${text.slice(start, Math.min(colon, start + 40))}"`);
    }
  }
  return head;
}

/** The end of a line's content: before its "\r\n", or its bare "\n" at `newline`. */
function contentEnd(text: string, start: number, newline: number): number {
  return newline > start && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
}

/** The status line (up to `end`): "HTTP/1.x", one or more spaces, three digits, then a space and a reason or nothing. */
function statusOf(text: string, end: number): ParsedHead {
  const version = text.charCodeAt(7);
  let at = 8;
  while (at < end && text.charCodeAt(at) === 32) at++;
  const digits = at;
  while (at < end && at < digits + 3 && isDigit(text.charCodeAt(at))) at++;
  if (
    !text.startsWith("HTTP/1.", 0) ||
    end < 12 ||
    (version !== 48 && version !== 49) ||
    digits === 8 ||
    at !== digits + 3 ||
    (at < end && text.charCodeAt(at) !== 32)
  )
    throw malformed(`status line "${text.slice(0, Math.min(end, 40))}"`);
  const status =
    (text.charCodeAt(digits) - 48) * 100 +
    (text.charCodeAt(digits + 1) - 48) * 10 +
    (text.charCodeAt(digits + 2) - 48);
  if (status < 100 || status > 599) throw malformed(`status ${status}`);
  // A reason phrase the runtime would refuse in a Response (control characters) is dropped.
  const reason = at < end ? text.slice(at + 1, end) : "";
  // A CR inside the line is not a line's end: refused, as the pattern this replaced refused it.
  if (reason.includes("\r")) throw malformed(`status line "${text.slice(0, Math.min(end, 40))}"`);
  return {
    status,
    statusText: REASON_PHRASE.test(reason) ? reason : "",
    ok: status >= 200 && status < 300,
    http11: version === 49,
    headers: new Headers(),
  };
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A request's head as its headers are written into it: forEach's `this`, so no entry arrays or closure a request. */
interface HeadBeingWritten {
  text: string;
  agent: boolean;
  accept: boolean;
}

function writeHeader(this: HeadBeingWritten, value: string, name: string): void {
  if (OWN_HEADERS.has(name)) return;
  if (name === "user-agent") this.agent = true;
  else if (name === "accept") this.accept = true;
  this.text += `${name}: ${value}\r\n`;
}

function requestBytes(target: Target, init: Http1Init): Uint8Array {
  const written: HeadBeingWritten = {
    text: `${init.method} ${target.path} HTTP/1.1\r\nhost: ${target.host}\r\nconnection: keep-alive\r\n`,
    agent: false,
    accept: false,
  };
  const { headers } = init;
  if (headers instanceof Headers) headers.forEach(writeHeader, written);
  else for (const name of Object.keys(headers)) writeHeader.call(written, headers[name]!, name);
  let head = written.text;
  if (!written.agent) head += `user-agent: ${DEFAULT_USER_AGENT}\r\n`;
  if (!written.accept) head += "accept: */*\r\n";
  const { body } = init;
  // Header values are bytes (a Headers object holds each as a character per byte): written as
  // such, not UTF-8 encoded a second time.
  const ascii = !NOT_ASCII.test(head);
  if (typeof body === "string") {
    const bodyBytes = Buffer.byteLength(body);
    // One encode of head and body together, one buffer and one write, when the head is ASCII.
    if (ascii) return encoder.encode(`${head}content-length: ${bodyBytes}\r\n\r\n${body}`);
    return concatBytes(
      Buffer.from(`${head}content-length: ${bodyBytes}\r\n\r\n`, "latin1"),
      encoder.encode(body),
    );
  }
  const headBytes = Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`, "latin1");
  return concatBytes(headBytes, body);
}

/**
 * The client: idle connections per origin. One per UpstreamClient (a runtime), closed with it.
 */
export class Http1Client {
  private readonly idle = new Map<string, Connection[]>();
  private readonly targets = new Map<string, Target>();
  private closedForGood = false;

  /** A POST (or DELETE) to an http: URL. */
  request(url: string, init: Http1Init): Promise<Http1Answer> {
    const target = this.targetOf(url);
    if (!target)
      return Promise.reject(new TypeError(`levity's HTTP/1.1 client does not call ${url}`));
    const exchange = new Exchange(this, target, init);
    exchange.start();
    return exchange.answer;
  }

  /**
   * Whether this client makes calls to `url`: a plain http: URL without credentials in it (fetch
   * sends those as a Basic authorization; levity leaves that to it).
   */
  handles(url: string): boolean {
    return url.startsWith("http:") && this.targetOf(url) !== undefined;
  }

  private targetOf(url: string): Target | undefined {
    let target = this.targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      if (parsed.protocol !== "http:" || parsed.username || parsed.password) return undefined;
      // Bun.connect takes an IPv6 address without the URL's brackets.
      const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
      target = {
        origin: parsed.origin,
        hostname,
        port: Number(parsed.port) || 80,
        host: parsed.host,
        path: `${parsed.pathname}${parsed.search}`,
      };
      if (this.targets.size >= 1_000) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  /** The newest idle connection to `origin` that is still fit to reuse. */
  idleConnection(origin: string): Connection | undefined {
    const list = this.idle.get(origin);
    if (!list) return undefined;
    const now = performance.now();
    for (let conn = list.pop(); conn; conn = list.pop()) {
      if (!conn.closed && now - conn.idleSince < IDLE_REUSE_MS) return conn;
      conn.socket?.terminate();
    }
    return undefined;
  }

  connect(target: Target): Promise<Connection> {
    const conn = new Connection(this, target.origin);
    return Bun.connect<Connection>({
      hostname: target.hostname,
      port: target.port,
      data: conn,
      socket: HANDLERS,
    }).then((socket) => {
      conn.socket = socket;
      return conn;
    });
  }

  keep(conn: Connection): void {
    if (this.closedForGood) {
      conn.socket?.terminate();
      return;
    }
    conn.reused = true;
    conn.idleSince = performance.now();
    // An idle connection does not hold the process open.
    conn.socket?.unref();
    let list = this.idle.get(conn.origin);
    if (!list) {
      list = [];
      this.idle.set(conn.origin, list);
    }
    if (list.length >= IDLE_PER_ORIGIN) list.shift()?.socket?.terminate();
    list.push(conn);
  }

  /** An idle connection its upstream closed. */
  forget(conn: Connection): void {
    const list = this.idle.get(conn.origin);
    const at = list?.indexOf(conn) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  /** Closes every idle connection; those in use close when their answer ends. */
  close(): void {
    this.closedForGood = true;
    for (const list of this.idle.values()) for (const conn of list) conn.socket?.terminate();
    this.idle.clear();
  }
}
