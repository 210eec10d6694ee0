import { expect } from "bun:test";

/*
 * The conformance cases, written so that a real model and levity's scripted fakes both pass them:
 * every prompt is an instruction a model follows. The echo upstream follows nothing; it returns
 * the user's text, so for it the expected answer is that text.
 */

export const CASES = [
  "plain",
  "streamed",
  "tool round trip",
  "image in",
  "system prompt",
  "thinking",
  "upstream error",
  "image generation",
  "image edit",
] as const;
export type CaseName = (typeof CASES)[number];

/** One upstream under test, as a client sees it: a model name that reaches it, and one that it does not have. */
export interface UpstreamModels {
  name: string;
  model: string;
  missingModel: string;
  /** Echo repeats the user's text instead of following it. */
  echoes: boolean;
  /** A model name that reaches this upstream's image generation, where it has one: the image cases run only then. */
  imageModel?: string;
}

export interface Target {
  baseUrl: string;
  apiKey: string;
}

export type CaseRun = (target: Target, upstream: UpstreamModels) => Promise<void>;

export interface Driver {
  client: string;
  cases: Partial<Record<CaseName, CaseRun>>;
  /** Whether the driver has anything to try on this upstream (the images client needs an image model). */
  serves?: (upstream: UpstreamModels) => boolean;
}

export const PLAIN = "Reply with exactly this text and nothing else: levity-plain-ok";
export const STREAMED = "Reply with exactly this text and nothing else: levity stream ok";
export const TOOL_PROMPT = 'Call the get_weather tool for the city "Paris".';
export const TOOL_RESULT = '{"temp_c":21}';
export const IMAGE_PROMPT = "What color is this image? Answer with one word.";
export const SYSTEM = "Begin every reply with the word SYSTEM-OK.";
export const SYSTEM_USER = "Say hello.";
export const THINKING = "What is 17 * 3? Reply with the number only.";
export const IMAGE_GENERATION = "A plain red square on a white background.";
export const IMAGE_EDIT = "Make the square blue.";

/** A schema as coding agents send them: $schema and additionalProperties included, which Gemini refuses. */
export const WEATHER_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  properties: {
    city: { type: "string", description: "The city's name" },
    unit: { type: ["string", "null"], enum: ["celsius", "fahrenheit", null] },
  },
  required: ["city"],
  additionalProperties: false,
};
export const WEATHER_DESCRIPTION = "Get the current weather for a city";

/** The answer each case expects: what the prompt asks a model for, or the prompt itself from echo. */
export function expectAnswer(
  text: string | null | undefined,
  upstream: UpstreamModels,
  prompt: string,
  expected: RegExp,
): void {
  expect(text ?? "").toMatch(
    upstream.echoes
      ? new RegExp(prompt.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").slice(0, 40))
      : expected,
  );
}

export function expectUsage(
  input: number | undefined | null,
  output: number | undefined | null,
): void {
  expect(input ?? 0).toBeGreaterThan(0);
  expect(output ?? 0).toBeGreaterThan(0);
}

export function expectCityArgument(args: unknown): void {
  const parsed = typeof args === "string" ? JSON.parse(args) : args;
  expect(parsed).toMatchObject({ city: "Paris" });
}
