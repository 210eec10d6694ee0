import { expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { BUN, REPO, tempDir, writeConfig } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { LineReader } from "./support/process.ts";

// `npm run build` gives one file that runs with nothing beside it: no node_modules, no Bun, no repository.

const TARGET = `levity-${process.platform === "darwin" ? "darwin" : "linux"}-${process.arch === "arm64" ? "arm64" : "x64"}`;

test(
  "npm run build produces a standalone executable that serves",
  async () => {
    const build = Bun.spawn([BUN, "build.ts"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    expect(await build.exited).toBe(0);
    const built = join(REPO, "dist", TARGET);
    expect(existsSync(built)).toBe(true);

    const alone = tempDir("levity-binary-");
    const binary = join(alone, "levity");
    copyFileSync(built, binary);
    const env = { PATH: "/usr/bin:/bin", HOME: alone };

    const version = Bun.spawn([binary, "--version"], { cwd: alone, env, stdout: "pipe" });
    expect(await new Response(version.stdout).text()).toMatch(/^levity \d+\.\d+\.\d+\n$/);

    const config = join(alone, "config");
    writeConfig(config, { mappings: "exact:\n  gpt-4o: echo/from-the-binary\n" });
    const serve = Bun.spawn([binary, "serve", "--port", "0", "--config", config], { cwd: alone, env, stdout: "pipe", stderr: "pipe" });
    const stdout = new LineReader(serve.stdout);
    const origin = (await stdout.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    expect(await bodyOf(await fetch(`${origin}/healthz`))).toMatchObject({ status: "ok" });
    const response = await fetch(`${origin}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "compiled" }] }) });
    expect(response.headers.get("x-mapped-model")).toBe("from-the-binary");
    expect((await bodyOf(response)).choices[0].message.content).toBe("compiled");
    serve.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
  },
  { timeout: 60_000 },
);
