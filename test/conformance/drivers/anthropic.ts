import Anthropic from "@anthropic-ai/sdk";
import { expect } from "bun:test";
import { RED_PNG_BASE64 } from "../../support/red-png.ts";
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
  new Anthropic({ apiKey: target.apiKey, baseURL: target.baseUrl, maxRetries: 0 });
const tools = [
  {
    name: "get_weather",
    description: WEATHER_DESCRIPTION,
    input_schema: WEATHER_SCHEMA as Anthropic.Tool.InputSchema,
  },
];

function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
}

export const anthropicDriver: Driver = {
  client: "anthropic",
  cases: {
    async plain(target, upstream) {
      const message = await client(target).messages.create({
        model: upstream.model,
        max_tokens: 256,
        messages: [{ role: "user", content: PLAIN }],
      });
      expect(message.type).toBe("message");
      expectAnswer(textOf(message), upstream, PLAIN, /levity-plain-ok/);
      expect(message.stop_reason).toBe("end_turn");
      expectUsage(message.usage.input_tokens, message.usage.output_tokens);
    },

    async streamed(target, upstream) {
      const stream = client(target).messages.stream({
        model: upstream.model,
        max_tokens: 256,
        messages: [{ role: "user", content: STREAMED }],
      });
      const types: string[] = [];
      stream.on("streamEvent", (event) => types.push(event.type));
      const final = await stream.finalMessage();
      expectAnswer(textOf(final), upstream, STREAMED, /levity stream ok/);
      expect(types[0]).toBe("message_start");
      expect(types.slice(-2)).toEqual(["message_delta", "message_stop"]);
      expect(types.indexOf("content_block_start")).toBeLessThan(
        types.indexOf("content_block_delta"),
      );
      expect(types.lastIndexOf("content_block_delta")).toBeLessThan(
        types.lastIndexOf("content_block_stop"),
      );
      expectUsage(final.usage.input_tokens, final.usage.output_tokens);
    },

    async "tool round trip"(target, upstream) {
      const anthropic = client(target);
      const messages: Anthropic.MessageParam[] = [{ role: "user", content: TOOL_PROMPT }];
      const first = await anthropic.messages
        .stream({ model: upstream.model, max_tokens: 512, messages, tools })
        .finalMessage();
      expect(first.stop_reason).toBe("tool_use");
      const use = first.content.find(
        (block): block is Anthropic.ToolUseBlock => block.type === "tool_use",
      );
      expect(use?.name).toBe("get_weather");
      expectCityArgument(use!.input);
      messages.push(
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: use!.id, content: TOOL_RESULT }],
        },
      );
      const second = await anthropic.messages.create({
        model: upstream.model,
        max_tokens: 512,
        messages,
        tools,
      });
      expect(textOf(second)).toContain("21");
      expect(second.stop_reason).toBe("end_turn");
    },

    async "image in"(target, upstream) {
      const message = await client(target).messages.create({
        model: upstream.model,
        max_tokens: 64,
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: IMAGE_PROMPT },
              {
                type: "image",
                source: { type: "base64", media_type: "image/png", data: RED_PNG_BASE64 },
              },
            ],
          },
        ],
      });
      expect(textOf(message)).toMatch(upstream.echoes ? /image\/png, \d+ bytes/ : /red/i);
    },

    async "system prompt"(target, upstream) {
      const message = await client(target).messages.create({
        model: upstream.model,
        max_tokens: 64,
        system: SYSTEM,
        messages: [{ role: "user", content: SYSTEM_USER }],
      });
      if (upstream.echoes) expect(textOf(message)).toBe(SYSTEM_USER);
      else expect(textOf(message)).toMatch(/^SYSTEM-OK/);
    },

    async thinking(target, upstream) {
      const message = await client(target).messages.create({
        model: upstream.model,
        max_tokens: 2048,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [{ role: "user", content: THINKING }],
      });
      expectAnswer(textOf(message), upstream, THINKING, /51/);
      const thinking = message.content.find(
        (block): block is Anthropic.ThinkingBlock => block.type === "thinking",
      );
      expect(thinking?.thinking ?? "").not.toBe("");
      expect(message.content[0]!.type).toBe("thinking");
    },

    async "upstream error"(target, upstream) {
      const error = await client(target)
        .messages.create({
          model: upstream.missingModel,
          max_tokens: 8,
          messages: [{ role: "user", content: "x" }],
        })
        .catch((e) => e);
      expect(error).toBeInstanceOf(Anthropic.NotFoundError);
      expect(error.type).toBe("not_found_error");
    },
  },
};
