import { createHash } from "node:crypto";

/*
 * Anthropic's prompt cache, as its documentation describes it, for the fake Anthropic: each
 * `cache_control` block writes the prompt up to it (tools, then system, then messages) to the
 * account's cache; a later request reads the longest cached prefix ending at or up to 20 blocks
 * before one of its own breakpoints. Usage then splits the prompt as Anthropic does:
 * `cache_read_input_tokens` read, `cache_creation_input_tokens` written, `input_tokens` the rest.
 * A block counts one token per four characters of its JSON. Refusals are Anthropic's own words.
 */

const MAX_BREAKPOINTS = 4;
const LOOKBACK = 20;

export interface CacheUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

function promptBlocks(body: any): any[] {
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  const system =
    typeof body.system === "string" ? [{ type: "text", text: body.system }] : list(body.system);
  const messages = list(body.messages).flatMap((m: any) =>
    typeof m.content === "string" ? [{ type: "text", text: m.content }] : list(m.content),
  );
  return [...list(body.tools), ...system, ...messages];
}

/** What Anthropic answers with a 400 about the request's breakpoints, if anything. */
export function breakpointRefusal(body: any): string | undefined {
  const marked = promptBlocks(body).filter((b) => b?.cache_control !== undefined);
  if (marked.length > MAX_BREAKPOINTS)
    return `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${marked.length}.`;
  let shorter = false;
  for (const block of marked) {
    if (block.cache_control.ttl === "1h" && shorter)
      return "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.";
    if (block.cache_control.ttl !== "1h") shorter = true;
  }
  return undefined;
}

/** One fake server's caches, one per account key. */
export class PromptCacheModel {
  private readonly caches = new Map<string, Set<string>>();

  usage(account: string, body: any): CacheUsage {
    const blocks = promptBlocks(body);
    const hash = createHash("sha256");
    const prefixes: string[] = [];
    const tokens: number[] = [];
    for (const block of blocks) {
      const { cache_control: _mark, ...content } = block ?? {};
      const text = JSON.stringify(content);
      hash.update(text);
      prefixes.push(hash.copy().digest("hex"));
      tokens.push((tokens.at(-1) ?? 0) + Math.max(1, Math.ceil(text.length / 4)));
    }
    const total = tokens.at(-1) ?? 0;
    const breakpoints = blocks.flatMap((b, i) => (b?.cache_control !== undefined ? [i] : []));
    let cache = this.caches.get(account);
    if (!cache) {
      cache = new Set();
      this.caches.set(account, cache);
    }
    let read = 0;
    for (const at of breakpoints)
      for (let i = at; i >= Math.max(0, at - LOOKBACK + 1); i--)
        if (cache.has(prefixes[i]!)) {
          read = Math.max(read, tokens[i]!);
          break;
        }
    const last = breakpoints.at(-1);
    const written = last === undefined ? 0 : Math.max(0, tokens[last]! - read);
    for (const at of breakpoints) cache.add(prefixes[at]!);
    return {
      input_tokens: total - read - written,
      cache_creation_input_tokens: written,
      cache_read_input_tokens: read,
    };
  }
}
