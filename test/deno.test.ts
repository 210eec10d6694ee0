import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { denoBinary } from "../scripts/tools.ts";
import { REPO, tempDir, writeConfig } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { LineReader } from "./support/process.ts";

// The same gateway handler on Deno (the runtime the `deno` npm package ships), driven by the
// official SDKs against a fake upstream: the core is not Bun's alone.

/*
 * Deno is not in package.json (it would be 92 MB of every install): scripts/tools.ts installs it
 * into .ci/tools/ (`bun scripts/tools.ts --install`, which .ci/run does). Without it this file is
 * skipped with a notice, unless LEVITY_REQUIRE_DENO is set (CI sets it): then it fails.
 */
const DENO = denoBinary();
if (!DENO && process.env.LEVITY_REQUIRE_DENO)
  throw new Error(
    "LEVITY_REQUIRE_DENO is set but Deno is not installed: bun scripts/tools.ts --install (or set LEVITY_DENO to a deno binary)",
  );
if (!DENO)
  console.warn(
    "Deno tests skipped: Deno is not installed (bun scripts/tools.ts --install installs it into .ci/tools/)",
  );
const denoTest = DENO ? test : test.skip;
const KEY = "sk-account-deno-0123456789";
let oa: FakeUpstream;
let dir: string;
let deno: ReturnType<typeof Bun.spawn>;
let origin: string;

beforeAll(async () => {
  if (!DENO) return;
  oa = fakeOpenAI(KEY);
  dir = tempDir("levity-deno-");
  writeConfig(dir, {
    gateway: `proxy:\n  port: 0\n  cooldown_wait: 0\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    accounts:\n      - { name: only, key: ${KEY} }\n`,
    mappings: "exact:\n  claude-sonnet: oa/gpt-4o-real\n",
  });
  deno = Bun.spawn(
    [
      DENO,
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-sys=homedir",
      "--unstable-raw-imports",
      "--unstable-no-legacy-abort",
      join(REPO, "src/deno.ts"),
      "--config",
      dir,
    ],
    {
      cwd: REPO,
      // Its own cache directory, so the test shows nothing is fetched: npm packages come from node_modules.
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        DENO_DIR: join(dir, "deno-cache"),
        NO_COLOR: "1",
      },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const stdout = new LineReader(deno.stdout as ReadableStream<Uint8Array>);
  const stderr = new LineReader(deno.stderr as ReadableStream<Uint8Array>);
  const ready = await Promise.race([
    stdout.waitFor(/\(Deno\) listening on (http:\/\/127\.0\.0\.1:\d+)/),
    deno.exited.then((code) => {
      throw new Error(`deno exited with ${code}:\n${stderr.text}`);
    }),
  ]);
  origin = ready[1]!;
}, 60_000);

afterAll(async () => {
  deno?.kill("SIGKILL");
  await deno?.exited;
  await oa?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

denoTest(
  "on Deno: same-dialect forwarding, a stream, a translated Anthropic request, the log and the metrics",
  async () => {
    expect(await bodyOf(await fetch(`${origin}/healthz`))).toMatchObject({ status: "ok" });

    const openai = new OpenAI({ apiKey: "unused", baseURL: `${origin}/v1`, maxRetries: 0 });
    const answer = await openai.chat.completions.create({
      model: "gpt-4o-real",
      messages: [{ role: "user", content: "ping" }],
    });
    expect(answer.choices[0]!.message.content).toContain("gpt-4o-real");
    expect(oa.last().headers.get("authorization")).toBe(`Bearer ${KEY}`);

    let streamed = "";
    const stream = await openai.chat.completions.create({
      model: "gpt-4o-real",
      messages: [{ role: "user", content: "ping" }],
      stream: true,
    });
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? "";
    expect(streamed).toBe(answer.choices[0]!.message.content!);

    const anthropic = new Anthropic({ apiKey: "unused", baseURL: origin, maxRetries: 0 });
    const message = await anthropic.messages.create({
      model: "claude-sonnet",
      max_tokens: 64,
      messages: [{ role: "user", content: "ping" }],
    });
    expect(message.content[0]).toMatchObject({ type: "text" });
    expect(oa.last().json.model).toBe("gpt-4o-real");

    const logged = (await bodyOf(await fetch(`${origin}/levity/logs`))).requests as any[];
    expect(logged.map((r) => [r.route, r.status, r.mappedModel])).toEqual([
      ["/v1/messages", 200, "gpt-4o-real"],
      ["/v1/chat/completions", 200, "gpt-4o-real"],
      ["/v1/chat/completions", 200, "gpt-4o-real"],
    ]);
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    expect(metrics).toContain(
      'levity_requests_total{route="/v1/chat/completions",dialect="openai-chat",model="gpt-4o-real",upstream="oa",account="only",status="200"} 2',
    );
  },
);

denoTest(
  "on Deno: the Responses WebSocket (Codex's transport), two turns on one connection and a bad message",
  async () => {
    const ws = new WebSocket(`${origin.replace(/^http/, "ws")}/v1/responses`);
    const inbox: any[] = [];
    let wake: (() => void) | undefined;
    ws.addEventListener("message", (event) => {
      inbox.push(JSON.parse(String(event.data)));
      wake?.();
    });
    const next = async (): Promise<any> => {
      while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return inbox.shift();
    };
    const turn = async (): Promise<any[]> => {
      const events: any[] = [];
      for (;;) {
        const event = await next();
        events.push(event);
        if (event.type === "response.completed" || event.type === "error") return events;
      }
    };
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    ws.send(
      JSON.stringify({
        type: "response.create",
        model: "gpt-4o-real",
        input: "ping",
        store: false,
      }),
    );
    const first = await turn();
    expect(first[0].type).toBe("response.created");
    expect(first.at(-1).type).toBe("response.completed");
    ws.send("not json");
    expect(await next()).toMatchObject({ type: "error", status: 400 });
    ws.send(
      JSON.stringify({
        type: "response.create",
        model: "gpt-4o-real",
        previous_response_id: first.at(-1).response.id,
        input: [{ type: "message", role: "user", content: "again" }],
        store: false,
      }),
    );
    expect((await turn()).at(-1).type).toBe("response.completed");
    // The second turn reached the upstream with the first turn's exchange before it.
    expect(JSON.stringify(oa.last().json)).toContain("ping");
    const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    ws.close();
    await closed;
  },
);
