import { afterAll, beforeAll, expect, test } from "bun:test";
import { startGateway, type TestGateway, upstreamsYaml } from "./support/gateway.ts";
import { anthropicMessage, chatAnswer } from "./support/raw-answers.ts";
import { httpResponse, type RawUpstream, rawUpstream } from "./support/raw-upstream.ts";

// An upstream call's headers are a plain object, written by levity's own HTTP/1.1 client as they
// are. An account key as it often comes (read from a file, with the line's end, or pasted with a
// space) must still go out trimmed, as one header line. (A line break inside a key is refused when
// the configuration loads: test/config.test.ts.) The key an upstream quotes back is the trimmed one
// sent, and that one is kept from the client. Requests here go one at a time, so levity's own
// client makes the calls (it does while at most two requests are served).

const CLIENT_KEY = "sk-account-key-headers-client";
const heads: string[] = [];
let upstream: RawUpstream;
let gateway: TestGateway;

const CHAT = chatAnswer("hi");
const MESSAGE = anthropicMessage("hi");

beforeAll(async () => {
  upstream = await rawUpstream((request, socket) => {
    heads.push(request.raw);
    // As OpenAI refuses a wrong key: quoting the key it was sent.
    const refused = /Bearer (sk-upstream-refused\S*)/.exec(request.raw)?.[1];
    if (refused) {
      const message = `Incorrect API key provided: ${refused}.`;
      socket.write(
        httpResponse(
          401,
          JSON.stringify({
            error: { message, type: "invalid_request_error", code: "invalid_api_key" },
          }),
        ),
      );
    } else socket.write(httpResponse(200, request.path.endsWith("/messages") ? MESSAGE : CHAT));
  });
  const base = `${upstream.url}/v1`;
  // Each upstream with one account, whose key comes with whitespace around it.
  const withKey = (name: string, protocol: string, key: string) => ({
    name,
    protocol,
    base_url: base,
    accounts: [{ name: "a", key }],
  });
  gateway = startGateway({
    gateway: `proxy:\n  auth_mode: strict\n  api_key: ${CLIENT_KEY}\n${upstreamsYaml([
      withKey("trailing", "openai", " sk-upstream-trailing\n"),
      withKey("claude", "anthropic", "sk-ant-upstream-trailing\r\n"),
      // One each for the two cases: a refused key disables its account.
      withKey("refusing", "openai", "  sk-upstream-refused-0123456789\n"),
      withKey("refusing-too", "openai", "\tsk-upstream-refused-0123456789\r\n"),
    ])}`,
    mappings:
      "exact:\n  to-openai: trailing/m\n  to-anthropic: claude/m\n  to-refusing: refusing/m\n  to-refusing-too: refusing-too/m\n",
  });
});

afterAll(async () => {
  await gateway.stop();
  await upstream.stop();
});

function chat(model: string): Promise<Response> {
  return fetch(`${gateway.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] }),
  });
}

function message(model: string): Promise<Response> {
  return fetch(`${gateway.origin}/v1/messages`, {
    method: "POST",
    headers: {
      "x-api-key": CLIENT_KEY,
      "anthropic-version": "2023-06-01",
      "content-type": "application/json",
    },
    body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content: "hello" }] }),
  });
}

/** The head's lines after the request line, as they came. */
function lines(head: string): string[] {
  return head.split("\r\n").slice(1);
}

test.each([
  [
    "an OpenAI client, forwarded",
    () => chat("to-openai"),
    "authorization: Bearer sk-upstream-trailing",
  ],
  [
    "an Anthropic client, translated",
    () => message("to-openai"),
    "authorization: Bearer sk-upstream-trailing",
  ],
  [
    "an Anthropic client, forwarded",
    () => message("to-anthropic"),
    "x-api-key: sk-ant-upstream-trailing",
  ],
  [
    "an OpenAI client, translated",
    () => chat("to-anthropic"),
    "x-api-key: sk-ant-upstream-trailing",
  ],
] as const)("a key's surrounding whitespace is not sent: %s", async (_, send, line) => {
  heads.length = 0;
  const response = await send();
  expect(response.status).toBe(200);
  await response.text();
  expect(heads).toHaveLength(1);
  expect(lines(heads[0]!)).toContain(line);
  expect(lines(heads[0]!).every((each) => each.indexOf(":") > 0)).toBe(true);
});

test.each([
  ["an OpenAI client, forwarded", () => chat("to-refusing")],
  ["an Anthropic client, translated", () => message("to-refusing-too")],
] as const)("the key an upstream quotes in its refusal is not shown: %s", async (_, send) => {
  heads.length = 0;
  const response = await send();
  const text = await response.text();
  expect(heads.length).toBeGreaterThan(0);
  expect(heads[0]).toContain("authorization: Bearer sk-upstream-refused-0123456789\r\n");
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(text).toContain("Incorrect API key provided");
  expect(text).not.toContain("sk-upstream-refused");
});
