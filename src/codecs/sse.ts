/*
 * Readers for what upstreams stream: Server-Sent Events (OpenAI, Anthropic, Gemini with
 * ?alt=sse) and Gemini's incrementally written JSON array (no alt).
 */

export interface SseEvent {
  event?: string;
  data: string;
}

/**
 * Decodes an SSE byte stream: `event:` and `data:` fields, multi-line data, `:` comments, CR, LF
 * and CRLF line ends. Each chunk's events are collected in an array and yielded from it: a
 * generator per line, as this was first written, was most of a stream's cost per chunk.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: string | undefined;
  let data: string[] = [];
  let sawField = false;
  // A trailing CR may be the first half of a CRLF split across chunks; hold it until the next chunk.
  let pendingCR = false;
  const ready: SseEvent[] = [];

  const dispatch = (line: string): void => {
    if (line === "") {
      if (sawField && data.length > 0) ready.push({ event, data: data.length === 1 ? data[0]! : data.join("\n") });
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
      if (ch === 13 && i === buffer.length - 1 && !final) {
        pendingCR = true;
        dispatch(buffer.slice(start, i));
        start = i + 1;
        continue;
      }
      dispatch(buffer.slice(start, i));
      if (ch === 13 && buffer.charCodeAt(i + 1) === 10) i++;
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
    if (pendingCR) {
      pendingCR = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    feed(text, false);
    if (ready.length > 0) {
      // Copied out first: the consumer may resume this generator only after each yield.
      const events = ready.splice(0, ready.length);
      for (const e of events) yield e;
    }
  }
  feed(decoder.decode(), true);
  // A stream that ends without the blank line after its last event still delivers that event.
  dispatch("");
  for (const e of ready) yield e;
}

/**
 * Decodes a JSON array written incrementally (`[{...},\r\n{...}]`), yielding each element as soon
 * as it is complete. Strings are tracked so brackets inside them do not count.
 */
export async function* readJsonArray(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffer = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let elementStart = -1;
  let scanned = 0;
  let opened = false;

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
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
        if (depth === 0 && opened && ch === "]") return;
        if (depth === 0) continue;
        depth--;
        if (depth === 0 && elementStart >= 0) {
          yield JSON.parse(buffer.slice(elementStart, i + 1));
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
