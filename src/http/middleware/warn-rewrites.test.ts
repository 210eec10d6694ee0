import { describe, expect, test } from "bun:test";
import type { RouteDef, RouteMatch } from "../../config/route-table.ts";
import type { Logger } from "../../log.ts";
import type { Exchange } from "../exchange.ts";
import { warnRewrites } from "./warn-rewrites.ts";

const chat: RouteDef = {
  method: "POST",
  path: "/v1/chat/completions",
  dialect: "openai-chat",
  operation: "generate",
  auth: "api",
  stream: false,
  aliases: [],
};
const messages: RouteDef = { ...chat, path: "/v1/messages", dialect: "anthropic-messages" };

function logger(warnings: string[]): Logger {
  return { warn: (text: string) => warnings.push(text) } as unknown as Logger;
}

function exchangeFor(match: RouteMatch | undefined, method = "POST"): Exchange {
  const request = new Request("http://127.0.0.1:8080/x", { method });
  return { request, url: new URL(request.url), match } as unknown as Exchange;
}

const rewritten = (route: RouteDef, from: string, gluedOnto?: string): RouteMatch => ({
  route,
  params: {},
  path: route.path,
  rewrittenFrom: from,
  gluedOnto,
});

describe("warnRewrites", () => {
  const cases: {
    name: string;
    requests: [RouteMatch | undefined, string?][];
    expected: RegExp[];
  }[] = [
    {
      name: "a canonical path is not warned about",
      requests: [[{ route: chat, params: {}, path: chat.path }]],
      expected: [],
    },
    {
      name: "a request that matched nothing is not warned about",
      requests: [[undefined]],
      expected: [],
    },
    {
      name: "an OpenAI path is pointed at the /v1 Base URL",
      requests: [[rewritten(chat, "/v1/v1/chat/completions")]],
      expected: [
        /^a client called POST \/v1\/v1\/chat\/completions; served it as \/v1\/chat\/completions\. Set that client's Base URL to http:\/\/127\.0\.0\.1:8080\/v1 /,
      ],
    },
    {
      name: "an Anthropic path is pointed at the bare origin, and a glued endpoint is named",
      requests: [[rewritten(messages, "/v1/messages/v1/messages", "/v1/messages")]],
      expected: [/ending in \/v1\/messages\).*Base URL to http:\/\/127\.0\.0\.1:8080 \(/],
    },
    {
      name: "the same path and method warns once",
      requests: [[rewritten(chat, "/a")], [rewritten(chat, "/a")]],
      expected: [/POST \/a;/],
    },
    {
      name: "another path, or another method, warns again",
      requests: [[rewritten(chat, "/a")], [rewritten(chat, "/b")], [rewritten(chat, "/a"), "GET"]],
      expected: [/POST \/a;/, /POST \/b;/, /GET \/a;/],
    },
  ];
  for (const c of cases)
    test(c.name, async () => {
      const warnings: string[] = [];
      const step = warnRewrites(logger(warnings));
      for (const [match, method] of c.requests) {
        const response = await step(exchangeFor(match, method), () =>
          Promise.resolve(new Response("passed on")),
        );
        expect(await response.text()).toBe("passed on");
      }
      expect(warnings).toHaveLength(c.expected.length);
      for (const [i, pattern] of c.expected.entries()) expect(warnings[i]).toMatch(pattern);
    });

  test("after 1,001 distinct paths the warnings stop, so probing cannot grow the set", async () => {
    const warnings: string[] = [];
    const step = warnRewrites(logger(warnings));
    for (let i = 0; i < 1100; i++)
      await step(exchangeFor(rewritten(chat, `/p${i}`)), () => Promise.resolve(new Response()));
    expect(warnings).toHaveLength(1001);
  });

  test("each gateway remembers its own warnings", async () => {
    const warnings: string[] = [];
    for (const step of [warnRewrites(logger(warnings)), warnRewrites(logger(warnings))])
      await step(exchangeFor(rewritten(chat, "/a")), () => Promise.resolve(new Response()));
    expect(warnings).toHaveLength(2);
  });
});
