import { FAMILIES } from "../codecs/families.ts";
import type { ErrorFamily } from "../codecs/errors.ts";
import { GatewayError } from "../failure.ts";
import type { ChatRequest, Part } from "../ir.ts";
import { type ModelLimits, modelLimits } from "../mapping/model-limits.ts";
import type { Target } from "../mapping/table.ts";

/*
 * A request that cannot fit its target's context window is refused before it is sent, in the
 * client's own words for it (the ones that make Claude Code and Codex compact the conversation),
 * instead of costing an upstream round trip that ends in the same refusal in another dialect.
 *
 * The count is levity's estimate (OpenAI's o200k tokenizer), not the target's own tokenizer. For
 * a model whose tokenizer it is (OpenAI's GPT-4o, 4.1, 5 and o-series) a count over the window is
 * over it. For the others it is refused only when the estimate is over the window by more than
 * MARGIN: a prompt within that margin goes to the upstream, which decides, and its own too-long
 * error reaches the client translated into the same words.
 */
export const MARGIN = 0.1;

/**
 * The request as the window counts it: providers drop earlier turns' thinking from the context
 * (Anthropic strips it, OpenAI keeps reasoning only within a tool loop, Gemini's thoughts are not
 * sent back), so only the last assistant turn's thinking is counted. A long Claude Code session
 * would otherwise be refused, and compacted, while the upstream still had room.
 */
export function asTheWindowCounts(request: ChatRequest): ChatRequest {
  let last = -1;
  request.turns.forEach((turn, i) => {
    if (turn.role === "assistant") last = i;
  });
  const thinking = (part: Part) => part.type === "thinking" || part.type === "redacted_thinking";
  if (!request.turns.some((turn, i) => i !== last && turn.parts.some(thinking))) return request;
  return {
    ...request,
    turns: request.turns.map((turn, i) =>
      i === last ? turn : { ...turn, parts: turn.parts.filter((part) => !thinking(part)) },
    ),
  };
}

/** The most tokens the estimate may show before a request is refused for this model. */
export function refusalThreshold(limits: ModelLimits): number {
  return limits.o200k ? limits.contextWindow : Math.floor(limits.contextWindow * (1 + MARGIN));
}

/**
 * A client that turned on Anthropic's 1M-token context beta (`anthropic-beta: context-1m-…`) has
 * that window on the Claude models that offer it; the table holds the standard one. A window the
 * mapping gives is the operator's word and is kept.
 */
function windowFor(target: Target, limits: ModelLimits, headers: Headers): ModelLimits {
  if (target.limits?.contextWindow !== undefined) return limits;
  const beta = headers.get("anthropic-beta") ?? "";
  if (/context-1m/i.test(beta) && /claude/i.test(target.model) && limits.contextWindow < 1_000_000)
    return { ...limits, contextWindow: 1_000_000 };
  return limits;
}

/** The limits a target is held to for this request, or undefined when levity knows none. */
export function targetWindow(target: Target, headers: Headers): ModelLimits | undefined {
  return windowOf(target, modelLimits(target.model, target.limits), headers);
}

/** targetWindow for a target whose limits are already found (mapping/table.ts limitsOf). */
export function windowOf(
  target: Target,
  limits: ModelLimits | undefined,
  headers: Headers,
): ModelLimits | undefined {
  return limits && windowFor(target, limits, headers);
}

/**
 * Whether counting could find anything over a window: every token is at least one UTF-8 byte and a
 * UTF-16 unit is at most three, so a body shorter than a third of the smallest window fits it. The
 * tokenizer then runs only for the requests that come near a window.
 */
export function mayExceed(bodyChars: number, windows: readonly ModelLimits[]): boolean {
  if (windows.length === 0) return false;
  const smallest = Math.min(...windows.map((limits) => limits.contextWindow));
  return bodyChars * 3 > smallest;
}

/**
 * Whether the tokenizer is worth running. The rough count (tokens/estimate.ts roughRequestTokens)
 * is at least a quarter of the tokenizer's for any text (hex digits, the densest, come to a
 * quarter; prose, code, JSON, CJK and diffs to half or more), so a rough count under a quarter of
 * every threshold fits them all. The tokenizer, whose first load holds the event loop for about
 * 650 ms, then runs only for requests that come within reach of a window.
 */
export const ROUGH_FACTOR = 4;

export function worthCounting(rough: number, windows: readonly ModelLimits[]): boolean {
  return windows.some((limits) => rough * ROUGH_FACTOR >= refusalThreshold(limits));
}

/**
 * The targets this request fits, given its estimated input tokens: a target over its window is
 * skipped, so a fallback with a larger window serves; when none fits, the client's dialect's
 * too-long error, naming the estimate and the first target's window.
 */
export function fittingTargets(
  targets: readonly Target[],
  tokens: number,
  headers: Headers,
  family: ErrorFamily,
): Target[] {
  const fitting = targets.filter((target) => {
    const limits = targetWindow(target, headers);
    return !limits || tokens <= refusalThreshold(limits);
  });
  if (fitting.length > 0) return fitting;
  const limit = targetWindow(targets[0]!, headers)!.contextWindow;
  throw tooLongError(family, tokens, limit, "estimate");
}

/** The client's too-long error; `source` says where the numbers came from, in a header. */
export function tooLongError(
  family: ErrorFamily,
  tokens: number | undefined,
  limit: number | undefined,
  source: "estimate" | "upstream",
): GatewayError {
  const { message, fields } = FAMILIES[family].contextTooLong.error(tokens, limit);
  return new GatewayError(400, message, {
    ...fields,
    headers: { "x-levity-context-check": source },
  });
}
