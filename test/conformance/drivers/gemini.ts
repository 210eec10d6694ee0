import { ApiError, GoogleGenAI, type Content, type Part } from "@google/genai";
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
  new GoogleGenAI({ apiKey: target.apiKey, httpOptions: { baseUrl: target.baseUrl } });
const tools = [
  {
    functionDeclarations: [
      {
        name: "get_weather",
        description: WEATHER_DESCRIPTION,
        parametersJsonSchema: WEATHER_SCHEMA,
      },
    ],
  },
];

export const geminiDriver: Driver = {
  client: "gemini",
  cases: {
    async plain(target, upstream) {
      const response = await client(target).models.generateContent({
        model: upstream.model,
        contents: PLAIN,
      });
      expectAnswer(response.text, upstream, PLAIN, /levity-plain-ok/);
      expect(String(response.candidates?.[0]?.finishReason)).toBe("STOP");
      expectUsage(
        response.usageMetadata?.promptTokenCount,
        response.usageMetadata?.candidatesTokenCount,
      );
    },

    async streamed(target, upstream) {
      const chunks = [];
      for await (const chunk of await client(target).models.generateContentStream({
        model: upstream.model,
        contents: STREAMED,
      }))
        chunks.push(chunk);
      expectAnswer(
        chunks.map((c) => c.text ?? "").join(""),
        upstream,
        STREAMED,
        /levity stream ok/,
      );
      expect(chunks.length).toBeGreaterThan(1);
      // Only the last chunk finishes, and its usage is the total.
      expect(chunks.slice(0, -1).every((c) => !c.candidates?.[0]?.finishReason)).toBe(true);
      expect(String(chunks.at(-1)!.candidates?.[0]?.finishReason)).toBe("STOP");
      expectUsage(
        chunks.at(-1)!.usageMetadata?.promptTokenCount,
        chunks.at(-1)!.usageMetadata?.candidatesTokenCount,
      );
    },

    async "tool round trip"(target, upstream) {
      const genai = client(target);
      const contents: Content[] = [{ role: "user", parts: [{ text: TOOL_PROMPT }] }];
      const modelParts: Part[] = [];
      for await (const chunk of await genai.models.generateContentStream({
        model: upstream.model,
        contents,
        config: { tools },
      })) {
        modelParts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
      }
      const call = modelParts.find((part) => part.functionCall)?.functionCall;
      expect(call?.name).toBe("get_weather");
      expectCityArgument(call!.args);
      contents.push(
        { role: "model", parts: modelParts },
        {
          role: "user",
          parts: [
            {
              functionResponse: {
                id: call!.id,
                name: call!.name!,
                response: JSON.parse(TOOL_RESULT),
              },
            },
          ],
        },
      );
      const second = await genai.models.generateContent({
        model: upstream.model,
        contents,
        config: { tools },
      });
      expect(second.text).toContain("21");
    },

    async "image in"(target, upstream) {
      const response = await client(target).models.generateContent({
        model: upstream.model,
        contents: [
          {
            role: "user",
            parts: [
              { text: IMAGE_PROMPT },
              { inlineData: { mimeType: "image/png", data: RED_PNG_BASE64 } },
            ],
          },
        ],
      });
      expect(response.text).toMatch(upstream.echoes ? /image\/png, \d+ bytes/ : /red/i);
    },

    async "system prompt"(target, upstream) {
      const response = await client(target).models.generateContent({
        model: upstream.model,
        contents: SYSTEM_USER,
        config: { systemInstruction: SYSTEM },
      });
      if (upstream.echoes) expect(response.text).toBe(SYSTEM_USER);
      else expect(response.text).toMatch(/^SYSTEM-OK/);
    },

    async thinking(target, upstream) {
      const response = await client(target).models.generateContent({
        model: upstream.model,
        contents: THINKING,
        config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } },
      });
      expectAnswer(response.text, upstream, THINKING, /51/);
      const thoughts =
        response.candidates?.[0]?.content?.parts?.filter((part) => part.thought) ?? [];
      expect(thoughts.map((part) => part.text).join("")).not.toBe("");
    },

    async "upstream error"(target, upstream) {
      const error = await client(target)
        .models.generateContent({ model: upstream.missingModel, contents: "x" })
        .catch((e) => e);
      expect(error).toBeInstanceOf(ApiError);
      expect(error.status).toBe(404);
      expect(JSON.parse(error.message).error.status).toBe("NOT_FOUND");
    },
  },
};
