import { expect, test } from "bun:test";
import { countTokens as packageCount } from "gpt-tokenizer/encoding/o200k_base";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUN, REPO, tempDir, writeConfig } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { LineReader } from "./support/process.ts";
import { readRequestDb } from "./support/request-db.ts";

// `npm run build` gives, for each of five platforms, one file that runs with nothing beside it:
// no node_modules, no Bun, no repository. The other platforms' Bun runtimes are not installed by
// npm install: build.ts fetches them from npm into its cache (and npm's own) when a build needs
// them, which .ci/run does before the tests (LEVITY_REQUIRE_RUNTIMES=1). The tests themselves use
// no network: the build runs under `unshare -n`, and the fetch is checked from npm's cache alone
// (npm_config_offline). On a machine that never fetched them, the build covers this platform only
// and the fetch check is skipped, each saying so.

const REQUIRE_RUNTIMES = process.env.LEVITY_REQUIRE_RUNTIMES === "1";
const HOW = "run `bun build.ts --fetch` once, with the npm registry reachable";
const TARGET = `levity-${process.platform === "darwin" ? "darwin" : "linux"}-${process.arch === "arm64" ? "arm64" : "x64"}`;

/** What the file's header says it is: format, and CPU. */
function executableKind(path: string): string {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.subarray(0, 4).toString("latin1") === "\x7fELF")
    return `elf-${({ 62: "x64", 183: "arm64" } as Record<number, string>)[view.getUint16(18, true)]}`;
  if (view.getUint32(0, true) === 0xfeedfacf)
    return `macho-${({ 16777223: "x64", 16777228: "arm64" } as Record<number, string>)[view.getUint32(4, true)]}`;
  if (bytes.subarray(0, 2).toString("latin1") === "MZ") {
    const pe = view.getUint32(0x3c, true);
    if (bytes.subarray(pe, pe + 4).toString("latin1") === "PE\0\0")
      return `pe-${view.getUint16(pe + 4, true) === 0x8664 ? "x64" : "other"}`;
  }
  return "unknown";
}

/** `unshare -n` runs a command with no network at all, where this machine allows it (root on Linux). */
function offline(argv: string[]): string[] {
  const probe = Bun.spawnSync(["unshare", "-n", "true"], { stdout: "ignore", stderr: "ignore" });
  return probe.exitCode === 0 ? ["unshare", "-n", ...argv] : argv;
}

test(
  "npm run build produces five standalone executables and their SHA256SUMS; this platform's one serves",
  async () => {
    // Every runtime cached (or in npm's cache): then the whole build, with no network at all.
    const cached = Bun.spawn(offline([BUN, "build.ts", "--fetch"]), {
      cwd: REPO,
      env: { ...process.env, npm_config_offline: "true" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const allCached = (await cached.exited) === 0;
    if (!allCached && REQUIRE_RUNTIMES)
      throw new Error(
        `LEVITY_REQUIRE_RUNTIMES=1 but the other platforms' Bun runtimes are not cached: ${await new Response(cached.stderr).text()}`,
      );
    if (!allCached)
      console.warn(
        `build.test.ts: the other platforms' Bun runtimes are not cached, so only ${TARGET} is built (${HOW})`,
      );

    const build = Bun.spawn(
      offline([BUN, "build.ts", ...(allCached ? [] : [TARGET.replace(/^levity-/, "")])]),
      { cwd: REPO, stdout: "pipe", stderr: "pipe" },
    );
    const [code, log] = [await build.exited, await new Response(build.stderr).text()];
    expect({ code, log }).toEqual({ code: 0, log: "" });

    const all: Record<string, string> = {
      "levity-linux-x64": "elf-x64",
      "levity-linux-arm64": "elf-arm64",
      "levity-darwin-x64": "macho-x64",
      "levity-darwin-arm64": "macho-arm64",
      "levity-windows-x64.exe": "pe-x64",
    };
    const expected = allCached ? all : { [TARGET]: all[TARGET]! };
    const sums = readFileSync(join(REPO, "dist", "SHA256SUMS"), "utf8")
      .trim()
      .split("\n");
    expect(sums.map((line) => line.split("  ")[1]).sort()).toEqual(Object.keys(expected).sort());
    for (const line of sums) {
      const [digest, file] = line.split("  ") as [string, string];
      const path = join(REPO, "dist", file);
      expect({ file, kind: executableKind(path) }).toEqual({ file, kind: expected[file]! });
      expect(createHash("sha256").update(readFileSync(path)).digest("hex")).toBe(digest);
    }

    const built = join(REPO, "dist", TARGET);
    expect(existsSync(built)).toBe(true);
    // The built-in routes.yaml and mappings.yaml are in it as values (build.ts's define), so it
    // does not parse their YAML at start: the name defaults.ts reads them by is replaced.
    const image = readFileSync(built);
    expect(image.includes("LEVITY_BUILT_IN_JSON")).toBe(false);
    // routes.yaml's JSON, in whichever quotes the bundler chose for the string holding it.
    const json = '"collapse_slashes":true';
    expect(image.includes(json) || image.includes(json.replaceAll('"', '\\"'))).toBe(true);

    const alone = tempDir("levity-binary-");
    const binary = join(alone, "levity");
    copyFileSync(built, binary);
    const env = { PATH: "/usr/bin:/bin", HOME: alone };

    const version = Bun.spawn([binary, "--version"], { cwd: alone, env, stdout: "pipe" });
    expect(await new Response(version.stdout).text()).toMatch(/^levity \d+\.\d+\.\d+\n$/);

    const config = join(alone, "config");
    writeConfig(config, { mappings: "exact:\n  gpt-4o: echo/from-the-binary\n" });
    const serve = Bun.spawn([binary, "serve", "--port", "0", "--config", config], {
      cwd: alone,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const stdout = new LineReader(serve.stdout);
    const origin = (await stdout.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    expect(await bodyOf(await fetch(`${origin}/healthz`))).toMatchObject({ status: "ok" });
    // The monitor page is compiled in.
    expect(await (await fetch(`${origin}/ui`)).text()).toContain("<title>levity monitor</title>");
    const response = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "compiled" }] }),
    });
    expect(response.headers.get("x-mapped-model")).toBe("from-the-binary");
    expect((await bodyOf(response)).choices[0].message.content).toBe("compiled");
    // The built-in routes.yaml is compiled in as its parsed value (build.ts): its aliases and its
    // not-served routes are there as in the YAML.
    const aliased = await fetch(`${origin}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "alias" }] }),
    });
    expect(aliased.headers.get("x-levity-path-rewritten")).toBe(
      "/chat/completions -> /v1/chat/completions",
    );
    expect((await bodyOf(aliased)).choices[0].message.content).toBe("alias");
    // The tokenizer's table is a file embedded in the binary (src/tokens/o200k-ranks.ts), read on
    // the first count: two counts differ by exactly the package's own count of the texts (the
    // rough estimate, a quarter of the characters, would say 150 for the second and 1 for the first).
    const counted = async (text: string) => {
      const answer = await fetch(`${origin}/v1/messages/count_tokens`, {
        method: "POST",
        headers: { "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: text }] }),
      });
      return ((await bodyOf(answer)) as { input_tokens: number }).input_tokens;
    };
    const long = "hello world ".repeat(50);
    expect((await counted(long)) - (await counted("hi"))).toBe(
      packageCount(long) - packageCount("hi"),
    );
    serve.kill("SIGTERM");
    expect(await serve.exited).toBe(0);
    // The request log is written by its own thread, a second entry point compiled in: the
    // request is on disk once the binary has stopped.
    const logFile = [...new Bun.Glob("**/requests.db").scanSync({ cwd: alone, dot: true })];
    expect(logFile).toHaveLength(1);
    const logged = readRequestDb(dirname(join(alone, logFile[0]!)));
    expect(logged.rows.map((row) => row.mapped_model)).toEqual([
      "from-the-binary",
      "from-the-binary",
      "from-the-binary",
      "from-the-binary",
    ]);
  },
  { timeout: 120_000 },
);

test(
  "a runtime not yet in the build cache is fetched through npm, checked against package-lock.json, and then found offline",
  async () => {
    const cache = tempDir("levity-build-cache-");
    // npm's own cache stands in for the registry: no network, the same npm pack.
    const env = { ...process.env, LEVITY_BUILD_CACHE: cache, npm_config_offline: "true" };
    const fetch1 = Bun.spawn(offline([BUN, "build.ts", "--fetch", "linux-arm64"]), {
      cwd: REPO,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = [
      await fetch1.exited,
      await new Response(fetch1.stdout).text(),
      await new Response(fetch1.stderr).text(),
    ];
    if (code !== 0 && !REQUIRE_RUNTIMES && /ENOTCACHED|offline/i.test(err)) {
      console.warn(
        `build.test.ts: the fetch is not checked: npm's cache has no Bun runtime for linux-arm64 (${HOW})`,
      );
      rmSync(cache, { recursive: true, force: true });
      return;
    }
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toBe(`fetching Bun ${Bun.version} for linux-arm64 into ${cache}\n`);
    const runtime = join(cache, `bun-${Bun.version}`, "bun-linux-aarch64", "bin", "bun");
    expect(executableKind(runtime)).toBe("elf-arm64");
    // Nothing left half-done beside it.
    expect(readdirSync(join(cache, `bun-${Bun.version}`))).toEqual(["bun-linux-aarch64"]);

    // Cached: nothing to fetch, so no network needed.
    const again = Bun.spawn(offline([BUN, "build.ts", "--fetch", "linux-arm64"]), {
      cwd: REPO,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    expect({
      code: await again.exited,
      out: await new Response(again.stdout).text(),
      err: await new Response(again.stderr).text(),
    }).toEqual({ code: 0, out: "", err: "" });
    rmSync(cache, { recursive: true, force: true });
  },
  { timeout: 120_000 },
);
