import { expect, test } from "bun:test";
import { BUN, REPO, tempDir } from "./support/gateway.ts";
import { LineReader, serveLevity } from "./support/process.ts";

// `npm run conformance -- --base-url URL` holds any gateway to the matrix; here the gateway is a
// separate levity process, reached only through its URL and key, as another gateway would be.

test(
  "the conformance runner drives an external gateway by its base URL",
  async () => {
    const dir = tempDir();
    await Bun.write(
      `${dir}/gateway.yaml`,
      "proxy:\n  auth_mode: strict\n  api_key: sk-external-gateway\nupstreams:\n  - { name: echo, protocol: echo }\n",
    );
    const gateway = await serveLevity(["--config", dir]);
    const runner = Bun.spawn(
      [
        BUN,
        "scripts/conformance.ts",
        "--base-url",
        gateway.origin,
        "--key",
        "sk-external-gateway",
        "--model",
        "echo=any-model",
        "--missing-model",
        "echo-error-404",
        "--embedding-model",
        "echo=any-embedding-model",
        "--image-model",
        "echo=dall-e-2",
      ],
      {
        cwd: REPO,
        env: { PATH: process.env.PATH ?? "", HOME: dir },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const output = new LineReader(runner.stderr);
    const code = await runner.exited;
    await output.finished;
    gateway.kill("SIGTERM");
    await gateway.exited;
    expect(output.text).toContain("to echo > tool round trip");
    expect(output.text).toContain("embeddings to echo > @google/genai embedContent");
    expect(output.text).toContain("openai images client > to echo > image edit");
    expect(output.text).toContain("audio transcription to echo > a form without its file");
    expect(output.text).toMatch(/ 41 pass\n 0 fail/);
    expect(code).toBe(0);
  },
  { timeout: 60_000 },
);

test("with --base-url and no --model, the runner says what it needs", async () => {
  const runner = Bun.spawn([BUN, "scripts/conformance.ts", "--base-url", "http://127.0.0.1:9"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await runner.exited).toBe(2);
  expect(await new Response(runner.stderr).text()).toContain("--model UPSTREAM=MODEL");
});
