import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolveModel, resolveTargets } from "../src/mapping/resolve.ts";
import { literalCount } from "../src/mapping/specificity.ts";
import { compileMappings } from "../src/mapping/table.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

describe("specificity: literal characters of a glob", () => {
  test.each([
    ["*", 0],
    ["claude-*", 7],
    ["claude-sonnet-*", 14],
    ["gpt-4?", 5],
    ["[ab]x", 2],
    ["{gpt,o}-*", 2],
    ["a\\*", 2],
    ["**/llama-*", 7],
  ])("%s counts %d", (pattern, count) => {
    expect(literalCount(pattern)).toBe(count);
  });
});

function table(exact: [string, string][], wildcard: [string, string][], fallback?: string) {
  return compileMappings(
    "mappings.yaml",
    exact.map(([key, target], i) => ({ key, target, line: i + 2 })),
    wildcard.map(([key, target], i) => ({ key, target, line: i + 10 })),
    fallback ? { target: fallback, line: 20 } : undefined,
  );
}

describe("resolution order", () => {
  const t = table(
    [["gpt-4o", "a/exact-target"]],
    [
      ["gpt-*", "a/gpt-family"],
      ["*", "a/catch-all"],
      ["gpt-4*", "b/gpt-4-family"],
      ["claude-?-x", "a/first-of-equals"],
      ["claude-x-?", "b/second-of-equals"],
      ["org/*", "a/one-segment"],
      ["org/**", "b/any-depth"],
    ],
    "b/default-target",
  );

  test("exact beats every wildcard", () => {
    expect(resolveModel(t, "gpt-4o", "a")).toMatchObject({
      targets: [{ upstream: "a", model: "exact-target" }],
      rule: { kind: "exact", line: 2 },
    });
  });

  test("the most specific wildcard wins, wherever it is written", () => {
    expect(resolveModel(t, "gpt-4-turbo", "a")).toMatchObject({
      targets: [{ upstream: "b", model: "gpt-4-family" }],
      rule: { kind: "wildcard", pattern: "gpt-4*", line: 12 },
    });
    expect(resolveModel(t, "gpt-3.5", "a").rule.pattern).toBe("gpt-*");
  });

  test("between equally specific wildcards, the one written first wins", () => {
    expect(resolveModel(t, "claude-x-x", "a")).toMatchObject({
      targets: [{ model: "first-of-equals" }],
      rule: { line: 13 },
    });
  });

  test("'*' does not cross '/', '**' does", () => {
    expect(resolveModel(t, "org/llama", "a").targets[0]!.model).toBe("one-segment");
    expect(resolveModel(t, "org/meta/llama", "a").targets[0]!.model).toBe("any-depth");
  });

  test("a catch-all wildcard hides the default; without one the default serves", () => {
    expect(resolveModel(t, "mistral", "a").rule.pattern).toBe("*");
    const noCatchAll = table([], [["gpt-*", "a/x"]], "b/default-target");
    expect(resolveModel(noCatchAll, "mistral", "a")).toMatchObject({
      targets: [{ upstream: "b", model: "default-target" }],
      rule: { kind: "default", line: 20 },
    });
  });

  test("the request path's resolveTargets picks what resolveModel reports, rule for rule", () => {
    const noDefault = table([["gpt-4o", "a/x"]], [["gpt-*", "b/y"]]);
    for (const [mappings, names] of [
      [
        t,
        [
          "gpt-4o",
          "gpt-4-turbo",
          "gpt-3.5",
          "claude-x-x",
          "org/llama",
          "org/meta/llama",
          "mistral",
        ],
      ],
      [noDefault, ["gpt-4o", "gpt-5", "mistral"]],
    ] as const)
      for (const name of names)
        expect(resolveTargets(mappings, name, "first")).toEqual(
          resolveModel(mappings, name, "first").targets,
        );
  });

  test("with no rule and no default the name goes unchanged to the first upstream", () => {
    expect(resolveModel(table([], []), "mistral-large", "first")).toMatchObject({
      targets: [{ upstream: "first", model: "mistral-large" }],
      rule: { kind: "unmapped" },
    });
  });
});

describe("mappings in the running gateway", () => {
  let gw: TestGateway;
  beforeAll(() => {
    gw = startGateway({
      gateway: upstreamsYaml([
        { name: "first", protocol: "echo" },
        { name: "second", protocol: "echo" },
      ]),
      mappings: [
        "exact:",
        "  gpt-4o: second/exact-hit",
        "wildcard:",
        '  "gpt-*": first/broad',
        '  "gpt-4*": second/narrow',
        "default: second/fallback",
        "",
      ].join("\n"),
    });
  });
  afterAll(() => gw.stop());

  async function routed(model: string) {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }),
    });
    const body = await bodyOf(response);
    return {
      upstream: response.headers.get("x-upstream"),
      mapped: response.headers.get("x-mapped-model"),
      model: body.model,
    };
  }

  test.each([
    ["gpt-4o", "second", "exact-hit"],
    ["gpt-4-turbo", "second", "narrow"],
    ["gpt-3.5-turbo", "first", "broad"],
    ["llama-3", "second", "fallback"],
  ])("%s goes to %s/%s", async (model, upstream, mapped) => {
    expect(await routed(model)).toEqual({ upstream, mapped, model: mapped });
  });

  test("Gemini's model comes from the path and is mapped the same way", async () => {
    const response = await fetch(`${gw.origin}/v1beta/models/gpt-4-mini:generateContent`, {
      method: "POST",
      body: JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }),
    });
    expect(response.headers.get("x-mapped-model")).toBe("narrow");
    expect((await bodyOf(response)).modelVersion).toBe("narrow");
  });

  test("a request without a model is a 400 naming the field", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ messages: [] }),
    });
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).error).toMatchObject({
      param: "model",
      type: "invalid_request_error",
    });
  });
});
