import type { ChatRequest, Part } from "../ir.ts";

/*
 * Token counts where the upstream has no count endpoint (OpenAI-compatible upstreams, echo):
 * OpenAI's o200k_base tokenizer. Other models tokenize differently, so every response that carries
 * such a count says it is an estimate.
 *
 * The tokenizer's table takes about 650 ms to load, on the main thread, so it is loaded when a
 * count is first asked for, not at start-up: the first count waits for it, and usage figures (which
 * are estimates anyway) use a rough count until then.
 */

type Counter = (text: string) => number;

/** Four characters a token: what English text averages, for use before the tokenizer is loaded. */
const roughCount: Counter = (text) => Math.ceil(text.length / 4);

// BPE merging is quadratic in the length of one unbroken run of characters; long runs are
// counted in slices, which changes the count by a fraction of a percent and bounds the time.
const SLICE = 128;
const LONG_RUN = new RegExp(`(\\S{${SLICE},})`);

function sliced(count: Counter, text: string): number {
  if (text === "") return 0;
  let total = 0;
  for (const piece of text.split(LONG_RUN)) {
    if (piece === "") continue;
    if (piece.length >= SLICE && !/\s/.test(piece)) {
      for (let i = 0; i < piece.length; i += SLICE) total += count(piece.slice(i, i + SLICE));
    } else total += count(piece);
  }
  return total;
}

/*
 * Usage figures are counted on the request path, all at once: a text longer than this is counted
 * roughly, so that one huge value (8 MB of text took 170 ms to tokenize) cannot hold the event
 * loop. count_tokens, which is asked for a count, counts everything, in pieces between which other
 * requests are served.
 */
const EXACT_ESTIMATE_MAX = 64 * 1024;
const COUNT_PIECE = 64 * 1024;

/** The tokenizer's count of a text of any size, giving the event loop back between pieces. */
async function countInPieces(count: Counter, text: string): Promise<number> {
  if (text.length <= COUNT_PIECE) return sliced(count, text);
  let total = 0;
  for (let start = 0; start < text.length; ) {
    // Cut at a space where there is one near, so that words are not split.
    let end = Math.min(text.length, start + COUNT_PIECE);
    const space = end < text.length ? text.lastIndexOf(" ", end) : -1;
    if (space > start) end = space;
    total += sliced(count, text.slice(start, end));
    start = end;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
  return total;
}

// A typical image costs a few hundred tokens whatever its bytes (Gemini: 258 per image).
const MEDIA_TOKENS = 258;
// Each message carries a few tokens of framing in every chat format.
const TURN_OVERHEAD = 4;

function partTokens(count: (text: string) => number, part: Part): number {
  switch (part.type) {
    case "text":
    case "thinking":
      return count(part.text);
    case "media":
      return MEDIA_TOKENS;
    case "tool_call":
      return count(part.name) + count(part.arguments);
    case "tool_result":
      return part.content.reduce((sum, c) => sum + partTokens(count, c), 0);
    case "server_tool_call":
      return count(part.name) + count(part.input);
    case "server_tool_result":
      return part.results.reduce(
        (sum, r) => sum + count(`${r.title ?? ""} ${r.url} ${r.text ?? ""}`),
        0,
      );
    case "redacted_thinking":
      return 0;
  }
}

function requestTokens(count: (text: string) => number, request: ChatRequest): number {
  let total = 0;
  for (const system of request.system) total += count(system) + TURN_OVERHEAD;
  for (const turn of request.turns)
    total += TURN_OVERHEAD + turn.parts.reduce((sum, part) => sum + partTokens(count, part), 0);
  for (const tool of request.tools)
    total += count(`${tool.name} ${tool.description ?? ""} ${JSON.stringify(tool.parameters)}`);
  return total;
}

/**
 * A count by characters alone, without the tokenizer: a quarter of a token for each ASCII
 * character, a whole one for any other (a CJK character is about one). Never under a quarter of
 * the tokenizer's count (hex digits come closest), and linear, so it can be asked of any request
 * to tell whether the tokenizer is worth running.
 */
export function roughRequestTokens(request: ChatRequest): number {
  return requestTokens(byCharacters, request);
}

function byCharacters(text: string): number {
  let ascii = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) ascii++;
  return Math.ceil(ascii / 4) + (text.length - ascii);
}

/** What usage figures need: a count now, never waiting for the tokenizer. */
export interface TokenEstimates {
  estimate(text: string): number;
  estimateRequest(request: ChatRequest): number;
}

/**
 * On Bun the table is read from the tiktoken file embedded beside the program (o200k-ranks.ts);
 * elsewhere (Deno) from gpt-tokenizer's own module, named through a variable so that Bun's bundler
 * leaves its 3.8 MB of string literals out of the binary.
 */
const PACKAGE_TOKENIZER: string = "gpt-tokenizer/encoding/o200k_base";

function loadTokenizer(): Promise<Counter> {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined")
    return import("./o200k-ranks.ts").then((module) => module.o200kCounter());
  return import(PACKAGE_TOKENIZER).then((module: { countTokens: Counter }) => module.countTokens);
}

/**
 * The tokenizer, loaded on first use and then kept: one per runtime. Until it has loaded,
 * estimates are the rough count.
 */
export class TokenCounter implements TokenEstimates {
  private tokenizer: Counter | undefined;
  private loading: Promise<Counter> | undefined;

  load(): Promise<Counter> {
    this.loading ??= loadTokenizer().then((count) => {
      this.tokenizer = count;
      return count;
    });
    return this.loading;
  }

  /** A count now: the tokenizer's if it has loaded (and the text is not huge), else the rough one. For usage figures that are estimates anyway. */
  readonly estimate = (text: string): number =>
    sliced(this.tokenizer && text.length <= EXACT_ESTIMATE_MAX ? this.tokenizer : roughCount, text);

  /** The request's tokens now, for usage figures. */
  estimateRequest(request: ChatRequest): number {
    return requestTokens(this.estimate, request);
  }

  /*
   * Counts of long texts already counted, so that a conversation's history, which every turn of a
   * session sends again, is tokenized once (the context-window check counts every request that
   * comes near a window). Bounded by the characters it holds; the oldest go first.
   */
  private readonly remembered = new Map<string, number>();
  private rememberedChars = 0;

  private remember(text: string, tokens: number): void {
    if (text.length < REMEMBER_MIN || text.length > REMEMBER_MAX_CHARS) return;
    this.remembered.set(text, tokens);
    this.rememberedChars += text.length;
    for (const [old] of this.remembered) {
      if (this.rememberedChars <= REMEMBER_MAX_CHARS) break;
      this.remembered.delete(old);
      this.rememberedChars -= old.length;
    }
  }

  /** The request's tokens by the real tokenizer, waiting for it to load: for count_tokens answers and the window check. */
  async countRequest(request: ChatRequest): Promise<number> {
    const count = await this.load();
    // Every text is counted first, giving the event loop back between pieces; the sum then adds them up.
    const counted = new Map<string, number>();
    const texts: string[] = [];
    requestTokens((text) => {
      texts.push(text);
      return 0;
    }, request);
    let sinceYield = 0;
    for (const text of texts) {
      if (counted.has(text)) continue;
      const known = this.remembered.get(text);
      if (known !== undefined) {
        counted.set(text, known);
        continue;
      }
      const tokens = await countInPieces(count, text);
      counted.set(text, tokens);
      this.remember(text, tokens);
      sinceYield += text.length;
      if (sinceYield >= COUNT_PIECE) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
      }
    }
    return requestTokens((text) => counted.get(text) ?? 0, request);
  }
}

/** Texts shorter than this are cheaper to count again than to look up. */
const REMEMBER_MIN = 256;
/** The characters of counted texts kept (about 32 MB of strings). */
const REMEMBER_MAX_CHARS = 16 * 1024 * 1024;
