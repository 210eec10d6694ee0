import { expect, test } from "bun:test";
import { corsPolicy, preflightResponse } from "./cors.ts";

test("a preflight that lists no headers is allowed every family's key header and SDK headers", () => {
  const request = new Request("http://127.0.0.1/v1/messages", {
    method: "OPTIONS",
    headers: { origin: "http://localhost:3000", "access-control-request-method": "POST" },
  });
  const allowed = preflightResponse(corsPolicy(["*"]), request)
    .headers.get("access-control-allow-headers")
    ?.split(", ")
    .sort();
  expect(allowed).toEqual([
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "anthropic-version",
    "authorization",
    "content-type",
    "openai-organization",
    "openai-project",
    "x-api-key",
    "x-goog-api-client",
    "x-goog-api-key",
    "x-stainless-arch",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
  ]);
});
