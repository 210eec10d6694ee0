import type { ChatResponse, Part, StopReason, StreamEvent, Usage } from "../ir.ts";
import { DEFAULT_UPSTREAM_LIMITS, overLimit } from "../upstream-limits.ts";

/**
 * Builds the whole answer from a stream's events, so a streamed answer can be stored like a plain
 * one. It holds the whole answer, so it stops at a limit (proxy.upstream_limits.answer_mb): a
 * stream that never ends would otherwise grow until the process runs out of memory.
 */
export class ResponseAssembler {
  /** Characters of text, thinking, signatures and tool arguments held so far. */
  private held = 0;

  constructor(
    private readonly limit = DEFAULT_UPSTREAM_LIMITS.answerBytes,
    private readonly upstream = "upstream",
  ) {}

  private hold(length: number): void {
    this.held += length;
    if (this.held > this.limit)
      throw overLimit(this.upstream, "an answer", this.limit, "answer_mb");
  }

  private id = "";
  private model = "";
  private created = 0;
  private readonly parts: Part[] = [];
  /** The calls by their stream index: made at the first (most answers have none). */
  private calls: Map<number, Extract<Part, { type: "tool_call" }>> | undefined;
  private usage: Usage = { input: 0, output: 0 };
  private stop: StopReason = "end";
  private stopSequence: string | undefined;
  finished = false;

  /**
   * The text (or thinking) that follows the last part's, in pieces: joined once, when another
   * part comes or the answer is whole. Added to the part's text one chunk at a time, it was a
   * string a chunk.
   */
  private pieces: string[] | undefined;

  /** The last part's text whole, its pieces joined. */
  private settle(): void {
    const pieces = this.pieces;
    if (pieces === undefined) return;
    this.pieces = undefined;
    const last = this.parts.at(-1) as Extract<Part, { type: "text" | "thinking" }>;
    last.text += pieces.join("");
  }

  push(event: StreamEvent): void {
    const last = this.parts.at(-1);
    this.hold(heldLength(event));
    // Only more of the last part's text (or thinking) leaves its pieces unjoined.
    if (this.pieces !== undefined && !continuesLast(event, last)) this.settle();
    switch (event.type) {
      case "start":
        ({ id: this.id, model: this.model, created: this.created, usage: this.usage } = event);
        break;
      case "text":
        // Cited text stays a part of its own, with its citations, as the stream sent it.
        if (event.citations)
          this.parts.push({ type: "text", text: event.text, citations: event.citations });
        else if (last?.type === "text" && !last.citations) {
          this.pieces ??= [];
          this.pieces.push(event.text);
        } else this.parts.push({ type: "text", text: event.text });
        if (event.signature)
          (this.parts.at(-1) as Extract<Part, { type: "text" }>).signature = event.signature;
        break;
      case "thinking":
        if (last?.type === "thinking" && !last.signature) {
          this.pieces ??= [];
          this.pieces.push(event.text);
        } else this.parts.push({ type: "thinking", text: event.text });
        break;
      case "thinking_signature":
        if (last?.type === "thinking" && !last.signature) last.signature = event.signature;
        else this.parts.push({ type: "thinking", text: "", signature: event.signature });
        break;
      case "redacted_thinking":
        this.parts.push({ type: "redacted_thinking", data: event.data });
        break;
      case "server_tool":
        this.parts.push(event.part);
        break;
      case "media":
        this.parts.push({ type: "media", source: event.source });
        break;
      case "tool_call_start": {
        const call = {
          type: "tool_call" as const,
          id: event.id,
          name: event.name,
          arguments: "",
          signature: event.signature,
        };
        this.calls ??= new Map();
        this.calls.set(event.index, call);
        this.parts.push(call);
        break;
      }
      case "tool_call_delta": {
        const call = this.calls?.get(event.index);
        if (call) call.arguments += event.arguments;
        break;
      }
      case "usage":
        this.usage = event.usage;
        break;
      case "finish":
        this.usage = event.usage;
        this.stop = event.stop;
        this.stopSequence = event.stopSequence;
        this.finished = true;
        break;
      default:
    }
  }

  result(): ChatResponse {
    this.settle();
    // No iterator over an empty map: an answer without calls has none to fill.
    if (this.calls)
      for (const call of this.calls.values()) if (call.arguments === "") call.arguments = "{}";
    return {
      id: this.id,
      model: this.model,
      created: this.created,
      parts: this.parts,
      stop: this.stop,
      stopSequence: this.stopSequence,
      usage: this.usage,
    };
  }
}

/** Whether the event adds to the last part's text or thinking, which its pieces hold. */
function continuesLast(event: StreamEvent, last: Part | undefined): boolean {
  if (event.type === "thinking") return last?.type === "thinking";
  return event.type === "text" && !event.citations && last?.type === "text";
}

/**
 * What an event adds to the assembled answer, in characters. Signatures are opaque and small; a
 * part counts a little for its own keeping, so that endless empty parts are held to the limit too.
 */
const PART_COST = 64;

function heldLength(event: StreamEvent): number {
  switch (event.type) {
    case "text":
      return event.text.length + (event.signature || event.citations ? PART_COST : 0);
    case "server_tool":
      return JSON.stringify(event.part).length;
    case "media":
      return (event.source.kind === "base64" ? event.source.data : event.source.url).length;
    case "thinking":
      return event.text.length;
    case "thinking_signature":
    case "redacted_thinking":
      return PART_COST;
    case "tool_call_start":
      return event.id.length + event.name.length + PART_COST;
    case "tool_call_delta":
      return event.arguments.length;
    default:
      return 0;
  }
}
