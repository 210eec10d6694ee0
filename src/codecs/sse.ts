import type { StreamEvent } from "../ir.ts";
import { DEFAULT_UPSTREAM_LIMITS, overLimit } from "../upstream-limits.ts";

/*
 * Readers for what upstreams stream: Server-Sent Events (OpenAI, Anthropic, Gemini with
 * ?alt=sse) and Gemini's incrementally written JSON array (no alt).
 *
 * Both are pushed to: the caller hands each chunk in as it arrives and the events come out at
 * once, through the dialect's handler. A stream's reader (pipeline/tap.ts for a forwarded one,
 * pipeline/event-batches.ts for a translated one) reads its upstream and feeds the parser in one
 * pass, with no async iterator, queue or promise between them.
 */

/** How long one line, event or element may be (the upstream's proxy.upstream_limits.event_mb), and whose. */
export interface EventLimit {
  bytes: number;
  upstream: string;
}

/** Without a limit from the caller: 16 MB, as proxy.upstream_limits.event_mb's default. */
const DEFAULT_EVENT_LIMIT: Readonly<EventLimit> = {
  bytes: DEFAULT_UPSTREAM_LIMITS.eventBytes,
  upstream: "upstream",
};

/** Hands each stream event, as the IR says it, to whoever reads the stream. */
export type Emit = (event: StreamEvent) => void;

/** A stream's bytes, pushed in as they arrive, parsed at once. */
export interface StreamParser {
  /**
   * Reads bytes[start, end). Where an event here ended the answer (the dialect's final event),
   * the offset in `bytes` just past it: nothing after it is the answer's, and nothing more may
   * be pushed (a push after it is ignored). Otherwise -1. Throws when the stream is broken (not
   * the protocol, over a limit).
   */
  push(bytes: Uint8Array, start: number, end: number): number;
  /** The body has ended (before any final event): finishes the answer, or throws why it is cut short. */
  end(): void;
}

/** A dialect's reading of its SSE events. */
export interface SseHandler {
  /** One event: its data lines joined by LF, and its `event:` name. True when it ends the answer. */
  event(data: string, name: string | undefined): boolean;
  /** The stream ended without an event that ends the answer: finish it, or throw why it is cut short. */
  ended(): void;
}

/** A dialect's reading of the elements of a JSON array stream (Gemini without alt=sse). */
export interface ElementHandler {
  /** One element, parsed. True when it ends the answer. */
  element(value: unknown): boolean;
  /** The array closed, or the body ended: finish the answer, or throw why it is cut short. */
  ended(): void;
}

const LF = 10;
const CR = 13;

/**
 * The offset in bytes[start, end) just after its n-th line-end byte (CR or LF). Neither byte
 * occurs inside a multi-byte UTF-8 character, so counting them in the decoded text and in the
 * bytes agree. Asked once a stream, for its final event.
 */
function afterLineEnds(bytes: Uint8Array, start: number, end: number, n: number): number {
  let seen = 0;
  let i = start;
  while (seen < n && i < end) {
    const byte = bytes[i++];
    if (byte === LF || byte === CR) seen++;
  }
  return i;
}

/** Made once: an options object for every chunk was an object a chunk. */
const STREAMING: Readonly<{ stream: boolean }> = Object.freeze({ stream: true });

/** bytes[start, end) as text, on from the decoder's last call (a character split between calls comes out whole). */
function decodeRange(decoder: TextDecoder, bytes: Uint8Array, start: number, end: number): string {
  return decoder.decode(
    start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end),
    STREAMING,
  );
}

/** Where the first colon of the line text[start, end) is; -1 without one (the search stays in the line). */
function colonIn(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) === 58 /* : */) return i;
  return -1;
}

/** Whether the field of the line text[start, end) (before its colon, or the whole line without one) is `name`. */
function fieldIs(text: string, start: number, end: number, colon: number, name: string): boolean {
  const fieldEnd = colon === -1 ? end : colon;
  return fieldEnd - start === name.length && text.startsWith(name, start);
}

/** The value of the line ending at `end`: after its colon and one space there, empty for a line without a colon. */
function fieldValue(text: string, end: number, colon: number): string {
  if (colon === -1) return "";
  return text.slice(
    colon + 1 < end && text.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1,
    end,
  );
}

/**
 * Decodes an SSE byte stream: `event:` and `data:` fields, multi-line data, `:` comments, CR, LF
 * and CRLF line ends, each event handed to the handler as it ends.
 *
 * Each chunk's text is scanned once: a line not yet ended is kept as pieces and joined when its
 * end arrives (rescanning, or growing one string, made a 40 MB line cost 18 s). A line, or the
 * data of one event, longer than the limit throws a broken failure (UpstreamFailed).
 */
export class SseParser implements StreamParser {
  private readonly decoder = new TextDecoder();
  /** The line not yet ended, in pieces, and its length (in UTF-16 units, about bytes for SSE's ASCII-heavy text). */
  private partial: string[] = [];
  private partialLength = 0;
  private name: string | undefined;
  /** Emptied, not made again, after each event: its lines are joined (or taken) when it ends. */
  private readonly data: string[] = [];
  private dataLength = 0;
  private sawField = false;
  /** A trailing CR may be the first half of a CRLF split across chunks: its LF is skipped. */
  private pendingCR = false;
  /** Line-end characters of the chunk being read, up to the one just read. */
  private lineEnds = 0;
  private stopped = false;

  constructor(
    private readonly handler: SseHandler,
    private readonly limit: Readonly<EventLimit> = DEFAULT_EVENT_LIMIT,
  ) {}

  push(bytes: Uint8Array, start: number, end: number): number {
    if (this.stopped) return -1;
    let text = decodeRange(this.decoder, bytes, start, end);
    this.lineEnds = 0;
    // The LF of a CRLF whose CR ended the last chunk: it is in the bytes, not in the text.
    if (this.pendingCR) {
      this.pendingCR = false;
      if (text.charCodeAt(0) === LF) {
        text = text.slice(1);
        this.lineEnds = 1;
      }
    }
    if (!this.feed(text, false)) return -1;
    return afterLineEnds(bytes, start, end, this.lineEnds);
  }

  end(): void {
    if (this.stopped) return;
    if (this.feed(this.decoder.decode(), true)) return;
    // A stream that ends without the blank line after its last event still delivers that event.
    if (this.dispatch("", 0, 0)) return;
    this.stopped = true;
    this.handler.ended();
  }

  /** Reads the text's lines; true when an event in it ended the answer (lineEnds then says where). */
  private feed(text: string, final: boolean): boolean {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== LF && ch !== CR) continue;
      this.lineEnds++;
      if (ch === CR && i === text.length - 1 && !final) {
        this.pendingCR = true;
        return this.dispatchLine(text, start, i);
      }
      const end = i;
      if (ch === CR && text.charCodeAt(i + 1) === LF) {
        i++;
        this.lineEnds++;
      }
      if (this.dispatchLine(text, start, end)) return true;
      start = i + 1;
    }
    if (start < text.length) {
      this.partialLength += text.length - start;
      if (this.partialLength > this.limit.bytes) throw this.tooLong("a line");
      this.partial.push(start === 0 ? text : text.slice(start));
    }
    if (final && this.partialLength > 0) return this.dispatchLine("", 0, 0);
    return false;
  }

  /**
   * The line that ends at `end` of this text, with what was pending before it. Read in place
   * where nothing was pending (nearly every line): a string cut for the line, and another for its
   * value, were two strings an event where one does.
   */
  private dispatchLine(text: string, start: number, end: number): boolean {
    if (this.partialLength === 0) return this.dispatch(text, start, end);
    this.partial.push(text.slice(start, end));
    const line = this.partial.join("");
    this.partial = [];
    this.partialLength = 0;
    return this.dispatch(line, 0, line.length);
  }

  /** One line, text[start, end); true when it ended an event that ended the answer. */
  private dispatch(text: string, start: number, end: number): boolean {
    if (start === end) {
      const data = this.data;
      const ended = this.sawField && data.length > 0;
      const value = !ended ? "" : data.length === 1 ? data[0]! : data.join("\n");
      const name = this.name;
      this.name = undefined;
      data.length = 0;
      this.dataLength = 0;
      this.sawField = false;
      if (ended && this.handler.event(value, name)) this.stopped = true;
      return this.stopped;
    }
    if (text.charCodeAt(start) === 58 /* : */) return false;
    const colon = colonIn(text, start, end);
    this.sawField = true;
    // The field compared in place and the value cut once (past one leading space): cutting the
    // field out, and the value twice, were two strings more for every event.
    if (fieldIs(text, start, end, colon, "event")) this.name = fieldValue(text, end, colon);
    else if (fieldIs(text, start, end, colon, "data")) {
      const value = fieldValue(text, end, colon);
      this.dataLength += value.length;
      if (this.dataLength > this.limit.bytes) throw this.tooLong("an event");
      this.data.push(value);
    }
    return false;
  }

  private tooLong(what: string): Error {
    return overLimit(this.limit.upstream, what, this.limit.bytes, "event_mb");
  }
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Decodes a JSON array written incrementally (`[{...},\r\n{...}]`), handing on each element as
 * soon as it is complete. Strings are tracked so brackets inside them do not count. The array's
 * own closing bracket ends the stream, however long the connection stays open after.
 */
export class JsonArrayParser implements StreamParser {
  private readonly decoder = new TextDecoder();
  /** The bytes of a character split across chunks that the decoder carries into the next chunk's text. */
  private carriedIn = 0;
  private buffer = "";
  private depth = 0;
  private inString = false;
  private escaped = false;
  private elementStart = -1;
  private scanned = 0;
  private opened = false;
  private stopped = false;

  constructor(
    private readonly handler: ElementHandler,
    private readonly limit: Readonly<EventLimit> = DEFAULT_EVENT_LIMIT,
  ) {}

  push(bytes: Uint8Array, start: number, end: number): number {
    if (this.stopped) return -1;
    const text = decodeRange(this.decoder, bytes, start, end);
    // Offsets are counted in the text scanned so far, whose last part is this chunk's text
    // (nothing before it in the buffer is scanned again): its bytes less what came from earlier.
    const textBytes = utf8Length(text) - this.carriedIn;
    this.carriedIn = end - start - textBytes;
    this.buffer += text;
    const stopAt = this.scan();
    if (stopAt >= 0)
      return start + Math.max(0, textBytes - utf8Length(this.buffer.slice(stopAt + 1)));
    if (this.buffer.length > this.limit.bytes)
      throw overLimit(
        this.limit.upstream,
        "an element of its JSON array",
        this.limit.bytes,
        "event_mb",
      );
    return -1;
  }

  end(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.handler.ended();
  }

  /** Reads the buffer on from where it was left; where the answer ended in it (the index of its last character), or -1. */
  private scan(): number {
    let buffer = this.buffer;
    for (let i = this.scanned; i < buffer.length; i++) {
      const ch = buffer[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === "\\") this.escaped = true;
        else if (ch === '"') this.inString = false;
        continue;
      }
      if (ch === '"') {
        this.inString = true;
      } else if (ch === "[" || ch === "{") {
        if (!this.opened && ch === "[") {
          this.opened = true;
          continue;
        }
        if (this.depth === 0) this.elementStart = i;
        this.depth++;
      } else if (ch === "]" || ch === "}") {
        if (this.depth === 0 && this.opened && ch === "]") {
          this.buffer = buffer;
          this.stopped = true;
          this.handler.ended();
          return i;
        }
        if (this.depth === 0) continue;
        this.depth--;
        if (this.depth === 0 && this.elementStart >= 0) {
          const element = JSON.parse(buffer.slice(this.elementStart, i + 1));
          if (this.handler.element(element)) {
            this.buffer = buffer;
            this.stopped = true;
            return i;
          }
          buffer = buffer.slice(i + 1);
          i = -1;
          this.elementStart = -1;
        }
      }
    }
    this.scanned = buffer.length;
    if (this.elementStart > 0) {
      buffer = buffer.slice(this.elementStart);
      this.scanned -= this.elementStart;
      this.elementStart = 0;
    } else if (this.elementStart < 0 && !this.inString) {
      // Between elements (whitespace, commas): nothing scanned needs keeping.
      buffer = "";
      this.scanned = 0;
    }
    this.buffer = buffer;
    return -1;
  }
}

export interface SseEvent {
  event?: string;
  data: string;
}

/** A body's SSE events, for a reader that wants them raw (the Responses WebSocket relays each). */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const ready: SseEvent[] = [];
  const parser = new SseParser({
    event(data, name) {
      ready.push({ event: name, data });
      return false;
    },
    ended() {},
  });
  for await (const chunk of body) {
    parser.push(chunk, 0, chunk.length);
    for (let i = 0; i < ready.length; i++) yield ready[i]!;
    ready.length = 0;
  }
  parser.end();
  for (const event of ready) yield event;
}
