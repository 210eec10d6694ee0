import { describe, expect, test } from "bun:test";
import type { Strategy } from "../config/schema.ts";
import { type Candidate, type Pick, pick, STRATEGIES, type Ties } from "./strategies.ts";

const candidate = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  name,
  weight: 1,
  inFlight: 0,
  runningWeight: 0,
  ...over,
});

/** Picks `rounds` times, carrying the running weights as the pool does; the names picked in order. */
function sequence(strategy: Strategy, start: Candidate[], rounds: number, ties: Ties = {}) {
  let candidates = start;
  const names: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const picked = pick(strategy, candidates, ties);
    names.push(candidates[picked.index]!.name);
    const weights = picked.runningWeights;
    if (weights) candidates = candidates.map((c, j) => ({ ...c, runningWeight: weights[j]! }));
  }
  return names.join(" ");
}

describe("one pick", () => {
  const cases: {
    name: string;
    strategy: Strategy;
    candidates: Candidate[];
    ties?: Ties;
    pick: Pick;
  }[] = [
    {
      name: "fill_first takes the first ready account, whatever its load",
      strategy: "fill_first",
      candidates: [candidate("a", { inFlight: 9 }), candidate("b")],
      pick: { index: 0 },
    },
    {
      name: "least_busy takes the fewest in flight for its weight",
      strategy: "least_busy",
      candidates: [
        candidate("a", { inFlight: 2 }),
        candidate("b", { inFlight: 3, weight: 2 }),
        candidate("c", { inFlight: 2 }),
      ],
      pick: { index: 1 },
    },
    {
      name: "least_busy takes the first on a tie",
      strategy: "least_busy",
      candidates: [candidate("a", { inFlight: 1 }), candidate("b", { inFlight: 1 })],
      pick: { index: 0 },
    },
    {
      name: "round_robin takes the highest running weight and moves the cursor",
      strategy: "round_robin",
      candidates: [candidate("a", { weight: 1 }), candidate("b", { weight: 3 })],
      pick: { index: 1, runningWeights: [1, -1] },
    },
    {
      name: "round_robin carries the cursor from the last pick; a tie goes to the first",
      strategy: "round_robin",
      candidates: [
        candidate("a", { weight: 1, runningWeight: 1 }),
        candidate("b", { weight: 3, runningWeight: -1 }),
      ],
      pick: { index: 0, runningWeights: [-2, 2] },
    },
    {
      name: "sticky without a session is round robin, and sticks nothing",
      strategy: "sticky",
      candidates: [candidate("a"), candidate("b", { runningWeight: 1 })],
      pick: { index: 1, runningWeights: [1, 0] },
    },
    {
      name: "sticky keeps a conversation on the account it was on",
      strategy: "sticky",
      candidates: [candidate("a", { runningWeight: 5 }), candidate("b")],
      ties: { session: true, stuckTo: "b" },
      pick: { index: 1, sticks: true },
    },
    {
      name: "sticky moves a conversation whose account cannot serve, and sticks it there",
      strategy: "sticky",
      candidates: [candidate("a"), candidate("c", { runningWeight: 1 })],
      ties: { session: true, stuckTo: "b" },
      pick: { index: 1, runningWeights: [1, 0], sticks: true },
    },
    {
      name: "sticky places a new conversation by round robin, and sticks it",
      strategy: "sticky",
      candidates: [candidate("a"), candidate("b")],
      ties: { session: true },
      pick: { index: 0, runningWeights: [-1, 1], sticks: true },
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      expect(pick(c.strategy, c.candidates, c.ties ?? {})).toEqual(c.pick);
    });
});

describe("a pinned response wins over every strategy", () => {
  const candidates = [
    candidate("a", { runningWeight: 9 }),
    candidate("b", { inFlight: 5 }),
    candidate("c"),
  ];
  for (const strategy of Object.keys(STRATEGIES) as Strategy[]) {
    test(`${strategy}: the holder, without moving the cursor or sticking`, () => {
      expect(pick(strategy, candidates, { pinnedTo: "b", session: true, stuckTo: "c" })).toEqual({
        index: 1,
      });
    });
    test(`${strategy}: a holder that cannot serve leaves the choice to the strategy`, () => {
      const holderGone = pick(strategy, candidates, { pinnedTo: "z" });
      expect(holderGone).toEqual(pick(strategy, candidates, {}));
    });
  }
});

describe("sequences", () => {
  test("round_robin spreads weights 5, 1, 1 out rather than in runs", () => {
    const start = [
      candidate("a", { weight: 5 }),
      candidate("b", { weight: 1 }),
      candidate("c", { weight: 1 }),
    ];
    expect(sequence("round_robin", start, 14)).toBe("a a b a c a a a a b a c a a");
  });

  test("round_robin with equal weights takes turns", () => {
    expect(sequence("round_robin", [candidate("a"), candidate("b"), candidate("c")], 6)).toBe(
      "a b c a b c",
    );
  });

  test("fill_first never leaves the first while it can serve", () => {
    expect(sequence("fill_first", [candidate("a"), candidate("b")], 3)).toBe("a a a");
  });

  test("every strategy an upstream may name has an entry in the table", () => {
    expect(Object.keys(STRATEGIES).sort()).toEqual([
      "fill_first",
      "least_busy",
      "round_robin",
      "sticky",
    ]);
  });
});
