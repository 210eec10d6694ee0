import { describe, expect, test } from "bun:test";
import type { UpstreamTarget } from "../codec.ts";
import { anthropicMessagesClient } from "./client.ts";
import { anthropicMessagesUpstream } from "./upstream.ts";

/*
 * An Anthropic request's cache_control through the IR and back: every mark where the client put
 * it, with its TTL, whether or not levity would add marks of its own.
 */

const E = { type: "ephemeral" };
const H = { type: "ephemeral", ttl: "1h" };

const REQUEST = {
  model: "m",
  max_tokens: 100,
  tools: [
    { name: "a", input_schema: { type: "object" } },
    { name: "b", input_schema: { type: "object" }, cache_control: H },
  ],
  system: [
    { type: "text", text: "one" },
    { type: "text", text: "two", cache_control: E },
  ],
  messages: [
    { role: "user", content: [{ type: "text", text: "q" }] },
    {
      role: "assistant",
      content: [{ type: "tool_use", id: "t1", name: "a", input: {}, cache_control: E }],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "t1", content: "r" },
        { type: "text", text: "next", cache_control: E },
      ],
    },
  ],
};

const target = (autoBreakpoints: boolean): UpstreamTarget => ({
  name: "anthropic",
  protocol: "anthropic",
  baseUrl: "http://127.0.0.1:1",
  issuer: "anthropic||claude-sonnet-4",
  promptCache: { autoBreakpoints, cacheKey: false },
});

function marks(body: any): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  const scan = (list: any[] | undefined, at: string) =>
    list?.forEach((item, i) => {
      if (item.cache_control) found[`${at}.${i}`] = item.cache_control;
    });
  scan(body.tools, "tools");
  scan(body.system, "system");
  for (const [i, m] of body.messages.entries()) scan(m.content, `messages.${i}`);
  return found;
}

describe("an Anthropic client's cache_control through the IR to an Anthropic upstream", () => {
  test.each([false, true])("with automatic breakpoints %p: exactly the client's", async (auto) => {
    const request = anthropicMessagesClient.parseRequest(structuredClone(REQUEST), "m", false);
    const { body } = await anthropicMessagesUpstream.buildRequest(request, target(auto));
    expect(marks(body)).toEqual({
      "tools.1": H,
      "system.1": E,
      "messages.1.0": E,
      "messages.2.1": E,
    });
  });

  test("a mark on a thinking block is not carried (Anthropic refuses one there)", () => {
    const request = anthropicMessagesClient.parseRequest(
      {
        model: "m",
        max_tokens: 10,
        messages: [
          { role: "user", content: "q" },
          {
            role: "assistant",
            content: [{ type: "thinking", thinking: "t", signature: "s", cache_control: E }],
          },
        ],
      },
      "m",
      false,
    );
    expect(request.turns[1]!.parts[0]).not.toHaveProperty("cache");
  });
});
