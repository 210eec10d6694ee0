/*
 * The request path as a list of steps, each doing one thing and handing the request on. Reading
 * createGateway's list top to bottom is reading what happens to a request in order; a step that
 * wants to change the order of things changes its place in the list, not the code around it.
 */

/** Runs the rest of the chain and resolves to its answer. */
export type Next = () => Promise<Response>;

/**
 * One step. It answers by returning a response without calling `next` (the steps after it never
 * run), or passes the request on by returning what `next()` gives, possibly after looking at or
 * changing it, or after catching what the rest of the chain threw.
 */
export type Middleware<C> = (context: C, next: Next) => Response | Promise<Response>;

/**
 * What most steps do: look at the request and either answer it or let it pass (undefined). Such a
 * step needs no `next` of its own, so compose runs a row of them in one loop: a closure and a
 * promise per step per request were most of what the composed path cost over one function.
 */
type Check<C> = (context: C) => Response | undefined | Promise<Response | undefined>;

/** A Check usable as a step on its own (its unit tests call it so), which compose can fuse. */
interface CheckStep<C> extends Middleware<C> {
  readonly check: Check<C>;
}

export function check<C>(inspect: Check<C>): CheckStep<C> {
  const step: Middleware<C> = (context, next) => {
    const answer = inspect(context);
    if (answer === undefined) return next();
    if (answer instanceof Response) return answer;
    return answerOrNext(answer, next);
  };
  return Object.assign(step, { check: inspect });
}

/*
 * The closures for a check that waits are made in functions of their own: a closure inside the
 * step (or inside a loop over the checks) made the engine allocate a scope for every call (and
 * every turn of the loop), whether the check waited or not.
 */

function answerOrNext(answer: Promise<Response | undefined>, next: Next): Promise<Response> {
  return answer.then((settled) => settled ?? next());
}

function answerOrRest<C>(
  answer: Promise<Response | undefined>,
  run: ChainRun<C>,
  checks: readonly Check<C>[],
  start: number,
  index: number,
): Promise<Response> {
  return answer.then((settled) => settled ?? run.checkRow(checks, start, index));
}

/**
 * Consecutive checks (one or more) as one step, which compose runs without a `next` of its own:
 * in order until one answers, waiting only on those that wait.
 */
interface Row<C> {
  readonly checks: readonly Check<C>[];
}

type Fused<C> = Middleware<C> | Row<C>;

function isCheck<C>(step: Middleware<C>): step is CheckStep<C> {
  return "check" in step;
}

/** The steps with each row of checks made one. */
function fuseChecks<C>(steps: readonly Middleware<C>[]): Fused<C>[] {
  const out: Fused<C>[] = [];
  let row: CheckStep<C>[] = [];
  const flush = () => {
    if (row.length > 0) out.push({ checks: row.map((step) => step.check) });
    row = [];
  };
  for (const step of steps) {
    if (isCheck(step)) row.push(step);
    else {
      flush();
      out.push(step);
    }
  }
  flush();
  return out;
}

/**
 * The steps joined into one function. A step may call `next` once: a second call would run the
 * rest of the chain twice on the same request, so it is refused. The last step must answer: a
 * `next` past it has nothing to run and rejects, which a step earlier in the chain sees as an
 * error of its own.
 */
export function compose<C>(written: readonly Middleware<C>[]): (context: C) => Promise<Response> {
  const steps = fuseChecks(written);
  return (context) => new ChainRun(steps, context).run(0);
}

/** What a step declared without a `next` parameter is handed: one function, not one a request. */
const NO_NEXT: Next = () =>
  Promise.reject(new Error("a middleware step declared without next called it"));

/**
 * One request's way through the steps. An object rather than closures over the request: a
 * closure made a function and two scopes for every request, and `next` is a bound method, made
 * only for a step that takes one (a row of checks goes on to the step after it itself).
 */
class ChainRun<C> {
  // The furthest step entered: steps run strictly nested, so a `next` that asks for a step at
  // or before it is a second call from a step that already passed the request on.
  private entered = -1;

  constructor(
    private readonly steps: readonly Fused<C>[],
    private readonly context: C,
  ) {}

  // Not async: every request goes through every step, and an async wrapper per step would add a
  // promise and a turn of the microtask queue to each.
  run(index: number): Promise<Response> {
    const count = this.steps.length;
    if (index <= this.entered)
      return Promise.reject(new Error(`middleware step ${index - 1} called next twice`));
    this.entered = index;
    if (index === count)
      return Promise.reject(
        new Error(`the middleware chain ended after ${count} steps without an answer`),
      );
    const step = this.steps[index]!;
    try {
      if (typeof step !== "function") return this.checkRow(step.checks, 0, index);
      // A step that takes no `next` (the last, which dispatches) cannot call one: none is made.
      const answer = step(this.context, step.length < 2 ? NO_NEXT : this.run.bind(this, index + 1));
      return answer instanceof Promise ? answer : Promise.resolve(answer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The row of checks that is step `index`, from check `start` on; then the step after it. */
  checkRow(checks: readonly Check<C>[], start: number, index: number): Promise<Response> {
    for (let at = start; at < checks.length; at++) {
      const answer = checks[at]!(this.context);
      if (answer === undefined) continue;
      if (answer instanceof Response) return Promise.resolve(answer);
      return answerOrRest(answer, this, checks, at + 1, index);
    }
    return this.run(index + 1);
  }
}
