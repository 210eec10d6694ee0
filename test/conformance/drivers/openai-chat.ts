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
    function: { name: "get_weather", description: WEATHER_DESCRIPTION, parameters: WEATHER_SCHEMA },
  },
];

export const openaiChatDriver: Driver = {
  client: "openai chat",
  cases: {
    async plain(target, upstream) {
      const done = await client(target).chat.completions.create({
        model: upstream.model,
        messages: [{ role: "user", content: PLAIN }],
      });
      expectAnswer(done.choices[0]!.message.content, upstream, PLAIN, /levity-plain-ok/);
      expect(done.choices[0]!.finish_reason).toBe("stop");
      expect(done.object).toBe("chat.completion");
      expectUsage(done.usage?.prompt_tokens, done.usage?.completion_tokens);
    },

    async streamed(target, upstream) {
      const stream = client(target).chat.completions.stream({
        model: upstream.model,
        messages: [{ role: "user", content: STREAMED }],
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      stream.on("chunk", (chunk) => chunks.push(chunk));
      const final = await stream.finalChatCompletion();
      expectAnswer(final.choices[0]!.message.content, upstream, STREAMED, /levity stream ok/);
      expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
      expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(1);
      const finishAt = chunks.findIndex((c) => c.choices[0]?.finish_reason);
      expect(chunks[finishAt]!.choices[0]!.finish_reason).toBe("stop");
      // The usage chunk comes last, with no choices.
      expect(chunks.at(-1)!.choices).toEqual([]);
      expect(finishAt).toBe(chunks.length - 2);
      expectUsage(final.usage?.prompt_tokens, final.usage?.completion_tokens);
    },

    async "tool round trip"(target, upstream) {
      const openai = client(target);
      const messages: OpenAI.ChatCompletionMessageParam[] = [
        { role: "user", content: TOOL_PROMPT },
      ];
      const first = await openai.chat.completions
        .stream({ model: upstream.model, messages, tools })
        .finalChatCompletion();
      const choice = first.choices[0]!;
      expect(choice.finish_reason).toBe("tool_calls");
      const call = choice.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function.name).toBe("get_weather");
      expectCityArgument(call.function.arguments);
      messages.push(choice.message as OpenAI.ChatCompletionAssistantMessageParam, {
        role: "tool",
        tool_call_id: call.id,
        content: TOOL_RESULT,
      });
      const second = await openai.chat.completions.create({
        model: upstream.model,
        messages,
        tools,
      });
      expect(second.choices[0]!.message.content).toContain("21");
      expect(second.choices[0]!.finish_reason).toBe("stop");
    },

    async "image in"(target, upstream) {
      const done = await client(target).chat.completions.create({
        model: upstream.model,
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: IMAGE_PROMPT },
              { type: "image_url", image_url: { url: RED_PNG_DATA_URL } },
            ],
          },
        ],
      });
      expect(done.choices[0]!.message.content).toMatch(
        upstream.echoes ? /image\/png, \d+ bytes/ : /red/i,
      );
    },

    async "system prompt"(target, upstream) {
      const done = await client(target).chat.completions.create({
        model: upstream.model,
        messages: [
          { role: "system", content: SYSTEM },
          { role: "user", content: SYSTEM_USER },
        ],
      });
      const text = done.choices[0]!.message.content ?? "";
      if (upstream.echoes) expect(text).toBe(SYSTEM_USER);
      else expect(text).toMatch(/^SYSTEM-OK/);
    },

    async thinking(target, upstream) {
      const done = await client(target).chat.completions.create({
        model: upstream.model,
        reasoning_effort: "medium",
        messages: [{ role: "user", content: THINKING }],
      });
      const message = done.choices[0]!.message as OpenAI.ChatCompletionMessage & {
        reasoning_content?: string;
      };
      expectAnswer(message.content, upstream, THINKING, /51/);
      expect(message.reasoning_content ?? "").not.toBe("");
    },

    async "upstream error"(target, upstream) {
      const error = await client(target)
        .chat.completions.create({
          model: upstream.missingModel,
          messages: [{ role: "user", content: "x" }],
        })
        .catch((e) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error.status).toBe(404);
      expect(error.error?.message ?? "").not.toBe("");
    },
  },
};
