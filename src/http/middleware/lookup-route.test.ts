import { describe, expect, test } from "bun:test";
import type { PathLookup, RouteDef } from "../../config/route-table.ts";
import { RequestTrace } from "../../observe/trace.ts";
import { corsPolicy } from "../cors.ts";
import type { ErrorFamily } from "../../codecs/errors.ts";
import type { Exchange, HandleOptions } from "../exchange.ts";
import { lookupMethod, lookupRoute, routeOf } from "./lookup-route.ts";

const route = (overrides: Partial<RouteDef>): RouteDef => ({
  method: "POST",
  path: "/v1/messages",
  dialect: "anthropic-messages",
  operation: "generate",
  auth: "api",
  stream: false,
  aliases: [],
  ...overrides,
});
const messages = route({});
const status = route({
  method: "GET",
  path: "/levity/status",
  dialect: undefined,
  operation: "admin-status",
  auth: "admin",
});
const found = (r: RouteDef): PathLookup => ({
  kind: "route",
  match: { route: r, params: {}, path: r.path },
});

describe("lookupMethod", () => {
  const cases: { method: string; options: HandleOptions; expected: string }[] = [
    { method: "GET", options: {}, expected: "GET" },
    { method: "POST", options: {}, expected: "POST" },
    { method: "HEAD", options: {}, expected: "GET" },
    { method: "DELETE", options: {}, expected: "DELETE" },
    { method: "GET", options: { websocket: true }, expected: "POST" },
  ];
  for (const c of cases)
    test(`${c.method}${c.options.websocket ? " upgrade" : ""} is looked up as ${c.expected}`, () => {
      expect(lookupMethod(new Request("http://h/", { method: c.method }), c.options)).toBe(
        c.expected,
      );
    });
});

describe("routeOf", () => {
  const cases: { name: string; lookup: PathLookup; expected: RouteDef | undefined }[] = [
    { name: "a route is itself", lookup: found(messages), expected: messages },
    {
      name: "an overlap stands for its first choice",
      lookup: {
        kind: "overlap",
        from: "/x",
        choices: [
          { field: "messages", route: messages },
          { field: "x", route: status },
        ],
      },
      expected: messages,
    },
    {
      name: "a wrong method has no route",
      lookup: { kind: "wrong-method", allow: ["GET"] },
      expected: undefined,
    },
    { name: "an unknown path has no route", lookup: { kind: "unknown" }, expected: undefined },
  ];
  for (const c of cases) test(c.name, () => expect(routeOf(c.lookup)).toBe(c.expected as RouteDef));
});

describe("lookupRoute", () => {
  const configured = corsPolicy(["https://app.example"]);
  const cases: {
    name: string;
    cached?: PathLookup;
    looked: PathLookup;
    expected: PathLookup;
    family: ErrorFamily;
    corsListsApp: boolean;
  }[] = [
    {
      name: "an API route names the error family and keeps the configured CORS policy",
      looked: found(messages),
      expected: found(messages),
      family: "anthropic",
      corsListsApp: true,
    },
    {
      name: "an admin route never carries CORS headers, and keeps the request's family",
      looked: found(status),
      expected: found(status),
      family: "openai",
      corsListsApp: false,
    },
    {
      name: "a path matched before is answered from the cache",
      cached: found(status),
      looked: found(messages),
      expected: found(status),
      family: "openai",
      corsListsApp: false,
    },
    {
      name: "an unknown path changes nothing but the lookup",
      looked: { kind: "unknown" },
      expected: { kind: "unknown" },
      family: "openai",
      corsListsApp: true,
    },
  ];
  for (const c of cases)
    test(c.name, async () => {
      const request = new Request("http://127.0.0.1/p", { method: "POST" });
      const routes = { cached: () => c.cached, lookup: async () => c.looked };
      const exchange = {
        request,
        url: new URL(request.url),
        snapshot: { routes },
        options: {},
        policies: { cors: configured },
        cors: configured,
        family: "openai",
        trace: new RequestTrace("req_1", "POST", "/p", { started: () => {}, finished: () => {} }),
      } as unknown as Exchange;
      await lookupRoute(exchange, () => Promise.resolve(new Response()));
      expect(exchange.lookup).toEqual(c.expected);
      expect(exchange.route).toEqual(routeOf(c.expected) as RouteDef);
      expect(exchange.family).toBe(c.family);
      expect(exchange.cors.listed.has("https://app.example")).toBe(c.corsListsApp);
    });
});
