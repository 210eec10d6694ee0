import { describe, expect, test } from "bun:test";
import type { PathLookup, RouteDef } from "../../config/route-table.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange } from "../exchange.ts";
import { requireRoute } from "./require-route.ts";

const chat: RouteDef = {
  method: "POST",
  path: "/v1/chat/completions",
  dialect: "openai-chat",
  operation: "generate",
  auth: "api",
  stream: false,
  aliases: [],
};

function exchangeFor(lookup: PathLookup, method = "POST"): Exchange {
  const request = new Request("http://127.0.0.1:8080/v1/chat/completion", { method });
  return { request, url: new URL(request.url), options: {}, lookup } as unknown as Exchange;
}

const passed = () => Promise.resolve(new Response("passed on"));

const cases: {
  name: string;
  lookup: PathLookup;
  method?: string;
  status?: number;
  message?: RegExp;
  allow?: string;
  settles?: boolean;
}[] = [
  {
    name: "an unknown path is a 404 naming the nearest route and the Base URLs",
    lookup: { kind: "unknown", nearest: chat },
    status: 404,
    message:
      /no route for POST \/v1\/chat\/completion\. The nearest known route is POST \/v1\/chat\/completions\..*OpenAI SDKs, Codex CLI and Kilo Code http:\/\/127\.0\.0\.1:8080\/v1/,
  },
  {
    name: "an unknown path with no route near it still lists the Base URLs",
    lookup: { kind: "unknown" },
    status: 404,
    message: /no route for POST \/v1\/chat\/completion\. Base URLs/,
  },
  {
    name: "HEAD is looked up, and reported, as the GET it stands for",
    lookup: { kind: "unknown" },
    method: "HEAD",
    status: 404,
    message: /no route for GET /,
  },
  {
    name: "a known path on the wrong method is a 405 with the methods it accepts",
    lookup: { kind: "wrong-method", allow: ["GET"] },
    status: 405,
    message: /POST is not allowed on \/v1\/chat\/completion; it accepts GET\./,
    allow: "GET, OPTIONS",
  },
  {
    name: "a route settles the match and passes on",
    lookup: { kind: "route", match: { route: chat, params: {}, path: chat.path } },
    settles: true,
  },
  {
    name: "an overlap passes on unsettled: the body will choose",
    lookup: { kind: "overlap", from: "/v1/x", choices: [{ field: "messages", route: chat }] },
    settles: false,
  },
];

describe("requireRoute", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const exchange = exchangeFor(c.lookup, c.method);
      if (c.status !== undefined) {
        let thrown: unknown;
        try {
          await requireRoute(exchange, passed);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(GatewayError);
        const error = thrown as GatewayError;
        expect(error.status).toBe(c.status);
        expect(error.message).toMatch(c.message ?? /./);
        expect(error.details.headers?.allow).toBe(c.allow);
        expect(exchange.match).toBeUndefined();
        return;
      }
      const response = await requireRoute(exchange, passed);
      expect(await response.text()).toBe("passed on");
      if (c.settles && c.lookup.kind === "route") expect(exchange.match).toBe(c.lookup.match);
      else expect(exchange.match).toBeUndefined();
    });
  }
});
