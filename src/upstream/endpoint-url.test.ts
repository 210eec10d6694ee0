import { expect, test } from "bun:test";
import type { Upstream } from "../config/snapshot.ts";
import { UpstreamClient } from "./forward.ts";

/*
 * UpstreamClient.endpointUrl: an upstream's endpoint URL kept per path (the same string for every
 * call, so the lookups made with it hash it once), right for each upstream and path, and bounded
 * where the paths come from clients (Gemini's name the model).
 */

const openai = { name: "oa", baseUrl: "http://127.0.0.1:1/v1" } as Upstream;
const gemini = { name: "gm", baseUrl: "http://127.0.0.1:2/v1beta" } as Upstream;

test.each([
  [openai, "/chat/completions", "http://127.0.0.1:1/v1/chat/completions"],
  [openai, "/responses", "http://127.0.0.1:1/v1/responses"],
  [gemini, "/models/g:generateContent", "http://127.0.0.1:2/v1beta/models/g:generateContent"],
])("%p + %s", (upstream, path, url) => {
  const client = new UpstreamClient({});
  expect(client.endpointUrl(upstream, path)).toBe(url);
  expect(client.endpointUrl(upstream, path)).toBe(url);
});

test("each upstream keeps its own, and a reloaded upstream (a new object) its new base URL", () => {
  const client = new UpstreamClient({});
  expect(client.endpointUrl(openai, "/chat/completions")).toStartWith("http://127.0.0.1:1/");
  expect(client.endpointUrl(gemini, "/chat/completions")).toStartWith("http://127.0.0.1:2/");
  const reloaded = { ...openai, baseUrl: "http://127.0.0.1:3/v1" } as Upstream;
  expect(client.endpointUrl(reloaded, "/chat/completions")).toBe(
    "http://127.0.0.1:3/v1/chat/completions",
  );
});

test("paths past the 1,000 kept an upstream are still joined right", () => {
  const client = new UpstreamClient({});
  for (let i = 0; i < 2_500; i++)
    expect(client.endpointUrl(gemini, `/models/m${i}:generateContent`)).toBe(
      `http://127.0.0.1:2/v1beta/models/m${i}:generateContent`,
    );
  expect(client.endpointUrl(gemini, "/models/m7:generateContent")).toBe(
    "http://127.0.0.1:2/v1beta/models/m7:generateContent",
  );
});
