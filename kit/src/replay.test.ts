import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FixtureError, loadFixtures } from "./fixtures.ts";
import { outgoing, rewritePath } from "./replay.ts";

/* A recorded request made ready to send: the key put back where the CLI put it, the model swapped. */

describe("outgoing", () => {
  test.each([
    ["authorization", "[scrubbed]", "authorization", "Bearer sk-run"],
    ["x-api-key", "[scrubbed]", "x-api-key", "sk-run"],
    ["x-goog-api-key", "[scrubbed]", "x-goog-api-key", "sk-run"],
    ["Authorization", "Bearer [scrubbed]", "authorization", "Bearer sk-run"],
  ])("%s: %s becomes the run's key", (name, value, sent, expected) => {
    const request = outgoing(
      "http://gw/",
      { method: "POST", path: "/v1/x", headers: { [name]: value }, body: {} },
      "m",
      "sk-run",
    );
    expect(request.headers[sent]).toBe(expected);
  });

  test("a scrubbed header that carries no key is left out; hop-by-hop headers are the client's own", () => {
    const request = outgoing(
      "http://gw",
      {
        method: "POST",
        path: "/v1/x",
        headers: {
          cookie: "[scrubbed]",
          host: "a",
          "content-length": "9",
          "user-agent": "claude-cli/2",
        },
        body: {},
      },
      "m",
      "k",
    );
    expect(request.headers).toEqual({ "user-agent": "claude-cli/2" });
  });

  test("the body's model is swapped and the recorded body left as it was", () => {
    const body = { model: "claude-recorded", messages: [] };
    const request = outgoing(
      "http://gw",
      { method: "POST", path: "/v1/messages", headers: {}, body },
      "kit-anthropic",
      "k",
    );
    expect(request.url).toBe("http://gw/v1/messages");
    expect(request.body).toEqual({ model: "kit-anthropic", messages: [] });
    expect(body.model).toBe("claude-recorded");
  });

  test.each([
    [
      "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
      "/v1beta/models/kit-gemini:streamGenerateContent?alt=sse",
    ],
    [
      "/v1beta/models/gemini-2.5-flash:countTokens?key=[scrubbed]",
      "/v1beta/models/kit-gemini:countTokens?key=sk-run",
    ],
    ["/v1/messages?beta=true", "/v1/messages?beta=true"],
  ])("path %s", (path, expected) => {
    expect(rewritePath(path, "kit-gemini", "sk-run")).toBe(expected);
  });
});

describe("loadFixtures", () => {
  const write = (files: Record<string, string>) => {
    const dir = join(tmpdir(), `kit-fixtures-${crypto.randomUUID()}`);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, ".."), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  };
  const fixture = {
    format: 1,
    cli: "c",
    version: "1",
    session: "plain",
    dialect: "anthropic",
    exchanges: [],
  };

  test("reads every file under the directory, in path order", () => {
    const dir = write({
      "b/1/plain.json": JSON.stringify({ ...fixture, cli: "b" }),
      "a/1/plain.json": JSON.stringify({ ...fixture, cli: "a" }),
    });
    expect(loadFixtures(dir).map((f) => f.cli)).toEqual(["a", "b"]);
    rmSync(dir, { recursive: true });
  });

  test.each([
    ["not JSON", "{", "a/1/x.json: not JSON"],
    [
      "another format",
      JSON.stringify({ ...fixture, format: 2 }),
      "not a format 1 CLI traffic fixture",
    ],
    [
      "an unknown dialect",
      JSON.stringify({ ...fixture, dialect: "cohere" }),
      'dialect "cohere" is none of',
    ],
    [
      "a request without a path",
      JSON.stringify({ ...fixture, exchanges: [{ request: { method: "POST" } }] }),
      "exchange 1 has no request method and path",
    ],
  ])("%s is refused, naming the file", (_name, text, message) => {
    const dir = write({ "a/1/x.json": text });
    expect(() => loadFixtures(dir)).toThrow(FixtureError);
    expect(() => loadFixtures(dir)).toThrow(message);
    rmSync(dir, { recursive: true });
  });
});
