import type { ChatResponse, StreamEvent } from "../ir.ts";
import type { StreamRenderer, Write } from "../codecs/stream-render.ts";
import type { Upstream } from "../config/snapshot.ts";
import type { Lease } from "../pool/lease.ts";
import { scrubKey } from "../scrub.ts";
import { type Failure, failureOf, GatewayError } from "../failure.ts";
import { limitsOf } from "../upstream-limits.ts";
import { ResponseAssembler } from "./assemble.ts";
import { type EventBatches, READ_AGAIN } from "./event-batches.ts";
import { CommitWatch } from "./first-content.ts";
import { type BodyWriter, ClientOutlet, READING, type Step, settled } from "./client-body.ts";
import type { RawRead } from "../upstream/forward.ts";
import type { SharedWrite } from "../state/store.ts";

/*
 * A translated stream: the upstream's events, a chunk's worth at a time, each rendered in the
 * client's dialect as it comes, and the chunk's text sent to the client as one chunk. One layer
 * from the upstream's reader to the client: the parser pushes events, the renderer writes text,
 * and each pull of the client's body (client-body.ts) asks for the next batch.
 */

export type Committed =
  | { kind: "content"; held: StreamEvent[] }
  | { kind: "failed"; failure: Failure };

/** Reads batches until the commit point: the events so far (the one that committed and the rest of its batch included), or why there is none. */
export async function untilCommit(batches: EventBatches, upstream: string): Promise<Committed> {
  const watch = new CommitWatch(upstream);
  for (;;) {
    let batch: readonly StreamEvent[] | undefined;
    try {
      batch = await batches.next();
    } catch (error) {
      watch.thrown(error);
      break;
    }
    if (!batch) {
      watch.ended();
      break;
    }
    for (let i = 0; i < batch.length; i++) {
      watch.see(batch[i]!);
      if (watch.verdict === "content") {
        const held = watch.seen;
        for (let j = i + 1; j < batch.length; j++) held.push(batch[j]!);
        return { kind: "content", held };
      }
      if (watch.verdict) break;
    }
    if (watch.verdict) break;
  }
  batches.stop();
  return { kind: "failed", failure: watch.failure! };
}

/**
 * Whose answer the stream is: it keeps the whole answer once it has finished, and renders the
 * events in the client's dialect. An object, not two functions: closures made for them were two
 * functions and a scope every stream.
 */
export interface StreamOwner {
  /** Keeps what the answer leaves; a shared store's writes of it, which the stream's finish waits for. */
  remember(response: ChatResponse): SharedWrite;
  renderer(write: Write): StreamRenderer;
}

/**
 * The writer of the client's body after the commit point. A stream that breaks or ends early
 * becomes an error event the client's dialect can carry, never a silent end; the attempt's lease
 * finishes once, with how it went.
 */
export class TranslatedStream implements BodyWriter {
  private text = "";
  private readonly renderer: StreamRenderer;
  private readonly assembler: ResponseAssembler;
  private held: StreamEvent[] | undefined;
  private finished = false;
  /** A shared store's writes of what the finished answer left, while they are on their way. */
  private written: SharedWrite = undefined;
  readonly outlet = new ClientOutlet();

  constructor(
    private readonly batches: EventBatches,
    held: StreamEvent[],
    private readonly upstream: Upstream,
    private readonly lease: Lease,
    private readonly owner: StreamOwner,
  ) {
    this.held = held;
    this.assembler = new ResponseAssembler(limitsOf(upstream).answerBytes, upstream.name);
    this.renderer = owner.renderer(this.write);
  }

  private readonly write = (text: string): void => {
    this.text += text;
  };

  /** The upstream's read a READING step waits for (client-body.ts awaits it). */
  reading: Promise<RawRead> | undefined = undefined;

  pull(): Step {
    const held = this.held;
    if (held) {
      this.held = undefined;
      return this.onBatch(held);
    }
    const batches = this.batches;
    const reading = batches.rawRead?.();
    if (!reading) return batches.next().then(this.onBatchSettled, this.onFailure);
    this.reading = reading;
    return READING;
  }

  took(raw: RawRead): Step {
    let batch: ReturnType<NonNullable<EventBatches["batchOf"]>>;
    try {
      batch = this.batches.batchOf!(raw);
    } catch (error) {
      return this.onFailure(error);
    }
    // A read that made no events: the next one.
    return batch === READ_AGAIN ? this.pull() : this.onBatch(batch);
  }

  readFailed(error: unknown): Promise<void> {
    return this.batches.failure!(error).then(this.onBatchSettled, this.onFailure);
  }

  /** onBatch for a then: a step it ends in that is a read is awaited within the then's promise. */
  private readonly onBatchSettled = (batch: readonly StreamEvent[] | undefined) =>
    settled(this, this.onBatch(batch));

  cancel(): void {
    // A client that went away mid-answer leaves the account blameless.
    this.finish({ neutral: true });
    this.batches.stop();
  }

  /** A batch's events, rendered into one chunk; the next batch at once when they made no text. */
  private readonly onBatch = (batch: readonly StreamEvent[] | undefined): Step => {
    if (!batch) {
      const message = `Upstream "${this.upstream.name}" ended its stream without finishing the answer.`;
      this.finish({ ok: false, failure: { kind: "broken", status: 502, message } });
      this.renderer.event({ type: "error", status: 502, message });
      return this.close();
    }
    for (let i = 0; i < batch.length; i++) {
      let complete: boolean;
      try {
        complete = this.render(batch[i]!);
      } catch (error) {
        return this.onFailure(error);
      }
      if (complete) {
        this.batches.stop();
        // The finish goes out once a shared store has what the answer left (see remember).
        const written = this.written;
        return written ? written.then(this.close.bind(this)) : this.close();
      }
    }
    if (this.text === "") return this.pull();
    return this.flush();
  };

  /** The stream broke after the commit (a read, the parser, the answer's size): its error, in the client's dialect. */
  private readonly onFailure = (error: unknown): undefined => {
    this.batches.stop();
    // The client left while a read was waiting (forward.ts reads that as a 499): nobody to tell,
    // and the account is blameless.
    if (error instanceof GatewayError) {
      this.finish({ neutral: true });
      this.outlet.fail(error);
      return undefined;
    }
    const failure = failureOf(error, this.upstream.name);
    this.finish({ ok: false, failure });
    // A codec's finding may quote the upstream's data: the client reads it without the key too.
    this.renderer.event({
      type: "error",
      status: failure.status,
      message: scrubKey(failure.message, this.lease.account.key),
    });
    return this.close();
  };

  /** One event to the client; true once its stream is complete. */
  private render(event: StreamEvent): boolean {
    this.assembler.push(event);
    if (event.type === "finish") {
      // Before it is rendered: a client may hang up as soon as it has the finish.
      const response = this.assembler.result();
      this.written = this.owner.remember(response);
      this.finish({ ok: true, usage: response.usage });
      this.renderer.event(event);
      return true;
    }
    if (event.type === "error") {
      this.finish({
        ok: false,
        failure: { kind: "broken", status: event.status, message: event.message },
      });
      // The client reads the upstream's words too, after the commit point: without the key.
      this.renderer.event({ ...event, message: scrubKey(event.message, this.lease.account.key) });
      return true;
    }
    return this.renderer.event(event);
  }

  /**
   * The lease finishes once. The request log hears every finish, so a client that hangs up after
   * the final event (Codex closes at response.completed) must not turn a success into "went away".
   */
  private finish(outcome: Parameters<Lease["finish"]>[0]): void {
    if (this.finished) return;
    this.finished = true;
    this.lease.finish(outcome);
  }

  /** The text rendered so far, as one chunk (a direct stream takes it as text, without a copy made). */
  private flush(): Promise<void> | undefined {
    const text = this.text;
    this.text = "";
    return this.outlet.put(text);
  }

  private close(): undefined {
    if (this.text !== "") this.flush();
    this.outlet.close();
    // The lease finishes once: a stream closed without an outcome (it cannot be) is the client's going.
    this.finish({ neutral: true });
    return undefined;
  }
}
