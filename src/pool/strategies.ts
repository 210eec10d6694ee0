import type { Strategy } from "../config/schema.ts";

/*
 * Which ready account serves a request, as a table of pure functions: one per strategy an upstream
 * may name. The caller gathers the candidates (accounts that serve the model, are not cooling,
 * disabled or full) and remembers what a pick asks it to: new round-robin weights, a session
 * that sticks to the account.
 */

export interface Candidate {
  readonly name: string;
  /** Share of the traffic under round_robin and least_busy. */
  readonly weight: number;
  readonly inFlight: number;
  /** Smooth weighted round robin's running weight: the cursor, carried from pick to pick. */
  readonly runningWeight: number;
}

/** What ties this request to an account, already looked up by the caller. */
export interface Ties {
  /** The account holding the stored response this request continues. */
  readonly pinnedTo?: string;
  /** The request names a conversation (sticky keeps one conversation on one account). */
  readonly session?: boolean;
  /** The account this conversation was on before. */
  readonly stuckTo?: string;
}

export interface Pick {
  /** Index into the candidates. */
  readonly index: number;
  /** The candidates' running weights after this pick, when the pick moved the cursor. */
  readonly runningWeights?: readonly number[];
  /** The conversation should stay on the picked account from now on. */
  readonly sticks?: boolean;
}

type Choose = (candidates: readonly Candidate[], ties: Ties) => Pick;

/** The first candidate, the cursor unmoved: one object for every pick that needs no other. */
const FIRST: Pick = Object.freeze({ index: 0 });

/**
 * Smooth weighted round robin: each account in proportion to its weight, spread out rather than
 * in runs (weights 5, 1, 1 give a a b a c a a, not a a a a a b c).
 */
function roundRobin(candidates: readonly Candidate[]): Pick {
  // One candidate: its running weight would gain its weight and lose it again (whole numbers).
  if (candidates.length === 1) return FIRST;
  // Loops, not map and reduce: every request's pick paid for their two closures.
  const runningWeights: number[] = [];
  let total = 0;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    runningWeights.push(c.runningWeight + c.weight);
    total += c.weight;
  }
  let index = 0;
  for (let i = 1; i < runningWeights.length; i++)
    if (runningWeights[i]! > runningWeights[index]!) index = i;
  runningWeights[index]! -= total;
  return { index, runningWeights };
}

/** Fewest requests in flight for its weight; the first such on a tie. */
function leastBusy(candidates: readonly Candidate[]): Pick {
  let index = 0;
  for (let i = 1; i < candidates.length; i++)
    if (load(candidates[i]!) < load(candidates[index]!)) index = i;
  return { index };
}

// A module function: written inside leastBusy, it was a closure made on every pick.
function load(c: Candidate): number {
  return c.inFlight / c.weight;
}

/** A conversation stays where it began while that account can serve, so upstream caches stay warm. */
function sticky(candidates: readonly Candidate[], ties: Ties): Pick {
  if (!ties.session) return roundRobin(candidates);
  const kept = candidates.findIndex((c) => c.name === ties.stuckTo);
  if (kept >= 0) return { index: kept, sticks: true };
  const { index, runningWeights } = roundRobin(candidates);
  return { index, runningWeights, sticks: true };
}

export const STRATEGIES: Readonly<Record<Strategy, Choose>> = {
  round_robin: roundRobin,
  fill_first: () => FIRST,
  least_busy: leastBusy,
  sticky,
};

/**
 * The pick among non-empty `candidates`. A stored response lives in one account, and any other
 * would answer 404 to its continuation: its holder wins over every strategy while it can serve.
 */
export function pick(strategy: Strategy, candidates: readonly Candidate[], ties: Ties): Pick {
  const holder =
    ties.pinnedTo === undefined ? -1 : candidates.findIndex((c) => c.name === ties.pinnedTo);
  if (holder >= 0) return { index: holder };
  return (STRATEGIES[strategy] ?? roundRobin)(candidates, ties);
}
