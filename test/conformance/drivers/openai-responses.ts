import { expect } from "bun:test";
import OpenAI from "openai";
import { RED_PNG_DATA_URL } from "../../support/red-png.ts";
import {
  expectAnswer,
  expectCityArgument,
  expectUsage,
  IMAGE_PROMPT,
  PLAIN,
  STREAMED,
  SYSTEM,
  SYSTEM_USER,
  THINKING,
  TOOL_PROMPT,
  TOOL_RESULT,
  WEATHER_DESCRIPTION,
  WEATHER_SCHEMA,
  type Driver,
  type Target,
} from "../cases.ts";

const client = (target: Target) =>
  new OpenAI({ apiKey: target.apiKey, baseURL: `${target.baseUrl}/v1`, maxRetries: 0 });
const tools = [
  {
    type: "function" as const,
    name: "get_weather",
    description: WEATHER_DESCRIPTION,
    parameters: WEATHER_SCHEMA,
    strict: false,
  },
];

export const openaiResponsesDriver: Driver = {
  client: "openai responses",
  cases: {
    async plain(target, upstream) {
      const done = await client(target).responses.create({
        model: upstream.model,
        input: PLAIN,
        store: false,
      });
      expect(done.object).toBe("response");
      expect(done.status).toBe("completed");
      expectAnswer(done.output_text, upstream, PLAIN, /levity-plain-ok/);
      expectUsage(done.usage?.input_tokens, done.usage?.output_tokens);
    },

    async streamed(target, upstream) {
      const stream = client(target).responses.stream({
        model: upstream.model,
        input: [{ role: "user", content: STREAMED }],
        store: false,
      });
      const types: string[] = [];
      for await (const event of stream) types.push(event.type);
      const final = await stream.finalResponse();
      expectAnswer(final.output_text, upstream, STREAMED, /levity stream ok/);
      expect(types.slice(0, 2)).toEqual(["response.created", "response.in_progress"]);
      expect(types.at(-1)).toBe("response.completed");
      const added = types.indexOf("response.content_part.added");
      expect(added).toBeGreaterThan(types.indexOf("response.output_item.added"));
      expect(types.indexOf("response.output_text.delta")).toBeGreaterThan(added);
      expect(types.lastIndexOf("response.output_text.delta")).toBeLessThan(
        types.indexOf("response.output_text.done"),
      );
      expectUsage(final.usage?.input_tokens, final.usage?.output_tokens);
    },

    async "tool round trip"(target, upstream) {
      const openai = client(target);
      const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: TOOL_PROMPT }];
      const first = await openai.responses
        .stream({ model: upstream.model, input, tools, store: false })
        .finalResponse();
      const call = (first.output as OpenAI.Responses.ResponseOutputItem[]).find(
        (item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === "function_call",
      );
      expect(call?.name).toBe("get_weather");
      expectCityArgument(call!.arguments);
      input.push(...(first.output as OpenAI.Responses.ResponseInputItem[]), {
        type: "function_call_output",
        call_id: call!.call_id,
        output: TOOL_RESULT,
      });
      const second = await openai.responses.create({
        model: upstream.model,
        input,
        tools,
        store: false,
      });
      expect(second.output_text).toContain("21");
    },

    async "image in"(target, upstream) {
      const done = await client(target).responses.create({
        model: upstream.model,
        store: false,
        input: [
          {
            role: "user",
            content: [
              { type: "input_text", text: IMAGE_PROMPT },
              { type: "input_image", image_url: RED_PNG_DATA_URL, detail: "auto" },
            ],
          },
        ],
      });
      expect(done.output_text).toMatch(upstream.echoes ? /image\/png, \d+ bytes/ : /red/i);
    },

    async "system prompt"(target, upstream) {
      const done = await client(target).responses.create({
        model: upstream.model,
        instructions: SYSTEM,
        input: SYSTEM_USER,
        store: false,
      });
      if (upstream.echoes) expect(done.output_text).toBe(SYSTEM_USER);
      else expect(done.output_text).toMatch(/^SYSTEM-OK/);
      expect(done.instructions).toBe(SYSTEM);
    },

    async thinking(target, upstream) {
      const done = await client(target).responses.create({
        model: upstream.model,
        input: THINKING,
        reasoning: { effort: "medium", summary: "auto" },
        store: false,
      });
      expectAnswer(done.output_text, upstream, THINKING, /51/);
      const reasoning = done.output.find(
        (item): item is OpenAI.Responses.ResponseReasoningItem => item.type === "reasoning",
      );
      expect(reasoning?.summary[0]?.text ?? "").not.toBe("");
      expect(done.output.indexOf(reasoning!)).toBe(0);
    },

    async "upstream error"(target, upstream) {
      const error = await client(target)
        .responses.create({ model: upstream.missingModel, input: "x", store: false })
        .catch((e) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error.status).toBe(404);
    },
  },
};
