import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { startGateway, upstreamsYaml } from "./support/gateway.ts";
import { readRequestDb } from "./support/request-db.ts";
import { waitUntil } from "./support/wait.ts";

// A translated stream that finished is a success in the request log, with its body kept: also when
// the client hangs up as soon as it has the final event, as the Codex CLI does at
// response.completed. (The stream's lease used to finish a second time as "the client went away"
// once the pipeline closed, and with log_bodies the record was still waiting for its body then.)

const KEY = "sk-translated-stream-log";
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function gateway() {
  const gw = startGateway({
    gateway:
      `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n  request_log: { enabled: true, log_bodies: true, flush_ms: 20 }\n` +
      upstreamsYaml([{ name: "echo", protocol: "echo" }]),
    mappings: `wildcard:\n  "**": echo/echo-model\n`,
  });
  stops.push(() => gw.stop());
  return gw;
}

function post(origin: string, text: string): Promise<Response> {
  return fetch(`${origin}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-5.5", input: text, stream: true, store: false }),
  });
}

const rows = (dir: string) =>
  readRequestDb(join(dir, "data")).rows.filter((row) => row.route === "/v1/responses");

test("a stream read to its end is recorded without an error, with its body", async () => {
  const gw = gateway();
  const text = await (await post(gw.origin, "read to the end")).text();
  expect(text).toContain("response.completed");
  const [row] = await waitUntil("the record", () => rows(gw.dir).length === 1 && rows(gw.dir));
  expect(row.status).toBe(200);
  expect(row.error).toBeNull();
  expect(row.response_body).toContain("response.completed");
});

test("a client that hangs up at response.completed leaves a success in the log", async () => {
  const gw = gateway();
  const response = await post(gw.origin, "hang up at the end");
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes("event: response.completed")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  expect(seen).toContain("response.completed");
  const [row] = await waitUntil("the record", () => rows(gw.dir).length === 1 && rows(gw.dir));
  expect(row.status).toBe(200);
  expect(row.error).toBeNull();
});
