import { expect, test } from "bun:test";
import { lazyConstant } from "./lazy.ts";

test("lazyConstant makes its value when first asked, once, and keeps it", () => {
  let made = 0;
  const table = lazyConstant(() => {
    made++;
    return { made };
  });
  expect(made).toBe(0);
  const first = table();
  expect(table()).toBe(first);
  expect(made).toBe(1);
});

test("lazyConstant keeps a value that is undefined, rather than making it again", () => {
  let made = 0;
  const nothing = lazyConstant(() => {
    made++;
    return undefined;
  });
  nothing();
  nothing();
  expect(made).toBe(1);
});
