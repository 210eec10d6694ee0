import { describe, expect, test } from "bun:test";
import type { Upstream } from "../config/snapshot.ts";
import type { UpstreamCall } from "../upstream/forward.ts";
import { MASKED, maskSecrets, viewOf } from "./replay-capture.ts";

const KEY_A = "sk-account-a-0123456789";
const KEY_B = "AIzaAccountB0123456789";
const upstream = {
  name: "up",
  accounts: [
    { name: "a", key: KEY_A },
    { name: "b", key: KEY_B },
  ],
} as unknown as Upstream;

function call(url: string, headers: Record<string, string>, body: string): UpstreamCall {
  return {
    upstream,
    url,
    body,
    headers,
    clientSignal: new AbortController().signal,
    timeouts: {} as UpstreamCall["timeouts"],
  };
}

describe("viewOf masks every secret", () => {
  const cases: {
    name: string;
    headers: Record<string, string>;
    masked: string[];
    kept?: Record<string, string>;
  }[] = [
    {
      name: "the key headers of each family",
      headers: { authorization: `Bearer ${KEY_A}`, "x-api-key": KEY_A, "x-goog-api-key": KEY_B },
      masked: ["authorization", "x-api-key", "x-goog-api-key"],
    },
    {
      name: "any header whose name says key, token, secret or auth",
      headers: {
        "api-key": "azure-style-secret-value",
        "x-portkey-api-key": "pk-123456789",
        "x-session-token": "tok-123456789",
        "x-client-secret": "s3cr3t-value",
        "proxy-authorization": "Basic dXNlcjpwYXNz",
        cookie: "session=abcdef123",
      },
      masked: [
        "api-key",
        "x-portkey-api-key",
        "x-session-token",
        "x-client-secret",
        "proxy-authorization",
        "cookie",
      ],
    },
    {
      name: "an account key in a header of any other name",
      headers: { "x-forwarded-for-account": `a ${KEY_A} b` },
      masked: [],
      kept: { "x-forwarded-for-account": `a ${MASKED} b` },
    },
    {
      name: "headers that carry none are shown as they are",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      masked: [],
      kept: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    },
  ];
  for (const c of cases)
    test(c.name, () => {
      const view = viewOf(call("https://api.example/v1/x", c.headers, "{}"), [KEY_A, KEY_B]);
      for (const name of c.masked) expect(view.headers[name]).toBe(MASKED);
      for (const [name, value] of Object.entries(c.kept ?? {}))
        expect(view.headers[name]).toBe(value);
    });

  test("a key in the query string or the URL's user info, and an account key in the body", () => {
    const view = viewOf(
      call(
        `https://user:pw@gl.example/v1beta/models/m:generateContent?key=${KEY_B}&alt=sse`,
        {},
        JSON.stringify({ note: `quoted ${KEY_A}` }),
      ),
      [KEY_A, KEY_B],
    );
    expect(view.url).toBe(
      "https://%5Bmasked%5D:%5Bmasked%5D@gl.example/v1beta/models/m:generateContent?key=%5Bmasked%5D&alt=sse",
    );
    expect(view.body).toEqual({ note: `quoted ${MASKED}` });
    expect(JSON.stringify(view)).not.toContain(KEY_A);
    expect(JSON.stringify(view)).not.toContain(KEY_B);
  });

  test("the account is named by the key it carries; a URL without secrets is left as written", () => {
    const view = viewOf(
      call("https://api.example/v1/messages?beta=true", { "x-api-key": KEY_B }, "not json"),
      [KEY_A, KEY_B],
    );
    expect(view.account).toBe("b");
    expect(view.url).toBe("https://api.example/v1/messages?beta=true");
    expect(view.bodyText).toBe("not json");
  });
});

describe("maskSecrets", () => {
  test("each secret, every time it appears; longer first so one inside another goes whole", () => {
    expect(
      maskSecrets("a sk-1234567890 b sk-1234567890-extra", [
        "sk-1234567890-extra",
        "sk-1234567890",
      ]),
    ).toBe(`a ${MASKED} b ${MASKED}`);
  });
});
