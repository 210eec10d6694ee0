import { expect, test } from "bun:test";
import { cacheCase, historySignaturesCase, imagesCase, systemCase, toolsCase } from "./checks.ts";
import type { RequestView } from "./dialect.ts";

/* The upstream-side cases on small views: each can pass, fail with its reason, or be n/a. */

const view = (over: Partial<RequestView>): RequestView => ({
  stream: false,
  tools: [],
  system: [],
  signatures: [],
  toolResults: [],
  endsWithToolResult: false,
  thinking: false,
  cacheControl: false,
  images: [],
  ...over,
});

const bash = { name: "Bash", properties: ["command", "timeout"], required: ["command"] };

test.each([
  ["kept", [bash], "pass", undefined],
  ["dropped", [], "fail", "1 of 1 tools dropped or renamed: Bash"],
  [
    "a parameter lost",
    [{ ...bash, properties: ["command"] }],
    "fail",
    "tool Bash lost parameters timeout",
  ],
  [
    "no longer required",
    [{ ...bash, required: [] }],
    "fail",
    "tool Bash's required command no longer required",
  ],
])("tools %s", (_name, upstreamTools, status, reason) => {
  expect(toolsCase(view({ tools: [bash] }), view({ tools: upstreamTools }))).toEqual({
    name: "tools",
    status: status as "pass",
    ...(reason ? { reason } : {}),
  });
});

test("a freeform tool is held to its name only; no tools is n/a", () => {
  expect(
    toolsCase(
      view({ tools: [{ name: "apply_patch" }] }),
      view({ tools: [{ name: "apply_patch", properties: ["input"] }] }),
    ).status,
  ).toBe("pass");
  expect(toolsCase(view({}), view({})).status).toBe("n/a");
});

test.each([
  ["anthropic", "anthropic", ["s1"], "pass"],
  ["anthropic", "anthropic", [], "fail"],
  ["anthropic", "gemini", [], "pass"],
  ["anthropic", "gemini", ["s1"], "fail"],
] as const)(
  "a %s signature in the history, sent to %s as %j: %s",
  (client, target, there, status) => {
    const result = historySignaturesCase(
      client,
      target,
      view({ signatures: ["s1"] }),
      view({ signatures: [...there] }),
    );
    expect(result.status).toBe(status);
  },
);

test("system texts are looked for in the target's own system field", () => {
  const client = view({ system: ["You are a CLI.", "  "] });
  expect(systemCase("gemini", client, view({ system: ["You are a CLI.\nMore."] })).status).toBe(
    "pass",
  );
  expect(systemCase("gemini", client, view({})).reason).toBe(
    `1 of 1 system texts not in the upstream's systemInstruction, e.g. "You are a CLI."`,
  );
});

test("cache fields only where the target takes them", () => {
  expect(cacheCase("anthropic", view({ cacheControl: true }), view({})).status).toBe("fail");
  expect(
    cacheCase("anthropic", view({ cacheControl: true }), view({ cacheControl: true })).status,
  ).toBe("pass");
  expect(cacheCase("openai-responses", view({ promptCacheKey: "k" }), view({})).status).toBe(
    "fail",
  );
  expect(cacheCase("gemini", view({ cacheControl: true }), view({})).status).toBe("n/a");
});

test("an image's data must reach the upstream's body", () => {
  const client = view({ images: [{ data: "iVBORw0KGgo".repeat(10) }] });
  expect(imagesCase(client, `{"data":"${"iVBORw0KGgo".repeat(10)}"}`).status).toBe("pass");
  expect(imagesCase(client, "[a media attachment the tool returned was omitted]").status).toBe(
    "fail",
  );
});
