import zlib from "node:zlib";
import { mulberry32 } from "./prng.ts";

/*
 * A seeded "realistic network" between a fake upstream and levity. The fakes write each event as
 * its own chunk and close the body with the last one; real networks split bytes anywhere (inside a
 * UTF-8 character, between the CR and LF of a line end), pause between chunks, compress, and
 * leave bodies open after the final event (proxies, HTTP/2 hops) or close them late. Providers
 * and the proxies before them also add keep-alive comments, pings and `event:` lines.
 *
 * Every choice comes from the profile's seed and the request, so a failing seed replays exactly.
 * Only changes that keep a body valid in its provider's documented wire format are made
 * (PROTOCOLS.md): line ends, comments and event lines only in SSE, and only where the SDKs of
 * that dialect accept them; Gemini's JSON-array stream and whole JSON answers are only split,
 * delayed, compressed and ended late.
 */

/** FNV-1a, to fold a request into the seed of its own body. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Random {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/**
 * What a body is decides which changes keep it valid.
 * - openai-data: chat and completions SSE, data-only, ending in `data: [DONE]`.
 * - openai-typed: Responses SSE, an `event:` line per event, no [DONE].
 * - anthropic: Messages SSE, `event:` lines, `ping` events allowed anywhere after message_start.
 * - gemini-sse: `?alt=sse`, data-only; the genai SDK drops an event that has an `event:` line.
 * - gemini-array: the default Gemini stream, one JSON array written incrementally: not SSE.
 * - json: a whole (non-stream) answer, or an error body.
 */
export type BodyKind =
  | "openai-data"
  | "openai-typed"
  | "anthropic"
  | "gemini-sse"
  | "gemini-array"
  | "json";

export const SSE_KINDS: readonly BodyKind[] = [
  "openai-data",
  "openai-typed",
  "anthropic",
  "gemini-sse",
];

/** How the body ends after its last byte: in the same write, some ms later, or never (until the reader hangs up). */
export type BodyEnd = { kind: "with-last" } | { kind: "late"; ms: number } | { kind: "open" };

export type Encoding = "identity" | "gzip" | "br";

export interface NetworkProfile {
  seed: number;
  /** How every streamed body ends; chosen per body from the seed when not given. */
  end?: BodyEnd;
  /**
   * false: the events go as the fake wrote them (one write each, no pauses, no added lines, no
   * compression), so that only `end`, `trailing` and `cutsBeforeFinalEnd` differ from the fake's
   * own delivery.
   */
  reshape?: boolean;
  /** With reshape false: more places to cut a stream, as byte offsets from the end of its final event (-1: before its last byte); each cut pauses 1 ms. */
  cutsBeforeFinalEnd?: number[];
  /** Text sent after a stream's final event, `afterMs` later (before the body ends, if it does); it may depend on the body's kind. */
  trailing?: { text: string | ((kind: BodyKind) => string); afterMs: number | "same write" };
}

/** A fake's option: a profile, or just a seed for the default (everything random) profile. */
export type NetworkOption = NetworkProfile | number;

export function profileOf(option: NetworkOption): NetworkProfile {
  return typeof option === "number" ? { seed: option } : option;
}

// Bounds that keep a run fast: no body waits on the simulated network for more than this in total.
// (Every cut is at least a separate write, one event-loop turn apart; a pause in ms is on top.)
const MAX_PAUSE_MS = 2;
const PAUSE_BUDGET_MS = 8;
const MAX_PIECES = 48;
const LATE_END_MS = [1, 2, 5, 10, 25, 50];
const COMMENTS = [": keep-alive", ": ping", ": OPENROUTER PROCESSING"];

/** The decisions for one body, all taken from its seed. */
export interface Plan {
  seed: number;
  kind: BodyKind;
  lineEnd?: "\n" | "\r\n";
  /** `data:{...}` with no space after the colon: the SSE spec allows it, and some servers and proxies write it. */
  noSpace: boolean;
  eventLines: boolean;
  comments: number;
  pings: number;
  trailing: boolean;
  encoding: Encoding;
  end: BodyEnd;
}

/** One chunk as it goes on the wire: a separate write, after a pause of `pauseMs` (0: the next event-loop turn). */
export interface Piece {
  bytes: Uint8Array;
  pauseMs: number;
}

/** A body ready to deliver: the plaintext the fake "meant", and the wire bytes in pieces. */
export interface Wire {
  plan: Plan;
  /** The plaintext after the event-level changes, before compression (what a decoding reader sees). */
  text: string;
  /** Byte offset in the plaintext just after the final event. */
  finalEnd: number;
  pieces: Piece[];
  /** Sent when the body ends (a compressor's trailer); never sent for an open end. */
  endBytes: Uint8Array;
}

const encoder = new TextEncoder();

export function describePlan(plan: Plan, pieces?: number): string {
  const end =
    plan.end.kind === "late"
      ? `ends ${plan.end.ms} ms late`
      : plan.end.kind === "open"
        ? "stays open"
        : "ends with its last byte";
  const parts = [`body seed ${plan.seed}`, plan.kind];
  if (pieces !== undefined) parts.push(`${pieces} pieces`);
  if (plan.lineEnd) parts.push(plan.lineEnd === "\n" ? "LF" : "CRLF");
  if (plan.noSpace) parts.push("no space after field colons");
  if (plan.eventLines) parts.push("event lines");
  if (plan.comments) parts.push(`${plan.comments} comments`);
  if (plan.pings) parts.push(`${plan.pings} pings`);
  if (plan.trailing) parts.push("data after the final event");
  parts.push(plan.encoding, end);
  return parts.join(", ");
}

/** The seed of one body: the profile's seed, the request, and how many times this fake saw the same request. */
export function bodySeed(profileSeed: number, requestKey: string, occurrence: number): number {
  return (
    (hash32(`${profileSeed}|${requestKey}|${occurrence}`) ^ Math.imul(profileSeed, 0x9e3779b1)) >>>
    0
  );
}

/** A whole answer must end (its reader waits for the end), but it may end a little late. */
function wholeAnswerEnd(rng: Random): BodyEnd {
  return rng.chance(0.5) ? { kind: "with-last" } : { kind: "late", ms: rng.int(1, 5) };
}

/** Decides everything about one body. `accepts` is the request's accept-encoding. */
export function planBody(
  profile: NetworkProfile,
  seed: number,
  kind: BodyKind,
  accepts: string,
): Plan {
  const rng = new Random(seed);
  const sse = SSE_KINDS.includes(kind);
  if (profile.reshape === false) {
    const end: BodyEnd =
      kind === "json" ? { kind: "with-last" } : (profile.end ?? { kind: "with-last" });
    return {
      seed,
      kind,
      noSpace: false,
      eventLines: false,
      comments: 0,
      pings: 0,
      trailing: kind !== "json" && profile.trailing !== undefined,
      encoding: "identity",
      end,
    };
  }
  const canCompress = (name: string) => new RegExp(`\\b${name}\\b`).test(accepts);
  const wanted = rng.pick<Encoding>(["identity", "identity", "gzip", "br"]);
  const encoding = wanted === "identity" || canCompress(wanted) ? wanted : "identity";
  const streamEnd = (): BodyEnd => {
    const r = rng.next();
    if (r < 0.35) return { kind: "with-last" };
    if (r < 0.75) return { kind: "late", ms: rng.pick(LATE_END_MS) };
    return { kind: "open" };
  };
  const end: BodyEnd = kind === "json" ? wholeAnswerEnd(rng) : (profile.end ?? streamEnd());
  return {
    seed,
    kind,
    lineEnd: sse ? rng.pick(["\n", "\r\n"] as const) : undefined,
    noSpace: sse && rng.chance(0.2),
    // Some OpenAI-compatible servers label every chat chunk `event: message` (the SSE default name); the SDK ignores it.
    eventLines: kind === "openai-data" && rng.chance(0.3),
    comments: sse && rng.chance(0.5) ? rng.int(1, 4) : 0,
    pings: kind === "anthropic" && rng.chance(0.5) ? rng.int(1, 3) : 0,
    trailing: kind !== "json" && (profile.trailing !== undefined || (sse && rng.chance(0.3))),
    encoding,
    end,
  };
}

/**
 * The event-level changes: line ends, event lines, comments and pings between events, data after
 * the final event. Returns the plaintext and where the final event ends in it (in bytes).
 */
export function reshapeEvents(
  plan: Plan,
  events: string[],
  rng: Random,
  profile: NetworkProfile,
): { text: string; finalEnd: number; boundaries: number[] } {
  const eol = plan.lineEnd;
  const lines = (event: string) => (eol ? event.replace(/\r\n|\n/g, eol) : event);
  const fields = (event: string) =>
    plan.noSpace ? event.replace(/^(event|data): /gm, "$1:") : event;
  const shaped = events.map((event) =>
    fields(lines(plan.eventLines ? `event: message\n${event}` : event)),
  );
  // Extra blocks go into the gaps before each event but the first (before the first only for comments:
  // DeepSeek sends keep-alives before a stream starts); pings only after Anthropic's message_start.
  const extras: string[][] = shaped.map(() => []);
  for (let i = 0; i < plan.comments; i++)
    extras[rng.int(0, shaped.length - 1)]!.push(`${rng.pick(COMMENTS)}${eol}${eol}`);
  for (let i = 0; i < plan.pings && shaped.length > 2; i++)
    extras[rng.int(1, shaped.length - 1)]!.push(
      `event: ping${eol}data: {"type": "ping"}${eol}${eol}`,
    );
  let text = "";
  const boundaries: number[] = [];
  let bytes = 0;
  const add = (part: string) => {
    text += part;
    bytes += encoder.encode(part).length;
  };
  shaped.forEach((event, i) => {
    for (const extra of extras[i]!) {
      add(extra);
      boundaries.push(bytes);
    }
    add(event);
    boundaries.push(bytes);
  });
  const finalEnd = bytes;
  if (plan.trailing) {
    if (profile.trailing)
      add(
        typeof profile.trailing.text === "string"
          ? profile.trailing.text
          : profile.trailing.text(plan.kind),
      );
    else add(`${rng.pick(COMMENTS)}${eol}${eol}`);
  }
  return { text, finalEnd, boundaries };
}

/** Where to cut the plaintext: anywhere, inside multi-byte characters and CRLFs on purpose, runs of single bytes, some event boundaries. */
export function chooseCuts(
  bytes: Uint8Array,
  boundaries: number[],
  rng: Random,
): { cuts: number[]; tricky: Set<number> } {
  const cuts = new Set<number>();
  const tricky = new Set<number>();
  if (bytes.length < 2) return { cuts: [], tricky };
  const inside = (at: number) => at > 0 && at < bytes.length;
  const style = rng.pick(["few", "some", "many"] as const);
  const random =
    style === "few" ? rng.int(0, 2) : style === "some" ? rng.int(2, 10) : rng.int(10, 30);
  for (let i = 0; i < random; i++) cuts.add(rng.int(1, bytes.length - 1));
  for (const at of boundaries) if (inside(at) && rng.chance(0.3)) cuts.add(at);
  // Inside a UTF-8 character: a continuation byte (10xxxxxx) starts the next piece.
  let utf8 = 0;
  for (let i = 1; i < bytes.length && utf8 < 8; i++) {
    if ((bytes[i]! & 0xc0) === 0x80 && rng.chance(0.4)) {
      cuts.add(i);
      tricky.add(i);
      utf8++;
    }
  }
  // Between the CR and the LF of a line end.
  let crlf = 0;
  for (let i = 0; i + 1 < bytes.length && crlf < 6; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && rng.chance(0.3)) {
      cuts.add(i + 1);
      tricky.add(i + 1);
      crlf++;
    }
  }
  // A run of one-byte pieces.
  if (rng.chance(0.3)) {
    const start = rng.int(1, bytes.length - 1);
    const length = rng.int(3, 10);
    for (let at = start; at < Math.min(bytes.length, start + length); at++) {
      cuts.add(at);
      tricky.add(at);
    }
  }
  let sorted = [...cuts].filter(inside).sort((a, b) => a - b);
  // Past the cap, keep the tricky cuts and thin out the rest.
  while (sorted.length > MAX_PIECES - 1) {
    const plain = sorted.filter((at) => !tricky.has(at));
    const victim = plain.length > 0 ? rng.pick(plain) : rng.pick(sorted);
    sorted = sorted.filter((at) => at !== victim);
  }
  return { cuts: sorted, tricky };
}

async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Compresses piece by piece, flushing after each, as a server compressing a stream does: every
 * piece decodes as soon as it arrives. The trailer comes only when the body ends.
 */
export async function compressPieces(
  pieces: Uint8Array[],
  encoding: "gzip" | "br",
): Promise<{ pieces: Uint8Array[]; trailer: Uint8Array }> {
  const z = encoding === "gzip" ? zlib.createGzip() : zlib.createBrotliCompress();
  const flushKind =
    encoding === "gzip" ? zlib.constants.Z_SYNC_FLUSH : zlib.constants.BROTLI_OPERATION_FLUSH;
  const out: Buffer[] = [];
  z.on("data", (chunk: Buffer) => out.push(chunk));
  const compressed: Uint8Array[] = [];
  for (const piece of pieces) {
    z.write(piece);
    await new Promise<void>((resolve) => z.flush(flushKind, () => resolve()));
    await settle();
    compressed.push(new Uint8Array(Buffer.concat(out.splice(0))));
  }
  const ended = new Promise<void>((resolve) => z.once("end", () => resolve()));
  z.end();
  await ended;
  await settle();
  return { pieces: compressed, trailer: new Uint8Array(Buffer.concat(out.splice(0))) };
}

/** Everything about one body, from its events to the pieces on the wire. */
export async function buildWire(
  profile: NetworkProfile,
  plan: Plan,
  events: string[],
): Promise<Wire> {
  // A second generator for the shape, so that the plan's choices do not shift when shaping changes.
  const rng = new Random(plan.seed ^ 0x5bd1e995);
  const { text, finalEnd, boundaries } = reshapeEvents(plan, events, rng, profile);
  const bytes = encoder.encode(text);
  let cuts: number[];
  let tricky = new Set<number>();
  const pinned = new Set(
    plan.kind === "json" ? [] : (profile.cutsBeforeFinalEnd ?? []).map((back) => finalEnd + back),
  );
  if (profile.reshape === false)
    cuts = [...new Set([...boundaries, ...pinned])]
      .filter((at) => at > 0 && at < bytes.length)
      .sort((a, b) => a - b);
  else ({ cuts, tricky } = chooseCuts(bytes, boundaries, rng));
  // Data after the final event always arrives on its own, after its pause.
  // (or, when the profile says so, in the same write as the final event).
  const sameWrite = profile.trailing?.afterMs === "same write";
  if (plan.trailing && finalEnd < bytes.length && !cuts.includes(finalEnd) && !sameWrite)
    cuts = [...cuts, finalEnd].sort((a, b) => a - b);
  if (sameWrite) cuts = cuts.filter((at) => at !== finalEnd);
  const trailingPause =
    typeof profile.trailing?.afterMs === "number" ? profile.trailing.afterMs : 0;
  let budget = PAUSE_BUDGET_MS;
  const pauseFor = (at: number): number => {
    if (profile.reshape === false)
      return at === finalEnd && profile.trailing ? trailingPause : pinned.has(at) ? 1 : 0;
    if (at === finalEnd && profile.trailing) return trailingPause;
    // A tricky cut reaches a prompt reader as its own chunk anyway; a pause makes sure of it now and then.
    const wanted = rng.chance(tricky.has(at) ? 0.15 : 0.3) ? rng.int(1, MAX_PAUSE_MS) : 0;
    const pause = Math.min(wanted, budget);
    budget -= pause;
    return pause;
  };
  const plain: Piece[] = [];
  let from = 0;
  // The headers may come before the body does.
  let pause = profile.reshape === false ? 0 : Math.min(rng.int(0, MAX_PAUSE_MS), budget);
  budget -= pause;
  for (const at of [...cuts, bytes.length]) {
    plain.push({ bytes: bytes.subarray(from, at), pauseMs: pause });
    if (at < bytes.length) pause = pauseFor(at);
    from = at;
  }
  if (plan.encoding === "identity")
    return { plan, text, finalEnd, pieces: plain, endBytes: new Uint8Array(0) };
  return { plan, text, finalEnd, ...(await compressWire(plain, finalEnd, plan.encoding, rng)) };
}

/**
 * The compressed wire: the server flushes its compressor after a few of its writes (each flush is
 * a thread-pool round trip, too slow for every piece), always after the final event, and the
 * network then cuts the compressed bytes anywhere, keeping the pieces' count and pauses.
 */
async function compressWire(
  plain: Piece[],
  finalEnd: number,
  encoding: "gzip" | "br",
  rng: Random,
): Promise<{ pieces: Piece[]; endBytes: Uint8Array }> {
  const groups: Piece[][] = [];
  let group: Piece[] = [];
  let offset = 0;
  const flushes = rng.int(1, 6);
  for (const [i, piece] of plain.entries()) {
    group.push(piece);
    offset += piece.bytes.length;
    const last = i === plain.length - 1;
    if (last || offset === finalEnd || rng.chance(flushes / plain.length)) {
      groups.push(group);
      group = [];
    }
  }
  const joined = groups.map((g) => concat(g.map((p) => p.bytes)));
  const { pieces: flushed, trailer } = await compressPieces(joined, encoding);
  const pieces: Piece[] = [];
  groups.forEach((g, i) => {
    const bytes = flushed[i]!;
    const cuts = new Set<number>();
    while (cuts.size < Math.min(g.length - 1, bytes.length - 1))
      cuts.add(rng.int(1, bytes.length - 1));
    let from = 0;
    [...[...cuts].sort((a, b) => a - b), bytes.length].forEach((at, j) => {
      pieces.push({ bytes: bytes.subarray(from, at), pauseMs: g[j]!.pauseMs });
      from = at;
    });
  });
  return { pieces, endBytes: trailer };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export type Release = "ended" | "hung-up";

export interface Delivery {
  /** e.g. "POST /v1/chat/completions". */
  request: string;
  plan: Plan;
  /** Resolves when the body ended, or when the reader hung up first. */
  released: Promise<Release>;
  /** What was sent: the plaintext, where its final event ends, the pieces. */
  wire: Promise<Wire>;
  describe(): string;
}

/**
 * A response body that delivers a wire: each piece after its pause, then the end the plan says.
 * An open body is held until the reader hangs up (or the server stops).
 */
export function deliverBody(
  wire: Promise<Wire>,
  signal: AbortSignal | undefined,
): { body: ReadableStream<Uint8Array>; released: Promise<Release> } {
  let settled = false;
  let finish!: (release: Release) => void;
  const released = new Promise<Release>((resolve) => {
    finish = (release) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      wake?.();
      resolve(release);
    };
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  signal?.addEventListener("abort", () => finish("hung-up"), { once: true });
  let index = 0;
  let ending = false;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { pieces, endBytes, plan } = await wire;
        if (settled) return;
        if (index < pieces.length) {
          const piece = pieces[index++]!;
          // Without a turn of the event loop between them, Bun would write all pieces at once.
          if (piece.pauseMs > 0) await pause(piece.pauseMs);
          else if (index > 1) await new Promise<void>((resolve) => setImmediate(resolve));
          if (settled) return;
          if (piece.bytes.length > 0) controller.enqueue(piece.bytes);
          if (index < pieces.length || plan.end.kind !== "with-last") return;
          if (endBytes.length > 0) controller.enqueue(endBytes);
          controller.close();
          finish("ended");
          return;
        }
        if (ending) return;
        ending = true;
        if (plan.end.kind === "late") {
          await pause(plan.end.ms);
          if (settled) return;
          if (endBytes.length > 0) controller.enqueue(endBytes);
          controller.close();
          finish("ended");
          return;
        }
        // Open: nothing more, and no end, until the reader lets go.
        await released;
      },
      cancel() {
        finish("hung-up");
      },
    },
    { highWaterMark: 0 },
  );
  return { body, released };
}
