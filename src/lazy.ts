/**
 * A value made the first time it is asked for, then kept. For what is derived from fixed inputs
 * alone (a table in the code, a script's digest, a glob's matcher), which would cost every start
 * its making but which only some requests need. Not for state: that belongs to an instance
 * (test/module-state.test.ts).
 */
export function lazyConstant<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
