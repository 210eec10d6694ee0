import type { StreamEvent, Usage } from "../ir.ts";
import type { Emit, StreamParser } from "../codecs/sse.ts";
import type { GuardedSource, RawRead, ReadResult } from "../upstream/forward.ts";
import { DEFAULT_UPSTREAM_LIMITS, overLimit, type UpstreamLimits } from "../upstream-limits.ts";
import { CommitWatch } from "./first-content.ts";
import { type SkippableData, SseSkimmer } from "../codecs/sse-skim.ts";
import { type Failure, GatewayError } from "../failure.ts";
import type { Lease } from "../pool/lease.ts";
import { type BodyWriter, ClientOutlet, clientBody, READING, type Step } from "./client-body.ts";

/*
 * A same-dialect stream is forwarded byte for byte, but it must still be read: to hold it back
 * until its first content event (the commit point), to learn its usage, and to stop at its final
 * event. One layer does all of it in one pass: each chunk read from the upstream is pushed to the
 * dialect's parser, which reads it at once (codecs/sse.ts), and then goes to the client. Until
 * the commit the chunks are kept; after it, each pull reads the next chunk. The client's body is
 * the only web stream (client-body.ts), and between it and the upstream's reader there is no
 * iterator, queue or `then`: the body's loop awaits the reader's own read and hands it here.
 */

export interface TapVerdict {
  usage?: Usage;
  error?: unknown;
  /** The error is an error event the upstream sent, which the client already has. */
  reported: boolean;
  id?: string;
}

/**
 * What must be done, on the stream's lease, before the client has the final event (a shared pin
 * written): a promise to wait for, or nothing. A function of the lease, not one bound to it: a
 * bound function was one more object a stream.
 */
export type BeforeFinal = (lease: Lease, verdict: TapVerdict) => Promise<void> | undefined;

export type Tapped =
  | { kind: "content"; body: ReadableStream<Uint8Array>; done: Promise<TapVerdict> }
  | { kind: "failed"; failure: Failure };

const NOTHING = new Uint8Array(0);

export async function tapStream(
  source: GuardedSource,
  /** The dialect's parser, handing its events to `emit`. */
  open: (emit: Emit) => StreamParser,
  upstream: string,
  /** The bytes that tell the client, in its own dialect, that the stream broke after the commit. */
  errorBytes: (error: unknown) => Uint8Array,
  limits: Pick<UpstreamLimits, "heldBytes" | "eventBytes"> = DEFAULT_UPSTREAM_LIMITS,
  /** The dialect's plain deltas, which its parser need not read after the commit (sse-skim.ts). */
  skippable?: SkippableData,
  /** Told of the complete answer before its final event goes out; the event waits for what it returns. */
  beforeFinal?: BeforeFinal,
  /** The lease beforeFinal is told of. */
  lease?: Lease,
): Promise<Tapped> {
  const tap = new StreamTap(
    source,
    open,
    upstream,
    errorBytes,
    limits,
    skippable,
    beforeFinal,
    lease,
  );
  const failure = await tap.untilCommit();
  if (failure) {
    await source.cancel().catch(() => {});
    return { kind: "failed", failure };
  }
  return { kind: "content", body: clientBody(tap), done: tap.done };
}

/** One forwarded stream: the parser's listener, and the writer of the client's body. */
class StreamTap implements BodyWriter {
  readonly done: Promise<TapVerdict>;
  private settleDone!: (verdict: TapVerdict) => void;
  private readonly verdict: TapVerdict = { reported: false };
  private readonly watch: CommitWatch;
  private readonly parser: StreamParser;
  private parserStopped = false;
  /** Chunks read before the commit, held for the client, and the next of them to forward. */
  private readonly kept: Uint8Array[] = [];
  private keptNext = 0;
  /** Chunks read so far; a chunk's number is its place among them. */
  private readCount = 0;
  /** Chunks forwarded to the client so far. */
  private forwarded = 0;
  /** Where the final event ended: its chunk's number, and the offset after it there. */
  private finalChunk = -1;
  private finalOffset = 0;
  private readonly skimmer: SseSkimmer | undefined;
  /** The chunk being skimmed and its number, for handRange. */
  private skimming: Uint8Array = NOTHING;
  private skimmingNumber = 0;
  /** beforeFinal has been told (tellFinal). */
  private finalTold = false;
  readonly outlet = new ClientOutlet();

  constructor(
    private readonly source: GuardedSource,
    open: (emit: Emit) => StreamParser,
    private readonly upstream: string,
    private readonly errorBytes: (error: unknown) => Uint8Array,
    /** Every byte before the commit is held for the client (heldBytes): comments or empty events sent for ever before any content would be held for ever. */
    private readonly limits: Pick<UpstreamLimits, "heldBytes" | "eventBytes">,
    skippable: SkippableData | undefined,
    private readonly beforeFinal: BeforeFinal | undefined,
    private readonly lease: Lease | undefined,
  ) {
    this.done = new Promise((resolve) => {
      this.settleDone = resolve;
    });
    this.watch = new CommitWatch(upstream);
    this.parser = open(this.emit);
    // Only an SSE stream is skimmed, and only after its commit point.
    if (skippable) {
      this.skimmer = new SseSkimmer(skippable, limits.eventBytes);
      this.skimmer.active = false;
    }
  }

  /** Every event the parser reads: the commit point's, until it is found, and the usage, id and error always. */
  private readonly emit = (event: StreamEvent): void => {
    const verdict = this.verdict;
    if (event.type === "usage" || event.type === "start" || event.type === "finish")
      verdict.usage = event.usage;
    if (event.type === "start") verdict.id = event.id;
    if (event.type === "error") {
      // An error event the upstream sent is in the bytes the client gets.
      verdict.error = new Error(event.message);
      verdict.reported = true;
    }
    if (!this.watch.verdict) this.watch.see(event);
  };

  /** Reads and keeps chunks until the commit point; what went wrong when there is none. */
  async untilCommit(): Promise<Failure | undefined> {
    const watch = this.watch;
    let keptBytes = 0;
    while (!watch.verdict) {
      let read: ReadResult;
      try {
        read = await this.source.read();
      } catch (error) {
        watch.thrown(error);
        break;
      }
      if (read.done) {
        this.end();
        watch.ended();
        break;
      }
      const chunk = read.value;
      keptBytes += chunk.length;
      const { heldBytes } = this.limits;
      if (keptBytes > heldBytes) {
        watch.thrown(
          overLimit(this.upstream, "its stream's bytes before any content", heldBytes, "held_mb"),
        );
        break;
      }
      this.kept.push(chunk);
      this.readChunk(chunk, this.readCount++);
      // A parser that stopped (at its final event, or broken) gave its verdict or threw one.
      if (this.parserStopped) watch.ended();
    }
    return watch.verdict === "failed" ? watch.failure : undefined;
  }

  /**
   * Chunk `number` to the parser: whole, or for an SSE stream the ranges the skimmer hands on
   * (before the commit every event, one at a time; after it, all but the plain deltas).
   */
  private readChunk(chunk: Uint8Array, number: number): void {
    if (this.parserStopped) return;
    const skimmer = this.skimmer;
    if (!skimmer) {
      this.parse(chunk, number, 0, chunk.length);
      return;
    }
    this.skimming = chunk;
    this.skimmingNumber = number;
    skimmer.skim(chunk, this.handRange);
    this.skimming = NOTHING;
  }

  /** Hands bytes[start, end) of chunk `number` to the parser; a throw stops it, with the error kept. */
  private parse(chunk: Uint8Array, number: number, start: number, end: number): void {
    try {
      const at = this.parser.push(chunk, start, end);
      if (at >= 0) {
        this.finalChunk = number;
        this.finalOffset = at;
        this.stopParser(undefined);
      }
    } catch (error) {
      this.watch.thrown(error);
      this.stopParser(error);
    }
  }

  /** The ranges of the chunk being skimmed that the parser must read (sse-skim.ts). */
  private readonly handRange = (start: number, end: number): void => {
    if (this.parserStopped || this.watch.verdict === "failed") return;
    this.parse(this.skimming, this.skimmingNumber, start, end);
    // From the commit point on, in this chunk too, plain deltas need not be read.
    if (this.watch.verdict === "content") this.skimmer!.active = true;
  };

  /** The body ended cleanly: a complete answer only once the parser has seen the dialect's last event. */
  private end(): void {
    if (this.parserStopped) return;
    try {
      this.parser.end();
      this.stopParser(undefined);
    } catch (error) {
      this.watch.thrown(error);
      this.stopParser(error);
    }
  }

  private stopParser(error: unknown): void {
    if (this.parserStopped) return;
    this.parserStopped = true;
    if (error !== undefined) {
      this.verdict.error = error;
      this.verdict.reported = false;
    }
    this.settleDone(this.verdict);
  }

  // The client's body (client-body.ts): each pull writes the next chunk.

  /** The upstream's read a READING step waits for (client-body.ts awaits it). */
  reading: Promise<RawRead> | undefined = undefined;

  pull(): Step {
    const kept = this.kept;
    if (this.keptNext < kept.length) {
      const chunk = kept[this.keptNext]!;
      // Let go of each kept chunk as it goes.
      kept[this.keptNext++] = NOTHING;
      return this.forward(chunk);
    }
    this.reading = this.source.rawRead();
    return READING;
  }

  took(raw: RawRead): Step {
    return this.onRead(this.source.taken(raw));
  }

  readFailed(error: unknown): Promise<void> {
    return this.source.failure(error).then(this.onRead, this.onFailure);
  }

  cancel(reason: unknown): Promise<void> {
    // The client left: the account is blameless (pipeline/passthrough.ts).
    this.stopParser(new GatewayError(499, "The client closed the request."));
    return this.source.cancel(reason);
  }

  // A read's result, and its failure (readFailed's handlers: bound once).
  readonly onRead = (result: ReadResult): Promise<void> | undefined => {
    if (result.done) {
      this.end();
      const { error, reported } = this.verdict;
      if (error && !reported) this.outlet.put(this.errorBytes(error));
      // A final event the body ended without a blank line after: the parser's end() read it, and
      // the client's parser reads it at the body's end, so that end waits as a final event does.
      const waiting = error ? undefined : this.tellFinal();
      if (waiting) return waiting.then(this.outlet.close.bind(this.outlet));
      this.outlet.close();
      return undefined;
    }
    const chunk = result.value;
    this.readChunk(chunk, this.readCount++);
    return this.forward(chunk);
  };

  /** After the commit a failure is an error event in the client's dialect, never a quiet end. */
  readonly onFailure = (error: unknown): void => {
    this.stopParser(error);
    this.outlet.put(this.errorBytes(error));
    this.outlet.close();
  };

  /** The next chunk to the client: up to the final event, where the final event is in it. */
  private forward(chunk: Uint8Array): Promise<void> | undefined {
    const number = this.forwarded++;
    if (number !== this.finalChunk) return this.outlet.put(chunk);
    const last = chunk.subarray(0, this.finalOffset);
    const waiting = this.tellFinal();
    return waiting ? waiting.then(this.forwardLast.bind(this, last)) : this.forwardLast(last);
  }

  /** beforeFinal, once, with the complete answer: what the final event must wait for. */
  private tellFinal(): Promise<void> | undefined {
    if (this.finalTold || !this.beforeFinal) return undefined;
    this.finalTold = true;
    return this.beforeFinal(this.lease!, this.verdict);
  }

  /** The final chunk, up to the end of the final event, and the body's end. */
  private forwardLast(last: Uint8Array): Promise<void> | undefined {
    if (last.length > 0) this.outlet.put(last);
    // The final event's blank line ended with a CR whose LF is still on its way: pass it on too.
    if (last[last.length - 1] === 13) return this.passLineFeed();
    this.close();
    return undefined;
  }

  private async passLineFeed(): Promise<void> {
    const after = await this.source.read().catch(() => ({ done: true as const }));
    if (!after.done && after.value[0] === 10) this.outlet.put(after.value.subarray(0, 1));
    this.close();
  }

  private close(): void {
    this.outlet.close();
    // The body may stay open (a proxy or an HTTP/2 hop holding it): let go of it.
    this.source.release();
  }
}
