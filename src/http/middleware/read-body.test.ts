import { describe, expect, test } from "bun:test";
import type { PathLookup, RouteDef } from "../../config/route-table.ts";
import { RequestTrace } from "../../observe/trace.ts";
import { GatewayError } from "../../failure.ts";
import type { Exchange } from "../exchange.ts";
import { Deadlines } from "../../deadlines.ts";
import { readBody as readBodyWithin } from "./read-body.ts";

const readBody = readBodyWithin(new Deadlines());

const route = (overrides: Partial<RouteDef>): RouteDef => ({
  method: "POST",
  path: "/v1/chat/completions",
  dialect: "openai-chat",
  operation: "generate",
  auth: "api",
  stream: false,
  aliases: [],
  ...overrides,
});
const chat = route({});
const completions = route({ path: "/v1/completions", dialect: "openai-completions" });
const adminReset = route({
  path: "/levity/accounts/reset",
  dialect: undefined,
  operation: "admin-reset-accounts",
  auth: "admin",
});
const notServed = route({ path: "/v1/audio/speech", operation: "not-served" });
const models = route({ method: "GET", path: "/v1/models", operation: "list-models" });

const overlap: PathLookup = {
  kind: "overlap",
  from: "/v1/chat",
  choices: [
    { field: "messages", route: chat },
    { field: "prompt", route: completions },
  ],
};
const settled = (r: RouteDef): PathLookup => ({
  kind: "route",
  match: { route: r, params: {}, path: r.path },
});

function exchangeFor(lookup: PathLookup, body: string | undefined, type = "application/json") {
  const request = new Request("http://127.0.0.1/x", {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": type },
    body,
  });
  const trace = new RequestTrace("req_1", request.method, "/x", {
    started: () => {},
    finished: () => {},
  });
  const match = lookup.kind === "route" ? lookup.match : undefined;
  const snapshot = { proxy: { body: { maxBytes: 1024, timeoutMs: 5000 } } };
  return { request, snapshot, trace, lookup, match } as unknown as Exchange;
}

const passed = () => Promise.resolve(new Response("passed on"));

const cases: {
  name: string;
  lookup: PathLookup;
  body?: string;
  type?: string;
  route?: RouteDef;
  json?: unknown;
  rewrittenFrom?: string;
  status?: number;
}[] = [
  {
    name: "an overlap is settled by the field the body carries",
    lookup: overlap,
    body: '{"prompt":"hi"}',
    route: completions,
    json: { prompt: "hi" },
    rewrittenFrom: "/v1/chat",
  },
  {
    name: "an overlap's choices are tried in order",
    lookup: overlap,
    body: '{"messages":[],"prompt":"hi"}',
    route: chat,
    json: { messages: [], prompt: "hi" },
    rewrittenFrom: "/v1/chat",
  },
  {
    name: "an overlap whose body names none of the fields is a 400",
    lookup: overlap,
    body: '{"input":"hi"}',
    status: 400,
  },
  {
    name: "a POST route's body is read as a JSON object",
    lookup: settled(chat),
    body: '{"model":"m"}',
    route: chat,
    json: { model: "m" },
  },
  {
    name: "a POST route refuses an empty body",
    lookup: settled(chat),
    body: "",
    status: 400,
  },
  {
    name: "a POST route refuses multipart without reading it",
    lookup: settled(chat),
    body: "--x--",
    type: "multipart/form-data; boundary=x",
    status: 415,
  },
  {
    name: "an admin command's body may be absent",
    lookup: settled(adminReset),
    body: "",
    route: adminReset,
    json: {},
  },
  {
    name: "a not-served endpoint's body is never read",
    lookup: settled(notServed),
    body: "--x--",
    type: "multipart/form-data; boundary=x",
    route: notServed,
    json: undefined,
  },
  {
    name: "a GET route has no body",
    lookup: settled(models),
    route: models,
    json: undefined,
  },
];

describe("readBody", () => {
  test("a read that throws at once fails the request and leaves no deadline behind", async () => {
    // Bun and Deno reject rather than throw, but a throw must not leave a deadline to fire later
    // on a promise no one holds.
    const pending = new Set<unknown>();
    class Watched extends Deadlines {
      override add(entry: Parameters<Deadlines["add"]>[0]): void {
        pending.add(entry);
        super.add(entry);
      }
      override cancel(entry: Parameters<Deadlines["cancel"]>[0]): void {
        pending.delete(entry);
        super.cancel(entry);
      }
    }
    const body = '{"model":"m","messages":[]}';
    const exchange = exchangeFor(settled(chat), body);
    // A declared length: the body is read whole, after its deadline is set.
    exchange.request = new Request("http://127.0.0.1/x", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(body.length) },
      body,
    });
    Object.defineProperty(exchange.request, "arrayBuffer", {
      value: () => {
        throw new Error("no body here");
      },
    });
    const failed = await Promise.resolve()
      .then(() => readBodyWithin(new Watched())(exchange, passed))
      .catch((error: unknown) => error);
    expect((failed as Error).message).toBe("no body here");
    expect(pending.size).toBe(0);
  });

  for (const c of cases) {
    test(c.name, async () => {
      const exchange = exchangeFor(c.lookup, c.body, c.type);
      if (c.status !== undefined) {
        const failed = await Promise.resolve(readBody(exchange, passed)).catch(
          (error: unknown) => error,
        );
        expect(failed).toBeInstanceOf(GatewayError);
        expect((failed as GatewayError).status).toBe(c.status);
        return;
      }
      expect(await (await readBody(exchange, passed)).text()).toBe("passed on");
      expect(exchange.match?.route).toBe(c.route as RouteDef);
      expect(exchange.match?.rewrittenFrom).toBe(c.rewrittenFrom);
      expect(exchange.body?.json).toEqual(c.json as Record<string, unknown>);
    });
  }
});
