import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";

// GET / tells whoever opens the gateway's address where to go; endpoints levity knows of but
// does not serve yet say so (501, in the client's shape) instead of a misleading 404.

const KEY = "sk-levity-index-key-1";
const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };

let gw: TestGateway;
beforeAll(() => {
  gw = startGateway({});
});
afterAll(() => gw.stop());

describe("GET /", () => {
  test("a browser is sent to the monitor page, which is there", async () => {
    const response = await fetch(`${gw.origin}/`, { headers: BROWSER, redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/ui");
    const page = await fetch(`${gw.origin}/`, { headers: BROWSER });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });

  test("a program gets the version, the Base URLs the start-up block prints, and the links", async () => {
    const response = await fetch(`${gw.origin}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    const index = await bodyOf(response);
    const health = await bodyOf(await fetch(`${gw.origin}/healthz`));
    expect(index).toMatchObject({
      name: "levity",
      version: health.version,
      base_urls: { openai: `${gw.origin}/v1`, anthropic: gw.origin, gemini: gw.origin },
      links: {
        health: `${gw.origin}/healthz`,
        monitor: `${gw.origin}/ui`,
        metrics: `${gw.origin}/metrics`,
      },
    });
    for (const link of Object.values(index.links as Record<string, string>))
      expect({ link, status: (await fetch(link)).status }).toEqual({ link, status: 200 });
  });

  test("the Base URLs it lists are ones the SDKs work with", async () => {
    const { base_urls: urls } = await bodyOf(await fetch(`${gw.origin}/`));
    const openai = new OpenAI({ apiKey: "x", baseURL: urls.openai, maxRetries: 0 });
    expect(
      (
        await openai.chat.completions.create({
          model: "m",
          messages: [{ role: "user", content: "from the index" }],
        })
      ).choices[0]!.message.content,
    ).toBe("from the index");
    const anthropic = new Anthropic({ apiKey: "x", baseURL: urls.anthropic, maxRetries: 0 });
    expect(
      (
        await anthropic.messages.create({
          model: "m",
          max_tokens: 8,
          messages: [{ role: "user", content: "ok" }],
        })
      ).content[0],
    ).toMatchObject({ text: "ok" });
    const gemini = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: urls.gemini } });
    expect((await gemini.models.generateContent({ model: "gemini-x", contents: "ok" })).text).toBe(
      "ok",
    );
  });

  test("with metrics off, the index does not link to them", async () => {
    const off = startGateway({ gateway: "proxy:\n  metrics: false\n" });
    try {
      const index = await bodyOf(await fetch(`${off.origin}/`));
      expect(index.links.metrics).toBeUndefined();
      expect(index.links.health).toBe(`${off.origin}/healthz`);
    } finally {
      await off.stop();
    }
  });

  test("under all_except_health it is as open as /healthz and holds no key", async () => {
    const guarded = startGateway({
      gateway: `proxy:\n  auth_mode: all_except_health\n  api_key: ${KEY}\n`,
    });
    try {
      const response = await fetch(`${guarded.origin}/`);
      expect(response.status).toBe(200);
      expect(await response.text()).not.toContain(KEY);
      expect(
        (await fetch(`${guarded.origin}/`, { headers: BROWSER, redirect: "manual" })).status,
      ).toBe(302);
      // The API itself is still closed.
      expect((await fetch(`${guarded.origin}/v1/models`)).status).toBe(401);
    } finally {
      await guarded.stop();
    }
  });

  test("under strict a program needs a key, like /healthz; a browser is still sent to the page, which asks for one", async () => {
    const strict = startGateway({ gateway: `proxy:\n  auth_mode: strict\n  api_key: ${KEY}\n` });
    try {
      expect((await fetch(`${strict.origin}/`)).status).toBe(401);
      expect((await fetch(`${strict.origin}/healthz`)).status).toBe(401);
      expect(
        (await fetch(`${strict.origin}/`, { headers: { authorization: `Bearer ${KEY}` } })).status,
      ).toBe(200);
      const browser = await fetch(`${strict.origin}/`, { headers: BROWSER, redirect: "manual" });
      expect(browser.status).toBe(302);
      expect(browser.headers.get("location")).toBe("/ui");
      expect(await browser.text()).toBe("");
    } finally {
      await strict.stop();
    }
  });

  test("a path that is not / still gets a 404, browser or not", async () => {
    expect(
      (await fetch(`${gw.origin}/index.html`, { headers: BROWSER, redirect: "manual" })).status,
    ).toBe(404);
  });
});

describe("endpoints known but not served yet answer 501 in the client's shape", () => {
  test("POST /v1/moderations: OpenAI shape, names the endpoint, says not yet, tells the SDK not to retry", async () => {
    const response = await fetch(`${gw.origin}/v1/moderations`, {
      method: "POST",
      body: JSON.stringify({ model: "m", input: "x" }),
    });
    expect(response.status).toBe(501);
    expect(response.headers.get("x-should-retry")).toBe("false");
    const { error } = await bodyOf(response);
    expect(error.code).toBe("endpoint_not_served");
    expect(error.message).toContain(
      "levity does not serve OpenAI moderations (POST /v1/moderations) yet",
    );
    expect(error.message).not.toContain("nearest known route");
  });

  test("the OpenAI SDK gets an APIError 501 with that message, for JSON and multipart endpoints alike", async () => {
    const client = new OpenAI({ apiKey: "x", baseURL: `${gw.origin}/v1` });
    const moderation = await client.moderations.create({ input: "x" }).catch((e: unknown) => e);
    expect(moderation).toBeInstanceOf(OpenAI.APIError);
    expect((moderation as InstanceType<typeof OpenAI.APIError>).status).toBe(501);
    expect((moderation as Error).message).toContain("OpenAI moderations");
    const file = new File([new Uint8Array(64)], "clip.wav", { type: "audio/wav" });
    const translation = await client.audio.translations
      .create({ model: "whisper-1", file })
      .catch((e: unknown) => e);
    expect((translation as InstanceType<typeof OpenAI.APIError>).status).toBe(501);
    expect((translation as Error).message).toContain(
      "OpenAI audio translation (POST /v1/audio/translations)",
    );
  });

  test("Anthropic: batches and files answer in Anthropic's shape (/v1/files too, which OpenAI shares)", async () => {
    const client = new Anthropic({ apiKey: "x", baseURL: gw.origin, maxRetries: 0 });
    const batch = await client.messages.batches.create({ requests: [] }).catch((e: unknown) => e);
    expect((batch as InstanceType<typeof Anthropic.APIError>).status).toBe(501);
    expect((batch as Error).message).toContain("Anthropic message batches");
    const files = await fetch(`${gw.origin}/v1/files`, {
      headers: { "anthropic-version": "2023-06-01" },
    });
    expect(files.status).toBe(501);
    expect(await bodyOf(files)).toMatchObject({ type: "error", error: { type: "api_error" } });
    const openaiFiles = await bodyOf(await fetch(`${gw.origin}/v1/files`));
    expect(openaiFiles.error.code).toBe("endpoint_not_served");
  });

  test("Gemini: context caching answers UNIMPLEMENTED in Gemini's shape", async () => {
    const response = await fetch(`${gw.origin}/v1beta/cachedContents`, {
      method: "POST",
      body: "{}",
    });
    expect(response.status).toBe(501);
    const body = await bodyOf(response);
    expect(body.error).toMatchObject({ code: 501, status: "UNIMPLEMENTED" });
    expect(body.error.message).toContain("Gemini context caching");
    const client = new GoogleGenAI({ apiKey: "x", httpOptions: { baseUrl: gw.origin } });
    const failed = await client.caches
      .create({ model: "gemini-2.5-flash", config: { contents: "x" } })
      .catch((e: unknown) => e);
    expect((failed as Error).message).toContain("levity does not serve Gemini context caching");
  });

  test("a body that is not JSON (a file upload) still gets the 501, not a 400", async () => {
    const response = await fetch(`${gw.origin}/upload/v1beta/files`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(1024),
    });
    expect(response.status).toBe(501);
    expect((await bodyOf(response)).error.message).toContain("Gemini file upload");
  });

  test("glued onto a pasted endpoint, it is still the 501, with the rewrite header", async () => {
    const response = await fetch(`${gw.origin}/v1/chat/completions/moderations`, {
      method: "POST",
      body: "{}",
    });
    expect(response.status).toBe(501);
    expect(response.headers.get("x-levity-path-rewritten")).toBe(
      "/v1/chat/completions/moderations -> /v1/moderations",
    );
  });

  test("it needs a key like any API path: nothing is said to a caller without one", async () => {
    const guarded = startGateway({
      gateway: `proxy:\n  auth_mode: all_except_health\n  api_key: ${KEY}\n`,
    });
    try {
      expect(
        (await fetch(`${guarded.origin}/v1/moderations`, { method: "POST", body: "{}" })).status,
      ).toBe(401);
      expect(
        (
          await fetch(`${guarded.origin}/v1/moderations`, {
            method: "POST",
            headers: { authorization: `Bearer ${KEY}` },
            body: "{}",
          })
        ).status,
      ).toBe(501);
    } finally {
      await guarded.stop();
    }
  });
});
