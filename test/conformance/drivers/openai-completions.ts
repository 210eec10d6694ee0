import { expect } from "bun:test";
import OpenAI from "openai";
import { expectAnswer, expectUsage, PLAIN, STREAMED, type Driver, type Target } from "../cases.ts";

const client = (target: Target) =>
  new OpenAI({ apiKey: target.apiKey, baseURL: `${target.baseUrl}/v1`, maxRetries: 0 });

/** Legacy completions know only text: no tools, images, system prompts or thinking. */
export const openaiCompletionsDriver: Driver = {
  client: "openai completions",
  cases: {
    async plain(target, upstream) {
      const done = await client(target).completions.create({
        model: upstream.model,
        prompt: PLAIN,
        max_tokens: 64,
      });
      expect(done.object).toBe("text_completion");
      expectAnswer(done.choices[0]!.text, upstream, PLAIN, /levity-plain-ok/);
      expect(done.choices[0]!.finish_reason).toBe("stop");
      expectUsage(done.usage?.prompt_tokens, done.usage?.completion_tokens);
    },

    async streamed(target, upstream) {
      const chunks: OpenAI.Completion[] = [];
      for await (const chunk of await client(target).completions.create({
        model: upstream.model,
        prompt: STREAMED,
        max_tokens: 64,
        stream: true,
        stream_options: { include_usage: true },
      }))
        chunks.push(chunk);
      expectAnswer(
        chunks.map((c) => c.choices[0]?.text ?? "").join(""),
        upstream,
        STREAMED,
        /levity stream ok/,
      );
      const finishAt = chunks.findIndex((c) => c.choices[0]?.finish_reason);
      expect(chunks[finishAt]!.choices[0]!.finish_reason).toBe("stop");
      expect(chunks.at(-1)!.choices).toEqual([]);
      expectUsage(chunks.at(-1)!.usage?.prompt_tokens, chunks.at(-1)!.usage?.completion_tokens);
    },

    async "upstream error"(target, upstream) {
      const error = await client(target)
        .completions.create({ model: upstream.missingModel, prompt: "x" })
        .catch((e) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    },
  },
};
