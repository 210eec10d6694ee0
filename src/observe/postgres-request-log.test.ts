import { describe, expect, test } from "bun:test";
import { globToRegex } from "./postgres-request-log.ts";

// levity logs --model takes a glob, as SQLite's GLOB reads it; PostgreSQL gets it as a regex.
describe("globToRegex", () => {
  const cases: [glob: string, name: string, matches: boolean][] = [
    ["gpt-4o", "gpt-4o", true],
    ["gpt-4o", "gpt-4o-mini", false],
    ["gpt-*", "gpt-4o-mini", true],
    ["gpt-*", "o3", false],
    ["claude-?-sonnet", "claude-4-sonnet", true],
    ["claude-?-sonnet", "claude-45-sonnet", false],
    ["gemini-[23]*", "gemini-3.8-flash", true],
    ["gemini-[23]*", "gemini-1.5-pro", false],
    ["gemini-[^1]*", "gemini-1.5-pro", false],
    // Regex characters in a model name are themselves.
    ["gpt-4.1", "gpt-4x1", false],
    ["a+b(c)", "a+b(c)", true],
    ["x$", "x$", true],
    // A lone [ has no closing bracket: it is a character too.
    ["odd[", "odd[", true],
  ];
  for (const [glob, name, matches] of cases)
    test(`${glob} ${matches ? "matches" : "does not match"} ${name}`, () => {
      expect(new RegExp(globToRegex(glob)).test(name)).toBe(matches);
    });
});
