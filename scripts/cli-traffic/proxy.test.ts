import { afterAll, expect, test } from "bun:test";
import { fakeAnthropic } from "../../test/support/fake-anthropic.ts";
import { recordingProxy } from "./proxy.ts";

/* The recording pass-through in front of a fake: the client gets the fake's answer unchanged, and
 * each exchange is kept as the client sent and received it, in the order the requests came. */

const KEY = "fake-proxy-test-key";
const fake = fakeAnthropic(KEY);
const proxy = recordingProxy(fake.url);
afterAll(async () => {
  await proxy.stop();
  await fake.stop();
});

test("requests and answers are recorded as they passed, streamed answers whole", async () => {
  const headers = {
    "x-api-key": KEY,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
    "accept-encoding": "gzip",
  };
  const body = JSON.stringify({
    model: "claude-haiku-4-5-real",
    max_tokens: 100,
    stream: true,
    messages: [{ role: "user", content: "Reply with exactly this text and nothing else: ok" }],
  });
  const streamed = await fetch(`${proxy.url}/v1/messages?beta=true`, {
    method: "POST",
    headers,
    body,
  });
  const streamedText = await streamed.text();
  const counted = await fetch(`${proxy.url}/v1/messages/count_tokens`, {
    method: "POST",
    headers,
    body: JSON.stringify({ model: "claude-haiku-4-5-real", messages: [] }),
  });
  expect(await counted.json()).toEqual({ input_tokens: 42 });
  const refused = await fetch(`${proxy.url}/v1/messages`, { method: "POST", body: "{}" });
  expect(refused.status).toBe(401);

  const [first, second, third] = await proxy.exchanges();
  expect(streamedText).toContain('"text":"ok"');
  expect(first).toMatchObject({
    method: "POST",
    path: "/v1/messages?beta=true",
    bodyText: body,
    status: 200,
    responseText: streamedText,
  });
  expect(first!.contentType).toStartWith("text/event-stream");
  // The headers as the client sent them, the key and accept-encoding included (the fixture scrubs them).
  expect(new Map(first!.headers).get("x-api-key")).toBe(KEY);
  expect(new Map(first!.headers).get("accept-encoding")).toBe("gzip");
  expect(second).toMatchObject({
    path: "/v1/messages/count_tokens",
    responseText: '{"input_tokens":42}',
  });
  expect(third).toMatchObject({ status: 401, bodyText: "{}" });
  expect(third!.responseText).toContain("authentication_error");
});
