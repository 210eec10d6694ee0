/**
 * A value made the first time it is asked for, then kept. For tables derived from the code alone,
 * the same in every gateway of the process, which cost every start their making as their module
 * loads but which only some requests need. Not for state: that belongs to an instance
 * (test/module-state.test.ts).
 */
export function lazyConstant<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
