import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { BUILT_IN_ROUTES } from "../src/config/defaults.ts";
import { fillTemplate } from "../src/config/route-table.ts";
import { REPO, startGateway, type TestGateway } from "./support/gateway.ts";
import { rememberSecret } from "./support/secret-audit.ts";

// routes.yaml is the single source of every public path: the router holds exactly what it lists.

interface YamlRoute {
  method: string;
  path: string;
  operation: string;
  aliases?: string[];
  dialect?: string;
  note?: string;
  body?: string;
}
const file = parse(readFileSync(join(REPO, "routes.yaml"), "utf8")) as {
  routes: YamlRoute[];
  normalize: Record<string, unknown>;
};

/** A form any upload route takes: an image (edits) and a file (audio) beside the fields. */
function uploadForm(): FormData {
  const form = new FormData();
  form.set("model", "m");
  form.set("prompt", "x");
  form.set("image", new File([new Uint8Array(8)], "a.png", { type: "image/png" }));
  form.set("file", new File([new Uint8Array(8)], "a.wav", { type: "audio/wav" }));
  return form;
}

let gw: TestGateway;
beforeAll(() => {
  gw = startGateway({});
});
afterAll(() => gw.stop());

describe("routes.yaml and the router agree", () => {
  test("the binary's built-in copy is the repository's routes.yaml", () => {
    expect(BUILT_IN_ROUTES).toBe(readFileSync(join(REPO, "routes.yaml"), "utf8"));
  });

  test("one router entry per listed path and alias, and nothing else", () => {
    const listed = file.routes
      .flatMap((r) => [r.path, ...(r.aliases ?? [])].map((path) => `${r.method} ${path}`))
      .sort();
    const registered = gw.server.holder.snapshot.routes.router.routes
      .map(([method, , , path]) => `${method} ${path}`)
      .sort();
    expect(registered).toEqual(listed);
    expect(new Set(registered).size).toBe(registered.length);
  });

  test("every listed route answers on its method (none is a 404 or 405; a not-served one is a 501)", async () => {
    for (const route of file.routes) {
      for (const path of [route.path, ...(route.aliases ?? [])]) {
        // The key routes name the key the first of them makes.
        const url =
          gw.origin +
          fillTemplate(path, { model: "gemini-x", name: "routes-test", id: "req_routes_test" });
        const makesKey = route.operation === "admin-add-key";
        const body =
          route.body === "multipart"
            ? uploadForm()
            : makesKey
              ? JSON.stringify({ name: "routes-test" })
              : route.method === "POST"
                ? JSON.stringify({
                    model: "m",
                    max_tokens: 8,
                    messages: [{ role: "user", content: "x" }],
                    contents: [{ parts: [{ text: "x" }] }],
                    // Gemini's embedContent and batchEmbedContents.
                    content: { parts: [{ text: "x" }] },
                    requests: [{ content: { parts: [{ text: "x" }] } }],
                    prompt: "x",
                    input: "x",
                    upstream: "echo",
                  })
                : undefined;
        const response = await fetch(url, { method: route.method, body });
        // Echo, the only upstream here, hears no audio: a transcription is a 400 that says so.
        // A replay names a logged request: an id the log has not is the endpoint's own 404, which says so.
        const replays = route.operation === "admin-replay";
        if (replays) expect(await response.clone().text()).toContain("in the request log");
        const expected =
          route.operation === "not-served"
            ? 501
            : route.operation === "transcribe"
              ? 400
              : replays
                ? 404
                : makesKey
                  ? 201
                  : 200;
        if (makesKey)
          rememberSecret(((await response.clone().json()) as { secret: string }).secret);
        expect({ path, status: response.status }).toEqual({ path, status: expected });
      }
    }
    // /levity/accounts/disable took the echo account out; the rest of the file needs it.
    expect(
      (
        await fetch(`${gw.origin}/levity/accounts/enable`, {
          method: "POST",
          body: JSON.stringify({ upstream: "echo" }),
        })
      ).status,
    ).toBe(200);
    // About ninety requests one after another: on a loaded machine that outlasts the default 5 s.
  }, 30_000);

  test("a path routes.yaml does not list is not served: remove an alias and it is gone", async () => {
    const custom = startGateway({
      routes:
        "routes:\n  - { method: POST, path: /v1/chat/completions, dialect: openai-chat, operation: generate }\n",
    });
    const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] });
    expect(
      (await fetch(`${custom.origin}/v1/chat/completions`, { method: "POST", body })).status,
    ).toBe(200);
    expect(
      (await fetch(`${custom.origin}/chat/completions`, { method: "POST", body })).status,
    ).toBe(404);
    expect((await fetch(`${custom.origin}/healthz`)).status).toBe(404);
    await custom.stop();
  });
});

describe("routes.yaml declares the repairs and the endpoints not served yet", () => {
  test("the glued-endpoint repair is a rule in routes.yaml, not a list of glued paths", () => {
    expect(file.normalize.glued_endpoints).toBe(true);
    const listed = file.routes.flatMap((r) => [r.path, ...(r.aliases ?? [])]);
    expect(listed).not.toContain("/v1/chat/completions/chat/completions");
    expect(listed).not.toContain("/v1/messages/v1/messages");
  });

  test("every not-served route names what it is and has an error shape", () => {
    const notServed = file.routes.filter((r) => r.operation === "not-served");
    expect(notServed.length).toBeGreaterThan(10);
    for (const route of notServed)
      expect({
        path: route.path,
        note: Boolean(route.note),
        dialect: Boolean(route.dialect),
      }).toEqual({ path: route.path, note: true, dialect: true });
  });
});
