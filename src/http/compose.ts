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
 * The steps joined into one function. A step may call `next` once: a second call would run the
 * rest of the chain twice on the same request, so it is refused. The last step must answer: a
 * `next` past it has nothing to run and rejects, which a step earlier in the chain sees as an
 * error of its own.
 */
export function compose<C>(steps: readonly Middleware<C>[]): (context: C) => Promise<Response> {
  const count = steps.length;
  return (context) => {
    // The furthest step entered: steps run strictly nested, so a `next` that asks for a step at
    // or before it is a second call from a step that already passed the request on.
    let entered = -1;
    // Not async: every request goes through every step, and an async wrapper per step would add a
    // promise and a turn of the microtask queue to each.
    const run = (index: number): Promise<Response> => {
      if (index <= entered)
        return Promise.reject(new Error(`middleware step ${index - 1} called next twice`));
      entered = index;
      if (index === count)
        return Promise.reject(
          new Error(`the middleware chain ended after ${count} steps without an answer`),
        );
      try {
        const answer = steps[index]!(context, () => run(index + 1));
        return answer instanceof Promise ? answer : Promise.resolve(answer);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return run(0);
  };
}
