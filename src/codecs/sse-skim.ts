/*
 * After a same-dialect stream's commit point its bytes go to the client as they are, and its
 * parser reads them only for the usage, an error, the final event and what the answer issues.
 * Most events are plain deltas that say none of these: the skimmer finds them in the bytes as
 * each chunk passes, and only the rest are handed to the parser. The parser then sees whole
 * events in order, as it would have, less the deltas; it decodes, parses and allocates nothing
 * for those.
 *
 * Line ends as the SSE reader (sse.ts) counts them: CR, LF or CRLF; an event ends at an empty
 * line. Conservative by construction: an event is left out only when it lies whole in one chunk,
 * is one `data:` line after at most one `event:` line, and its codec says it may be skipped
 * (which includes being valid JSON: a delta that is not JSON is handed on, and its parser says
 * why).
 */

import { startsWith } from "./json-bytes.ts";

const LF = 0x0a;
const CR = 0x0d;
const DATA_FIELD: readonly number[] = [0x64, 0x61, 0x74, 0x61, 0x3a]; // "data:"
const EVENT_FIELD: readonly number[] = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x3a]; // "event:"

/** Whether an event whose one `data:` line holds bytes[start, end) need not be read. */
export type SkippableData = (bytes: Uint8Array, start: number, end: number) => boolean;

export class SseSkimmer {
  /** Bytes of the line being read. */
  private lineBytes = 0;
  /** A field line has been read since the last empty line: an event is under way. */
  private inEvent = false;
  /** The last byte was a CR: an LF next is the same line end. */
  private afterCR = false;

  /**
   * Whether events may be left out now. Until then (a stream before its commit point) every
   * event is handed on, each as it ends, so that the parser reads them one at a time; set from
   * within `hand`, it applies from the next event of the same chunk on.
   */
  active = true;

  constructor(
    private readonly skippable: SkippableData,
    /** An event longer than this is handed on, for the parser to refuse (event_mb). */
    private readonly eventLimit: number,
  ) {}

  /**
   * Calls `hand(start, end)` for each range of the chunk the parser must read, in order; the
   * bytes between ranges are events it need not. Adjacent events are handed as one range.
   */
  skim(chunk: Uint8Array, hand: (start: number, end: number) => void): void {
    // Kept in locals while the chunk is read, line by line (indexOf finds each line's end).
    let lineBytes = this.lineBytes;
    let inEvent = this.inEvent;
    let afterCR = this.afterCR;
    // An event begun in an earlier chunk is the parser's already: its rest is handed on.
    let continued = inEvent;
    let segmentStart = 0;
    let runStart = -1;
    const length = chunk.length;
    // Providers end lines with LF: a chunk with no CR at all is searched for LF alone. Each kind
    // is searched for again only once passed, so a chunk is read once whatever its line ends.
    let nextLF = chunk.indexOf(LF);
    let nextCR = chunk.indexOf(CR);
    const hasCR = nextCR !== -1;
    let i = 0;
    while (i < length) {
      if (nextLF !== -1 && nextLF < i) nextLF = chunk.indexOf(LF, i);
      if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i);
      const lineEnd = nextCR === -1 || (nextLF !== -1 && nextLF < nextCR) ? nextLF : nextCR;
      if (lineEnd === -1) {
        lineBytes += length - i;
        inEvent = true;
        afterCR = false;
        break;
      }
      if (lineEnd > i) {
        lineBytes += lineEnd - i;
        inEvent = true;
        afterCR = false;
      }
      const byte = chunk[lineEnd]!;
      i = lineEnd + 1;
      if (byte === LF && afterCR) {
        afterCR = false;
        continue;
      }
      afterCR = byte === CR;
      const emptyLine = lineBytes === 0;
      lineBytes = 0;
      if (!emptyLine || !inEvent) continue;
      // The empty line that ends an event: its CRLF, when whole here, goes with it.
      if (byte === CR && i < length && chunk[i] === LF) {
        i++;
        afterCR = false;
      }
      inEvent = false;
      if (!this.active) {
        // Before the commit point each event goes on as it ends, for its verdict to be read.
        hand(runStart >= 0 ? runStart : segmentStart, i);
        runStart = -1;
      } else {
        const skip = !continued && this.mayLeaveOut(chunk, segmentStart, i, hasCR);
        if (skip && runStart >= 0) {
          hand(runStart, segmentStart);
          runStart = -1;
        } else if (!skip && runStart < 0) runStart = segmentStart;
      }
      continued = false;
      segmentStart = i;
    }
    this.lineBytes = lineBytes;
    this.inEvent = inEvent;
    this.afterCR = afterCR;
    // What is left is an event not yet ended (or line ends between events): the parser's.
    if (segmentStart < length && runStart < 0) runStart = segmentStart;
    if (runStart >= 0) hand(runStart, length);
  }

  /**
   * Whether bytes[start, end) is one whole event that may be skipped: a single data line, after
   * at most one `event:` line (the skimmed dialects' parsers read the type from the data).
   */
  private mayLeaveOut(chunk: Uint8Array, start: number, end: number, hasCR: boolean): boolean {
    if (end - start > this.eventLimit) return false;
    // Line ends left over from the event before (a stray blank line) come first.
    let at = start;
    while (at < end && (chunk[at] === LF || chunk[at] === CR)) at++;
    if (startsWith(chunk, at, end, EVENT_FIELD)) {
      while (at < end && chunk[at] !== LF && chunk[at] !== CR) at++;
      // One line end: LF, CR or CRLF.
      if (at < end && chunk[at] === CR) at++;
      if (at < end && chunk[at] === LF && chunk[at - 1] !== LF) at++;
    }
    if (!startsWith(chunk, at, end, DATA_FIELD)) return false;
    at += DATA_FIELD.length;
    if (at < end && chunk[at] === 0x20) at++;
    let lineEnd = at;
    if (hasCR) while (lineEnd < end && chunk[lineEnd] !== LF && chunk[lineEnd] !== CR) lineEnd++;
    else {
      lineEnd = chunk.indexOf(LF, at);
      if (lineEnd === -1 || lineEnd > end) lineEnd = end;
    }
    // Nothing but the line ends of the data line and the empty line after it.
    for (let i = lineEnd; i < end; i++) if (chunk[i] !== LF && chunk[i] !== CR) return false;
    return this.skippable(chunk, at, lineEnd);
  }
}
