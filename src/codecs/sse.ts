import { DEFAULT_UPSTREAM_LIMITS, overLimit } from "../upstream-limits.ts";

/*
 * Readers for what upstreams stream: Server-Sent Events (OpenAI, Anthropic, Gemini with
 * ?alt=sse) and Gemini's incrementally written JSON array (no alt).
 */

export interface SseEvent {
  event?: string;
  data: string;
}

/**
 * An input that wants to know where each event it delivered ended: the byte offset after the
 * event's last byte, within the chunk the reader took last. A same-dialect stream uses it to
 * forward the upstream's bytes up to its final event and not a byte further.
 */
export interface EventEndListener {
  eventEnded(offsetInChunk: number): void;
}

function listenerOf(body: AsyncIterable<Uint8Array>): EventEndListener | undefined {
  return typeof (body as Partial<EventEndListener>).eventEnded === "function"
    ? (body as unknown as EventEndListener)
    : undefined;
}

/**
 * Offsets after the n-th line-end byte (CR or LF) of a chunk, for n rising: each search goes on
 * from the last, so a chunk is scanned once whatever the number of events in it. Neither byte
 * occurs inside a multi-byte UTF-8 character, so counting them in the decoded text and in the
 * bytes agree.
 */
class LineEndCursor {
  private chunk: Uint8Array = new Uint8Array(0);
  private index = 0;
  private seen = 0;
  start(chunk: Uint8Array): void {
    this.chunk = chunk;
    this.index = 0;
    this.seen = 0;
  }
  after(n: number): number {
    const chunk = this.chunk;
    while (this.seen < n && this.index < chunk.length) {
      const byte = chunk[this.index++];
      if (byte === 10 || byte === 13) this.seen++;
    }
    return this.index;
  }
}

/** An input that says how long one line or event may be (the upstream's proxy.upstream_limits.event_mb). */
export interface EventLimited {
  eventLimit: { bytes: number; upstream: string };
}

/** Without a limit from the input: 16 MB, as proxy.upstream_limits.event_mb's default. */
const DEFAULT_EVENT_LIMIT: Readonly<EventLimited["eventLimit"]> = {
  bytes: DEFAULT_UPSTREAM_LIMITS.eventBytes,
  upstream: "upstream",
};

function limitOf(body: AsyncIterable<Uint8Array>): EventLimited["eventLimit"] {
  return (body as Partial<EventLimited>).eventLimit ?? DEFAULT_EVENT_LIMIT;
}

/** Tells a stream's body how long its events may be: readSse and readJsonArray read it from there. */
export function withEventLimit<T extends AsyncIterable<Uint8Array>>(
  body: T,
  bytes: number,
  upstream: string,
): T {
  return Object.assign(body, { eventLimit: { bytes, upstream } });
}

/** Whether a line's field (before its colon, or the whole line without one) is `name`. */
function fieldIs(line: string, colon: number, name: string): boolean {
  return colon === -1 ? line === name : colon === name.length && line.startsWith(name);
}

/** A line's value: after its colon and one space there, empty for a line without a colon. */
function fieldValue(line: string, colon: number): string {
  if (colon === -1) return "";
  return line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1);
}

/**
 * Decodes an SSE byte stream: `event:` and `data:` fields, multi-line data, `:` comments, CR, LF
 * and CRLF line ends. Each chunk's events are collected in an array and yielded from it: a
 * generator per line, as this was first written, was most of a stream's cost per chunk.
 *
 * Each chunk's text is scanned once: a line not yet ended is kept as pieces and joined when its
 * end arrives (rescanning, or growing one string, made a 40 MB line cost 18 s). A line, or the
 * data of one event, longer than the input's event limit ends the stream with a broken failure (UpstreamFailed).
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const listener = listenerOf(body);
  const limit = limitOf(body);
  // The line not yet ended, in pieces, and its length (in UTF-16 units, about bytes for SSE's ASCII-heavy text).
  let partial: string[] = [];
  let partialLength = 0;
  let event: string | undefined;
  // Emptied, not made again, after each event: its lines are joined (or taken) when it ends.
  const data: string[] = [];
  let dataLength = 0;
  let sawField = false;
  // A trailing CR may be the first half of a CRLF split across chunks; hold it until the next chunk.
  let pendingCR = false;
  const ready: SseEvent[] = [];
  // For a listener: how many line-end characters of this chunk each ready event ends after.
  const ends: number[] = [];
  let lineEnds = 0;
  const cursor = listener ? new LineEndCursor() : undefined;
  const tooLong = (what: string) => overLimit(limit.upstream, what, limit.bytes, "event_mb");

  const dispatch = (line: string): void => {
    if (line === "") {
      if (sawField && data.length > 0) {
        ready.push({ event, data: data.length === 1 ? data[0]! : data.join("\n") });
        if (listener) ends.push(lineEnds);
      }
      event = undefined;
      data.length = 0;
      dataLength = 0;
      sawField = false;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(":");
    sawField = true;
    // The field compared in place and the value cut once (past one leading space): cutting the
    // field out, and the value twice, were two strings more for every event.
    if (fieldIs(line, colon, "event")) event = fieldValue(line, colon);
    else if (fieldIs(line, colon, "data")) {
      const value = fieldValue(line, colon);
      dataLength += value.length;
      if (dataLength > limit.bytes) throw tooLong("an event");
      data.push(value);
    }
  };

  /** The line that ends at `end` of this text: what was pending before it, and the text from `start`. */
  const lineOf = (text: string, start: number, end: number): string => {
    if (partialLength === 0) return text.slice(start, end);
    partial.push(text.slice(start, end));
    const line = partial.join("");
    partial = [];
    partialLength = 0;
    return line;
  };

  const feed = (text: string, final: boolean): void => {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      lineEnds++;
      const line = lineOf(text, start, i);
      if (ch === 13 && i === text.length - 1 && !final) {
        pendingCR = true;
        dispatch(line);
        start = i + 1;
        continue;
      }
      if (ch === 13 && text.charCodeAt(i + 1) === 10) {
        i++;
        lineEnds++;
      }
      dispatch(line);
      start = i + 1;
    }
    if (start < text.length) {
      partialLength += text.length - start;
      if (partialLength > limit.bytes) throw tooLong("a line");
      partial.push(start === 0 ? text : text.slice(start));
    }
    if (final && partialLength > 0) dispatch(lineOf("", 0, 0));
  };

  for await (const chunk of body) {
    let text = decoder.decode(chunk, { stream: true });
    // The LF of a CRLF whose CR ended the last chunk: it is in the bytes, not in the text.
    lineEnds = 0;
    if (pendingCR) {
      pendingCR = false;
      if (text.charCodeAt(0) === 10) {
        text = text.slice(1);
        lineEnds = 1;
      }
    }
    feed(text, false);
    if (ready.length > 0) {
      // Yielded from the lists themselves, emptied after: only this generator fills them, and
      // it does so only between chunks (a copy of each was two lists for every chunk).
      if (listener && cursor) {
        cursor.start(chunk);
        for (let i = 0; i < ready.length; i++) {
          listener.eventEnded(cursor.after(ends[i]!));
          yield ready[i]!;
        }
      } else for (let i = 0; i < ready.length; i++) yield ready[i]!;
      ready.length = 0;
      ends.length = 0;
    }
  }
  feed(decoder.decode(), true);
  // A stream that ends without the blank line after its last event still delivers that event.
  dispatch("");
  ends.length = 0;
  for (const e of ready) yield e;
}

/**
 * Decodes a JSON array written incrementally (`[{...},\r\n{...}]`), yielding each element as soon
 * as it is complete. Strings are tracked so brackets inside them do not count.
 */
export async function* readJsonArray(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  const listener = listenerOf(body);
  const limit = limitOf(body);
  // For a listener: the bytes of a character split across chunks that the decoder carries into
  // the next chunk's text, and how many of this chunk's bytes its text holds.
  let carriedIn = 0;
  let bytes = 0;
  let buffer = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let elementStart = -1;
  let scanned = 0;
  let opened = false;

  for await (const chunk of body) {
    const text = decoder.decode(chunk, { stream: true });
    if (listener) {
      // Offsets are counted in the text scanned so far, whose last part is this chunk's text
      // (nothing before it in the buffer is scanned again): its bytes less what came from earlier.
      const textBytes = utf8Length(text);
      bytes = textBytes - carriedIn;
      carriedIn = chunk.length - bytes;
    }
    buffer += text;
    for (let i = scanned; i < buffer.length; i++) {
      const ch = buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === "\\") escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') {
        inString = true;
      } else if (ch === "[" || ch === "{") {
        if (!opened && ch === "[") {
          opened = true;
          continue;
        }
        if (depth === 0) elementStart = i;
        depth++;
      } else if (ch === "]" || ch === "}") {
        // The array's own closing bracket ends it, however long the connection stays open after.
        if (depth === 0 && opened && ch === "]") {
          if (listener) listener.eventEnded(Math.max(0, bytes - utf8Length(buffer.slice(i + 1))));
          return;
        }
        if (depth === 0) continue;
        depth--;
        if (depth === 0 && elementStart >= 0) {
          const element = JSON.parse(buffer.slice(elementStart, i + 1));
          if (listener) listener.eventEnded(Math.max(0, bytes - utf8Length(buffer.slice(i + 1))));
          yield element;
          buffer = buffer.slice(i + 1);
          i = -1;
          elementStart = -1;
        }
      }
    }
    scanned = buffer.length;
    if (elementStart > 0) {
      buffer = buffer.slice(elementStart);
      scanned -= elementStart;
      elementStart = 0;
    } else if (elementStart < 0 && !inString) {
      // Between elements (whitespace, commas): nothing scanned needs keeping.
      buffer = "";
      scanned = 0;
    }
    if (buffer.length > limit.bytes)
      throw overLimit(limit.upstream, "an element of its JSON array", limit.bytes, "event_mb");
  }
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
