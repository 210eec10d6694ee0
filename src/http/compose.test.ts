import { describe, expect, test } from "bun:test";
import { check, compose, type Middleware } from "./compose.ts";

/** A context that records which steps ran, in order, and where each stood relative to `next`. */
interface Trail {
  seen: string[];
}

type Step = Middleware<Trail>;

const passes =
  (name: string): Step =>
  async (trail, next) => {
    trail.seen.push(`${name} in`);
    const response = await next();
    trail.seen.push(`${name} out`);
    return response;
  };

const answers =
  (name: string, status: number): Step =>
  (trail) => {
    trail.seen.push(name);
    return new Response(null, { status });
  };

const throws =
  (message: string): Step =>
  () => {
    throw new Error(message);
  };

const catches: Step = async (trail, next) => {
  try {
    return await next();
  } catch (error) {
    trail.seen.push(`caught ${(error as Error).message}`);
    return new Response(null, { status: 500 });
  }
};

const callsNextTwice: Step = async (_, next) => {
  await next();
  return next();
};

const cases: {
  name: string;
  steps: Step[];
  status?: number;
  rejects?: RegExp;
  seen: string[];
}[] = [
  {
    name: "runs steps in list order and unwinds in reverse",
    steps: [passes("a"), passes("b"), answers("end", 200)],
    status: 200,
    seen: ["a in", "b in", "end", "b out", "a out"],
  },
  {
    name: "a step that answers stops the chain: later steps never run",
    steps: [passes("a"), answers("refuse", 421), answers("never", 200)],
    status: 421,
    seen: ["a in", "refuse", "a out"],
  },
  {
    name: "a synchronous throw reaches the nearest step before it that catches",
    steps: [passes("a"), catches, passes("b"), throws("boom"), answers("never", 200)],
    status: 500,
    seen: ["a in", "b in", "caught boom", "a out"],
  },
  {
    name: "an uncaught throw rejects the composed function",
    steps: [passes("a"), throws("boom")],
    rejects: /boom/,
    seen: ["a in"],
  },
  {
    name: "a chain whose last step passes on rejects: nothing answered",
    steps: [passes("a"), passes("b")],
    rejects: /ended after 2 steps without an answer/,
    seen: ["a in", "b in"],
  },
  {
    name: "an empty chain rejects",
    steps: [],
    rejects: /ended after 0 steps/,
    seen: [],
  },
  {
    name: "calling next twice is refused instead of running the rest twice",
    steps: [catches, callsNextTwice, answers("end", 200)],
    status: 500,
    seen: ["end", "caught middleware step 1 called next twice"],
  },
];

describe("compose", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const trail: Trail = { seen: [] };
      const run = compose(c.steps)(trail);
      if (c.rejects) await expect(run).rejects.toThrow(c.rejects);
      else expect((await run).status).toBe(c.status ?? -1);
      expect(trail.seen).toEqual(c.seen);
    });
  }

  test("one composed chain serves many contexts, each with its own trail", async () => {
    const chain = compose([passes("a"), answers("end", 204)]);
    const first: Trail = { seen: [] };
    const second: Trail = { seen: [] };
    await Promise.all([chain(first), chain(second)]);
    expect(first.seen).toEqual(["a in", "end", "a out"]);
    expect(second.seen).toEqual(["a in", "end", "a out"]);
  });
});

describe("checks, fused into one step", () => {
  const pass = (name: string) =>
    check<string[]>((trail) => {
      trail.push(name);
      return undefined;
    });
  const later = (name: string) =>
    check<string[]>((trail) =>
      Promise.resolve().then(() => {
        trail.push(name);
        return undefined;
      }),
    );
  const answer = (name: string) =>
    check<string[]>((trail) => {
      trail.push(name);
      return new Response(name);
    });
  const end: Middleware<string[]> = (trail) => {
    trail.push("end");
    return new Response("end");
  };

  const cases: { name: string; steps: Middleware<string[]>[]; seen: string[]; body: string }[] = [
    {
      name: "a row of checks that all pass reaches the step after them",
      steps: [pass("a"), pass("b"), pass("c"), end],
      seen: ["a", "b", "c", "end"],
      body: "end",
    },
    {
      name: "the first check that answers ends the row and the chain",
      steps: [pass("a"), answer("b"), pass("c"), end],
      seen: ["a", "b"],
      body: "b",
    },
    {
      name: "a check that waits is waited for, and the row goes on in order",
      steps: [pass("a"), later("b"), pass("c"), later("d"), end],
      seen: ["a", "b", "c", "d", "end"],
      body: "end",
    },
    {
      name: "checks around a wrapping step keep their places",
      steps: [
        pass("a"),
        (trail, next) =>
          next().then((response) => {
            trail.push("wrapped");
            return response;
          }),
        pass("b"),
        end,
      ],
      seen: ["a", "b", "end", "wrapped"],
      body: "end",
    },
  ];
  for (const c of cases)
    test(c.name, async () => {
      const trail: string[] = [];
      const response = await compose(c.steps)(trail);
      expect(trail).toEqual(c.seen);
      expect(await response.text()).toBe(c.body);
    });

  test("a check that throws rejects where a wrapping step before it can catch it", async () => {
    const boom = check<string[]>(() => {
      throw new Error("refused");
    });
    const catching: Middleware<string[]> = (trail, next) =>
      next().catch((error: Error) => {
        trail.push(`caught ${error.message}`);
        return new Response("caught");
      });
    const trail: string[] = [];
    const response = await compose([catching, pass("a"), boom, pass("b"), end])(trail);
    expect(trail).toEqual(["a", "caught refused"]);
    expect(await response.text()).toBe("caught");
  });

  test("a check is a step on its own too, with a next", async () => {
    const passed = await pass("a")(["x"], () => Promise.resolve(new Response("next")));
    expect(await passed.text()).toBe("next");
    const answered = await answer("b")([], () => Promise.resolve(new Response("next")));
    expect(await answered.text()).toBe("b");
  });
});
