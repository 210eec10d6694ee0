import { describe, expect, test } from "bun:test";
import { FAMILIES } from "./families.ts";
import type { ListedModel } from "./family.ts";
import type { Family } from "./names.ts";
import { geminiModel } from "./gemini/model-list.ts";

/* Model lists in each family's shape: what an upstream answers, and what a client is shown. */

const PARSED: [Family, unknown, ListedModel[]][] = [
  [
    "openai",
    { object: "list", data: [{ id: "gpt-x" }, { id: 7 }, "junk"] },
    [{ id: "gpt-x", ownedBy: "up", displayName: undefined }],
  ],
  [
    "anthropic",
    { data: [{ id: "claude-x", display_name: "Claude X" }], has_more: false },
    [{ id: "claude-x", ownedBy: "up", displayName: "Claude X" }],
  ],
  [
    "gemini",
    { models: [{ name: "models/gemini-x", displayName: "Gemini X", inputTokenLimit: 10 }] },
    [
      {
        id: "gemini-x",
        ownedBy: "up",
        displayName: "Gemini X",
        inputTokenLimit: 10,
        outputTokenLimit: undefined,
      },
    ],
  ],
  // A relay in front of Gemini may answer OpenAI's list.
  ["gemini", { data: [{ id: "g" }] }, [{ id: "g", ownedBy: "up", displayName: undefined }]],
  ["openai", "not a list", []],
  // Anthropic's models API names the limits; OpenRouter-like lists say context_length.
  [
    "anthropic",
    { data: [{ id: "claude-y", max_input_tokens: 1_000_000, max_tokens: 128_000 }] },
    [{ id: "claude-y", ownedBy: "up", inputTokenLimit: 1_000_000, outputTokenLimit: 128_000 }],
  ],
  [
    "openai",
    {
      data: [
        { id: "r", context_length: 32_768 },
        { id: "s", context_window: -1 },
      ],
    },
    [
      { id: "r", ownedBy: "up", inputTokenLimit: 32_768 },
      { id: "s", ownedBy: "up" },
    ],
  ],
];

describe("parseModelList", () => {
  test.each(PARSED)("%s %p", (family, body, expected) => {
    expect(FAMILIES[family].parseModelList(body, "up")).toEqual(expected);
  });
});

const MODEL = { id: "m", ownedBy: "up" };
const CREATED = 1_700_000_000;

const RENDERED: [Family, unknown][] = [
  [
    "openai",
    { object: "list", data: [{ id: "m", object: "model", created: CREATED, owned_by: "up" }] },
  ],
  [
    "anthropic",
    {
      data: [
        {
          type: "model",
          id: "m",
          display_name: "m",
          created_at: "2023-11-14T22:13:20.000Z",
          max_input_tokens: null,
          max_tokens: null,
        },
      ],
      has_more: false,
      first_id: "m",
      last_id: "m",
    },
  ],
  [
    "gemini",
    {
      models: [
        {
          name: "models/m",
          version: "001",
          displayName: "m",
          description: 'Served by levity through upstream "up".',
          inputTokenLimit: 1_048_576,
          outputTokenLimit: 65_536,
          supportedGenerationMethods: ["generateContent", "countTokens"],
        },
      ],
    },
  ],
];

/* A model whose limits levity knows: each family says them in its own fields. */
const KNOWN = {
  id: "k",
  ownedBy: "up",
  inputTokenLimit: 200_000,
  outputTokenLimit: 64_000,
  modalities: ["text", "image"],
};

const RENDERED_LIMITS: [Family, Record<string, unknown>][] = [
  [
    "openai",
    {
      context_window: 200_000,
      context_length: 200_000,
      max_output_tokens: 64_000,
      input_modalities: ["text", "image"],
    },
  ],
  ["anthropic", { max_input_tokens: 200_000, max_tokens: 64_000 }],
  ["gemini", { inputTokenLimit: 200_000, outputTokenLimit: 64_000 }],
];

describe("renderModel with limits", () => {
  test.each(RENDERED_LIMITS)("%s", (family, fields) => {
    expect(FAMILIES[family].renderModel(KNOWN, CREATED)).toMatchObject(fields);
  });
});

describe("renderModelList", () => {
  test.each(RENDERED)("%s", (family, expected) => {
    expect(FAMILIES[family].renderModelList([MODEL], CREATED)).toEqual(expected);
  });
});

test("the SDK header that tells a shared path's clients apart", () => {
  expect(FAMILIES.anthropic.sdkHeader).toBe("anthropic-version");
  expect(FAMILIES.gemini.sdkHeader).toBe("x-goog-api-key");
  expect(FAMILIES.openai.sdkHeader).toBeUndefined();
});

test("a Gemini listing of a name only a mapping gives names no upstream called levity", () => {
  expect(geminiModel({ id: "fast", ownedBy: "levity" }).description).toBe(
    "Served by levity under a name its mappings give.",
  );
  expect(geminiModel({ id: "m", ownedBy: "up" }).description).toBe(
    'Served by levity through upstream "up".',
  );
});
