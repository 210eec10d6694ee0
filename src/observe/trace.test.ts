import { describe, expect, test } from "bun:test";
import type { RouteDef } from "../config/route-table.ts";
import type { RecordSink, RequestRecord } from "./record.ts";
import { head, RequestTrace } from "./trace.ts";

/** A sink that keeps what the trace hands it when the request finishes. */
function capture(): { sink: RecordSink; finished: (RequestRecord | undefined)[] } {
  const finished: (RequestRecord | undefined)[] = [];
  return { sink: { started: () => {}, finished: (record) => finished.push(record) }, finished };
}

const route = (auth: RouteDef["auth"], dialect?: RouteDef["dialect"]) => ({
  path: "/v1/chat/completions",
  dialect,
  auth,
});

const cases: {
  name: string;
  bodies?: number;
  steps: (trace: RequestTrace) => void;
  status: number;
  /** undefined: the sink is told the request is not traffic, and gets no record. */
  expected: Partial<RequestRecord> | undefined;
}[] = [
  {
    name: "an unmatched request is named by its raw path and recorded only as a failure",
    steps: () => {},
    status: 404,
    expected: { route: "/raw/path", unmatched: true },
  },
  {
    name: "a client API route is traffic: recorded under its route with its dialect",
    steps: (t) => t.matched(route("api", "openai-chat")),
    status: 200,
    expected: { route: "/v1/chat/completions", unmatched: undefined, dialect: "openai-chat" },
  },
  {
    name: "a healthy health check is not traffic",
    steps: (t) => t.matched(route("health")),
    status: 200,
    expected: undefined,
  },
  {
    name: "a failed admin call is recorded all the same",
    steps: (t) => t.matched(route("admin")),
    status: 401,
    expected: { route: "/v1/chat/completions", unmatched: undefined },
  },
  {
    name: "the client key is recorded by name",
    steps: (t) => {
      t.matched(route("api", "gemini"));
      t.authenticated("team-a");
    },
    status: 200,
    expected: { clientKey: "team-a" },
  },
  {
    name: "an admitted WebSocket upgrade is not traffic; its messages are",
    steps: (t) => {
      t.matched(route("api", "openai-responses"));
      t.upgraded();
    },
    status: 200,
    expected: undefined,
  },
  {
    name: "the requested model is cut at 200 characters, the stream flag kept",
    steps: (t) => {
      t.matched(route("api", "openai-chat"));
      t.requested("m".repeat(250), true);
    },
    status: 200,
    expected: { requestedModel: "m".repeat(200), stream: true },
  },
  {
    name: "a request body is kept for traffic when bodies are logged, cut at their limit",
    bodies: 4,
    steps: (t) => {
      t.matched(route("api", "openai-chat"));
      t.requestBody("abcdefgh");
    },
    status: 200,
    expected: { requestBody: "abcd… [4 more characters]" },
  },
  {
    name: "no request body is kept when bodies are not logged",
    steps: (t) => {
      t.matched(route("api", "openai-chat"));
      t.requestBody("abcdefgh");
    },
    status: 200,
    expected: { requestBody: undefined },
  },
  {
    name: "no request body is kept for a request that is not traffic",
    bodies: 100,
    steps: (t) => {
      t.matched(route("admin"));
      t.requestBody("secret");
    },
    status: 500,
    expected: { requestBody: undefined },
  },
];

describe("RequestTrace's setters", () => {
  for (const c of cases) {
    test(c.name, () => {
      const { sink, finished } = capture();
      const trace = new RequestTrace("req_1", "POST", "/raw/path", sink, {
        bodyMaxBytes: c.bodies,
        now: () => 0,
      });
      c.steps(trace);
      trace.responded(new Response(null, { status: c.status }));
      expect(finished).toHaveLength(1);
      if (c.expected === undefined) expect(finished[0]).toBeUndefined();
      else {
        // Field by field: an expected undefined means the field is absent or unset.
        const record = finished[0] as unknown as Record<string, unknown>;
        expect(record.status).toBe(c.status);
        for (const [field, value] of Object.entries(c.expected))
          expect([field, record[field]]).toEqual([field, value]);
      }
    });
  }
});

describe("head: a record's text cut to its limit", () => {
  test.each([
    ["short text stays", "abc", 5, "abc"],
    ["cut at the limit", "abcdef", 4, "abcd"],
    ["an emoji across the limit goes whole", `abc${"\u{1F600}"}`, 4, "abc"],
    ["an emoji inside the limit stays", `a${"\u{1F600}"}bc`, 4, `a${"\u{1F600}"}b`],
  ])("%s", (_what, text, max, expected) => {
    expect(head(text, max)).toBe(expected);
    expect(head(text, max).isWellFormed()).toBe(true);
  });
});
