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
  return typeof (body as Partial<EventEndListener>).eventEnded === "function" ? (body as unknown as EventEndListener) : undefined;
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

/**
 * Decodes an SSE byte stream: `event:` and `data:` fields, multi-line data, `:` comments, CR, LF
 * and CRLF line ends. Each chunk's events are collected in an array and yielded from it: a
 * generator per line, as this was first written, was most of a stream's cost per chunk.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const listener = listenerOf(body);
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  let sawField = false;
  // A trailing CR may be the first half of a CRLF split across chunks; hold it until the next chunk.
  let pendingCR = false;
  const ready: SseEvent[] = [];
  // For a listener: how many line-end characters of this chunk each ready event ends after.
  const ends: number[] = [];
  let lineEnds = 0;
  const cursor = listener ? new LineEndCursor() : undefined;

  const dispatch = (line: string): void => {
    if (line === "") {
      if (sawField && data.length > 0) {
        ready.push({ event, data: data.length === 1 ? data[0]! : data.join("\n") });
        if (listener) ends.push(lineEnds);
      }
      event = undefined;
      data = [];
      sawField = false;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    sawField = true;
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  };

  const feed = (text: string, final: boolean): void => {
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const ch = buffer.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      lineEnds++;
      if (ch === 13 && i === buffer.length - 1 && !final) {
        pendingCR = true;
        dispatch(buffer.slice(start, i));
        start = i + 1;
        continue;
      }
      const line = buffer.slice(start, i);
      if (ch === 13 && buffer.charCodeAt(i + 1) === 10) {
        i++;
        lineEnds++;
      }
      dispatch(line);
      start = i + 1;
    }
    buffer = buffer.slice(start);
    if (final && buffer.length > 0) {
      dispatch(buffer);
      buffer = "";
    }
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
      // Copied out first: the consumer may resume this generator only after each yield.
      const events = ready.splice(0, ready.length);
      if (listener && cursor) {
        const eventEnds = ends.splice(0, ends.length);
        cursor.start(chunk);
        for (let i = 0; i < events.length; i++) {
          listener.eventEnded(cursor.after(eventEnds[i]!));
          yield events[i]!;
        }
      } else for (const e of events) yield e;
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
    }
  }
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
