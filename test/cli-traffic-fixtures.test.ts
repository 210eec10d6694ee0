import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SessionFixture } from "../scripts/cli-traffic/fixture.ts";
import { REPO } from "./support/gateway.ts";
import { RED_PNG_BASE64 } from "./support/red-png.ts";

/*
 * The recorded CLI traffic (test/fixtures/cli-traffic, written by `npm run record-cli-traffic`):
 * well-formed, free of anything secret or of the recording machine, and each session showing
 * what it was recorded for (the tool's result went back, the image went out, the history was
 * compacted, tokens were counted, signed thinking came back).
 */

const ROOT = join(REPO, "test", "fixtures", "cli-traffic");
const DIALECT: Record<string, string> = {
  "claude-code": "anthropic",
  codex: "openai-responses",
  "gemini-cli": "gemini",
  "kilo-code": "openai-chat",
};

/** Temporary paths a CLI's own instructions name, the same on every machine. */
const CLI_OWN_PATHS = ["/tmp/kilo"];

interface Found {
  file: string;
  text: string;
  fixture: SessionFixture;
}

const fixtures: Found[] = readdirSync(ROOT).flatMap((cli) =>
  readdirSync(join(ROOT, cli)).flatMap((version) =>
    readdirSync(join(ROOT, cli, version)).map((name) => {
      const file = join(cli, version, name);
      const text = readFileSync(join(ROOT, file), "utf8");
      return { file, text, fixture: JSON.parse(text) as SessionFixture };
    }),
  ),
);

const of = (cli: string, session: string) =>
  fixtures.filter((f) => f.fixture.cli === cli && f.fixture.session === session);
/** The request bodies of a fixture, as text. */
const bodies = (f: Found) => f.fixture.exchanges.map((e) => JSON.stringify(e.request.body ?? ""));

test("each CLI has the sessions README's table lists", () => {
  const sessions = (cli: string) =>
    [
      ...new Set(fixtures.filter((f) => f.fixture.cli === cli).map((f) => f.fixture.session)),
    ].sort();
  expect(sessions("claude-code")).toEqual([
    "compaction",
    "count-tokens",
    "image",
    "multi-turn",
    "plain",
    "thinking",
    "tool-loop",
  ]);
  expect(sessions("codex")).toEqual([
    "compaction",
    "image",
    "multi-turn",
    "plain",
    "thinking",
    "tool-loop",
  ]);
  expect(sessions("gemini-cli")).toEqual([
    "compaction",
    "count-tokens",
    "image",
    "multi-turn",
    "plain",
    "thinking",
    "tool-loop",
  ]);
  expect(sessions("kilo-code")).toEqual([
    "compaction",
    "image",
    "multi-turn",
    "plain",
    "thinking",
    "tool-loop",
  ]);
});

describe.each(fixtures.map((f) => [f.file, f] as const))("%s", (file, { text, fixture }) => {
  test("is in the common format, where its name says", () => {
    const [cli, version, name] = file.split("/");
    expect(fixture.format).toBe(1);
    expect([fixture.cli, fixture.version, `${fixture.session}.json`]).toEqual([
      cli!,
      version!,
      name!,
    ]);
    expect(fixture.dialect as string).toBe(DIALECT[fixture.cli]!);
    expect(Number.isNaN(Date.parse(fixture.recordedAt))).toBe(false);
    expect(fixture.exchanges.some((e) => e.purpose === "main")).toBe(true);
    for (const { request, response, purpose } of fixture.exchanges) {
      expect(["main", "title", "count", "quota", "other"]).toContain(purpose);
      expect(request.path.startsWith("/")).toBe(true);
      for (const hop of ["host", "content-length", "connection", "accept-encoding"])
        expect(request.headers).not.toHaveProperty(hop);
      // Only a probe of the server (Claude Code's HEAD /, without a key) is refused.
      if (purpose !== "other") expect(response.status).toBe(200);
    }
  });

  test("holds no key, token or path of the recording machine", () => {
    const found = (pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[0]);
    expect(found(/fake-record-key[\w-]*/g)).toEqual([]);
    expect(found(/(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{12,}/g)).toEqual([]);
    expect(found(/(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{20,}/g)).toEqual([]);
    expect(found(/Bearer [A-Za-z0-9._~+/=-]{8,}/gi)).toEqual([]);
    // Paths under /tmp or /root, less those the CLI's own prompt names.
    // (Where a path starts: ~/.gemini/tmp/project is under the home directory.)
    const paths = found(/(?<![\w.-])\/(?:tmp|root)\/[\w.-]*|levity-record-[\w-]*/g);
    expect(paths.filter((path) => !CLI_OWN_PATHS.includes(path))).toEqual([]);
    for (const name of fixture.scrubbed)
      for (const { request } of fixture.exchanges)
        if (name in request.headers) expect(request.headers[name]).toBe("[scrubbed]");
    for (const { request } of fixture.exchanges)
      for (const name of ["authorization", "x-api-key", "x-goog-api-key"])
        if (name in request.headers) expect(request.headers[name]).toBe("[scrubbed]");
  });
});

describe("each session shows what it was recorded for", () => {
  test.each(fixtures.filter((f) => f.fixture.session === "tool-loop").map((f) => [f.file, f]))(
    "%s: the tool's result went back to the model",
    (_file, f) => expect(bodies(f).some((b) => b.includes("tool-ran-42"))).toBe(true),
  );
  test.each(fixtures.filter((f) => f.fixture.session === "image").map((f) => [f.file, f]))(
    "%s: the image went out",
    (_file, f) => expect(bodies(f).some((b) => b.includes(RED_PNG_BASE64))).toBe(true),
  );
  test.each(fixtures.filter((f) => f.fixture.session === "count-tokens").map((f) => [f.file, f]))(
    "%s: tokens were counted",
    (_file, f) => expect(f.fixture.exchanges.some((e) => e.purpose === "count")).toBe(true),
  );
  test.each(fixtures.filter((f) => f.fixture.session === "multi-turn").map((f) => [f.file, f]))(
    "%s: the last turn carries the earlier ones",
    (_file, f) => {
      const last = bodies(f).at(-1)!;
      expect(last).toContain("turn-1");
      expect(last).toContain("tool-ran-42");
    },
  );

  test("side requests: Claude Code's and Kilo Code's session titles are kept, marked title", () => {
    const title = (cli: string, session: string) =>
      of(cli, session)[0]!.fixture.exchanges.find((e) => e.purpose === "title")?.request
        .body as any;
    expect(title("claude-code", "plain").output_config.format.type).toBe("json_schema");
    expect(JSON.stringify(title("kilo-code", "multi-turn").messages)).toContain("Generate a title");
  });

  test("compaction: the next turn carries the summary in place of the earlier turns", () => {
    const summaries: Record<string, string> = {
      "claude-code": "The user asked for short replies, which were given.",
      codex: "The user asked for short replies, which were given.",
      "gemini-cli": "<overall_goal>Short scripted replies.</overall_goal>",
      "kilo-code": "The user asked for short replies, which were given.",
    };
    for (const [cli, summary] of Object.entries(summaries)) {
      const [f] = of(cli, "compaction");
      expect(f, cli).toBeDefined();
      const last = bodies(f!).at(-1)!;
      expect(last, cli).toContain(summary);
      expect(last, cli).toContain("after-compact");
      expect(last, cli).not.toContain("turn-2");
    }
    // What each keeps beside the summary: Codex the user's own messages, Claude Code the last exchange.
    expect(bodies(of("codex", "compaction")[0]!).at(-1)).toContain("turn-1");
    expect(bodies(of("claude-code", "compaction")[0]!).at(-1)).toContain("before-compact");
  });

  test("thinking: the signed thinking or reasoning goes back with the tool's result", () => {
    const last = (cli: string) => JSON.parse(bodies(of(cli, "thinking")[0]!).at(-1)!);
    const claude = last("claude-code").messages.find((m: any) =>
      m.content?.some?.((b: any) => b.type === "thinking"),
    );
    expect(claude.content[0].signature).toMatch(/^anthropic-sig-/);
    const codex = last("codex").input.find((i: any) => i.type === "reasoning");
    expect(codex.encrypted_content).toEqual(expect.any(String));
    const gemini = last("gemini-cli").contents.find((c: any) =>
      c.parts?.some((p: any) => p.functionCall),
    );
    expect(gemini.parts[0].thoughtSignature).toMatch(/^gemini-sig-/);
    const kilo = last("kilo-code").messages.find((m: any) => m.tool_calls);
    expect(kilo.reasoning_content).toContain("Thinking about:");
  });
});
