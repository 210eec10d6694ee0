import { describe, expect, test } from "bun:test";
import type { RouteMatch } from "../../config/route-table.ts";
import type { Logger } from "../../log.ts";
import { RequestTrace } from "../../observe/trace.ts";
import { corsPolicy } from "../cors.ts";
import type { ErrorFamily } from "../../codecs/errors.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange } from "../exchange.ts";
import { catchErrors } from "./catch-errors.ts";
import { finishResponse } from "./finish.ts";

const APP = "https://app.example";

function exchangeFor(family: ErrorFamily, match?: RouteMatch): Exchange {
  const request = new Request("http://127.0.0.1/v1/x", { headers: { origin: APP } });
  return {
    request,
    url: new URL(request.url),
    requestId: "req_test",
    family,
    origin: APP,
    cors: corsPolicy([APP]),
    match,
    trace: new RequestTrace("req_test", "GET", "/v1/x", { started: () => {}, finished: () => {} }),
  } as unknown as Exchange;
}

const rewritten: RouteMatch = {
  route: {
    method: "GET",
    path: "/v1/models",
    operation: "list-models",
    auth: "api",
    stream: false,
    aliases: [],
  },
  params: {},
  path: "/v1/models",
  rewrittenFrom: "/v1/v1/models",
};

const cases: {
  name: string;
  family: ErrorFamily;
  match?: RouteMatch;
  rest: () => Promise<Response>;
  status: number;
  message?: RegExp;
  logged: boolean;
  rewrittenHeader?: string;
}[] = [
  {
    name: "an answer passes through, finished with the request id and CORS headers",
    family: "openai",
    rest: () => Promise.resolve(new Response("ok")),
    status: 200,
    logged: false,
  },
  {
    name: "a rewritten path is named on the answer",
    family: "openai",
    match: rewritten,
    rest: () => Promise.resolve(new Response("ok")),
    status: 200,
    logged: false,
    rewrittenHeader: "/v1/v1/models -> /v1/models",
  },
  {
    name: "a GatewayError is the client's refusal, in its own shape, not logged",
    family: "anthropic",
    rest: () => Promise.reject(new GatewayError(413, "too big")),
    status: 413,
    message: /^too big$/,
    logged: false,
  },
  {
    name: "a refusal on a rewritten path still names the rewrite",
    family: "gemini",
    match: rewritten,
    rest: () => Promise.reject(new GatewayError(401, "no key")),
    status: 401,
    message: /^no key$/,
    logged: false,
    rewrittenHeader: "/v1/v1/models -> /v1/models",
  },
  {
    name: "any other error is a bug: a 500 naming the request id, and the stack in the log",
    family: "openai",
    rest: () => Promise.reject(new TypeError("undefined is not a function")),
    status: 500,
    message: /internal error .*request id req_test/,
    logged: true,
  },
];

describe("catchErrors and finishResponse", () => {
  for (const c of cases)
    test(c.name, async () => {
      const logged: string[] = [];
      const log = { error: (text: string) => logged.push(text) } as unknown as Logger;
      const exchange = exchangeFor(c.family, c.match);
      const response = await catchErrors(log)(exchange, () =>
        Promise.resolve(finishResponse(exchange, c.rest)),
      );
      expect(response.status).toBe(c.status);
      expect(response.headers.get("x-request-id")).toBe("req_test");
      expect(response.headers.get("access-control-allow-origin")).toBe(APP);
      expect(response.headers.get("x-levity-path-rewritten")).toBe(c.rewrittenHeader ?? null);
      // All three shapes carry the text at error.message.
      if (c.message)
        expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
          c.message,
        );
      expect(logged.length > 0).toBe(c.logged);
      if (c.logged) expect(logged[0]).toContain("TypeError: undefined is not a function");
    });
});
