import { afterAll, expect } from "bun:test";
import { leaksFound } from "./secret-audit.ts";

// After every test file has run: no key written into any test's configuration appeared in anything a gateway wrote.
afterAll(() => {
  const { secrets, leaks } = leaksFound();
  console.log(
    `secret audit: ${secrets} keys searched for in every gateway's log, output and data files; ${leaks.length} found`,
  );
  expect(leaks).toEqual([]);
});
