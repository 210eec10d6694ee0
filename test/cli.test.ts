import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, tempDir, upstreamsYaml, writeConfig } from "./support/gateway.ts";
import { formatAccounts } from "../src/cli/accounts.ts";
import { initCommand } from "../src/cli/init.ts";
import { invocation } from "../src/cli/invocation.ts";
import { bodyOf } from "./support/http.ts";
import { runLevity, serveLevity } from "./support/process.ts";

// levity as its users run it: a process with a command line, signals, exit codes and output.

const chat = (model: string) => ({
  method: "POST",
  body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
});

describe("commands", () => {
  test("serve refuses a configuration with problems and prints the check command that runs as printed, from anywhere", async () => {
    const bad = tempDir();
    writeConfig(bad, { gateway: "proxy:\n  port: nope\n" });
    const elsewhere = tempDir();
    const refused = await runLevity(["serve", "--config", bad], { cwd: elsewhere });
    expect(refused.code).toBe(1);
    const check = /`(.+)` re-checks without starting/.exec(refused.stderr)?.[1];
    expect(check).toBe(
      `cd ${join(import.meta.dir, "..")} && npx bun src/main.ts check --config ${bad}`,
    );
    // The printed command, run by a shell, is the check of that same configuration.
    const ran = Bun.spawnSync(["sh", "-c", check!], {
      cwd: elsewhere,
      env: { ...process.env },
      stderr: "pipe",
    });
    expect(ran.exitCode).toBe(1);
    expect(ran.stderr.toString()).toContain(`${bad}/gateway.yaml:2: proxy.port`);
  }, 30_000);

  test("--version", async () => {
    const { code, stdout } = await runLevity(["--version"]);
    expect(code).toBe(0);
    expect(stdout).toBe(
      `levity ${JSON.parse(readFileSync(join(import.meta.dir, "../package.json"), "utf8")).version}\n`,
    );
  });

  test("--help: how the config directory is chosen, where state goes, and what --url is for", async () => {
    const { code, stdout } = await runLevity(["--help"]);
    expect(code).toBe(0);
    const oneLine = stdout.replace(/\s+/g, " ");
    expect(oneLine).toContain(
      "the first of: --config DIR; $LEVITY_CONFIG_DIR; the current directory, if it holds gateway.yaml; ~/.config/levity ($XDG_CONFIG_HOME/levity), if it holds gateway.yaml, mappings.yaml or routes.yaml",
    );
    expect(oneLine).toContain("~/.local/share/levity ($XDG_DATA_HOME/levity)");
    expect(oneLine).toContain("--url URL accounts, logs, replay, usage, keys:");
    expect(oneLine).toContain("in this checkout: npx bun src/main.ts COMMAND");
  });

  test("an unknown command or flag exits 2 with the usage", async () => {
    expect(await runLevity(["frobnicate"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("Usage:"),
    });
    expect(await runLevity(["--prot", "1"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "levity: unknown option --prot; `levity --help` lists the commands and their options.\n",
    });
    expect(await runLevity(["logs", "-n"])).toMatchObject({
      code: 2,
      stderr:
        "levity: --limit needs a value; `levity --help` lists the commands and their options.\n",
    });
  });

  test("check: ok for a good directory, every problem and exit 1 for a bad one", async () => {
    const good = tempDir();
    writeConfig(good, { mappings: "exact:\n  gpt-4o: echo/echo\n" });
    const ok = await runLevity(["check", "--config", good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("ok:");
    expect(ok.stdout).toContain("1 mapping rule");

    const bad = tempDir();
    writeConfig(bad, {
      gateway: "proxy:\n  port: 8045\n  alow_lan_access: true\n",
      mappings: "default: nowhere/x\n",
    });
    const failed = await runLevity(["check", "--config", bad]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("2 problems");
    expect(failed.stderr).toContain(
      `${bad}/gateway.yaml:3: proxy.alow_lan_access: is not a known key`,
    );
    expect(failed.stderr).toContain(`${bad}/mappings.yaml:1: default: target "nowhere/x"`);
  });

  test("routes: every path with its aliases", async () => {
    const { code, stdout } = await runLevity(["routes", "--config", tempDir()]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /POST\s+\/v1\/chat\/completions\s+openai-chat\s+generate\s+api\s+\/chat\/completions/,
    );
    expect(stdout).toMatch(
      /POST\s+\/v1beta\/models\/\{model\}:streamGenerateContent\s+gemini\s+generate \(stream\)/,
    );
    expect(stdout).toContain("overlapped paths /v1/chat/completions/responses");
    expect(stdout).toContain("source: built-in routes.yaml");
  });

  test("resolve: the rule, its line and the target", async () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: upstreamsYaml([
        { name: "one", protocol: "echo" },
        { name: "two", protocol: "echo" },
      ]),
      mappings: 'exact:\n  gpt-4o: two/exact\nwildcard:\n  "gpt-*": one/family\n',
    });
    expect((await runLevity(["resolve", "gpt-4o", "--config", dir])).stdout).toContain(
      `gpt-4o -> two/exact  (exact rule, ${dir}/mappings.yaml:2)`,
    );
    expect((await runLevity(["resolve", "gpt-3.5", "--config", dir])).stdout).toContain(
      `gpt-3.5 -> one/family  (wildcard "gpt-*", ${dir}/mappings.yaml:4)`,
    );
    expect((await runLevity(["resolve", "llama", "--config", dir])).stdout).toContain(
      "llama -> one/llama  (no rule matched",
    );
  });

  test("init: starter files with a fresh valid key, private, never overwritten", async () => {
    const dir = join(tempDir(), "levity");
    const first = await runLevity(["init", dir]);
    expect(first.code).toBe(0);
    const gatewayPath = join(dir, "gateway.yaml");
    const gateway = readFileSync(gatewayPath, "utf8");
    const key: string = parse(gateway).proxy.api_key;
    expect(key).toMatch(/^sk-levity-[A-Za-z0-9_-]{32}$/);
    expect(first.stdout).not.toContain(key);
    expect(statSync(gatewayPath).mode & 0o777).toBe(0o600);
    expect((await runLevity(["check", "--config", dir])).code).toBe(0);

    const second = await runLevity(["init", dir]);
    expect(second.stdout).toContain("kept");
    expect(readFileSync(gatewayPath, "utf8")).toBe(gateway);
    // Its own gateway.yaml: nothing said of a starter's keys or of accounts to add.
    expect(second.stdout).toContain("Your gateway.yaml is as it was. To check and serve it, run");
    expect(second.stdout).not.toContain("add upstream accounts");
    expect(second.stdout).not.toContain("The client key is");
    expect(first.stdout).toContain("Next: add upstream accounts to");
    const other = join(tempDir(), "levity");
    await runLevity(["init", other]);
    expect(parse(readFileSync(join(other, "gateway.yaml"), "utf8")).proxy.api_key).not.toBe(key);
  });
});

describe("init's next steps run as printed", () => {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  const scratch = () => {
    const dir = tempDir();
    made.push(dir);
    return dir;
  };
  const nextSteps = (stdout: string) =>
    stdout
      .slice(stdout.indexOf("then run\n") + "then run\n".length)
      .split("\n")
      .filter((line) => line.startsWith("  "))
      .map((line) => line.trim());

  test("from a checkout, outside it, into a DIR of one's own: cd there, --config DIR, and the check passes", async () => {
    const home = scratch();
    const dir = join(home, "my levity");
    const init = await runLevity(["init", dir], { cwd: home, env: { HOME: home } });
    expect(init.code).toBe(0);
    const steps = nextSteps(init.stdout);
    expect(steps).toEqual([
      `cd ${REPO}`,
      "npx bun src/main.ts check --config ~/'my levity'",
      "npm start -- --config ~/'my levity'",
    ]);
    // Everything but the server, through a shell as a person would type it.
    const shell = Bun.spawnSync(["sh", "-c", steps.slice(0, 2).join(" && ")], {
      cwd: home,
      env: { PATH: process.env.PATH ?? "", HOME: home, npm_config_update_notifier: "false" },
    });
    expect(shell.exitCode).toBe(0);
    expect(shell.stdout.toString()).toStartWith(
      "ok: ~/my levity (--config): gateway.yaml, mappings.yaml\n",
    );
  });

  test("a config directory passed over is named, so an edit to the wrong copy is no mystery", async () => {
    const home = scratch();
    writeConfig(join(home, ".config/levity"), { gateway: "proxy:\n  port: 8045\n" });
    const project = join(home, "project");
    writeConfig(project, { gateway: "proxy:\n  port: 8045\n" });
    const check = await runLevity(["check"], { cwd: project, env: { HOME: home } });
    expect(check.stdout).toStartWith(
      "ok: ~/project (the current directory holds gateway.yaml): gateway.yaml\n  not used: ~/.config/levity (later in the lookup; see --help)\n",
    );
  });

  test("in the checkout, to the default location: no --config, because the checkout's own files do not count", async () => {
    const home = scratch();
    const init = await runLevity(["init"], { cwd: REPO, env: { HOME: home } });
    expect(init.stdout).toContain("wrote   ~/.config/levity/gateway.yaml\n");
    expect(nextSteps(init.stdout)).toEqual(["npx bun src/main.ts check", "npm start"]);
    const check = await runLevity(["check"], { cwd: REPO, env: { HOME: home } });
    expect(check.stdout).toStartWith(
      "ok: ~/.config/levity (the default location): gateway.yaml, mappings.yaml\n",
    );
  });

  test("where a gateway.yaml of the current directory would come first, the default location needs --config", async () => {
    const home = scratch();
    const nested = join(home, "project");
    writeConfig(nested, { gateway: "proxy:\n  port: 8045\n" });
    const how = { prefix: "levity", serve: "levity", serveFlagsAfter: "" };
    const out: string[] = [];
    initCommand(
      undefined,
      { out: (text) => out.push(text), err: () => {}, env: {}, cwd: nested, home },
      how,
    );
    expect(nextSteps(out.join(""))).toEqual([
      "levity check --config ~/.config/levity",
      "levity --config ~/.config/levity",
    ]);
  });

  test("$LEVITY_CONFIG_DIR: written there, found there while it is set, and said so", () => {
    const home = scratch();
    const named = join(home, "named");
    const out: string[] = [];
    const how = { prefix: "levity", serve: "levity", serveFlagsAfter: "" };
    initCommand(
      undefined,
      {
        out: (text) => out.push(text),
        err: () => {},
        env: { LEVITY_CONFIG_DIR: named },
        cwd: home,
        home,
      },
      how,
    );
    expect(out.join("")).toContain("wrote   ~/named/gateway.yaml\n");
    expect(nextSteps(out.join(""))).toEqual(["levity check", "levity"]);
    expect(out.join("")).toContain(
      "while $LEVITY_CONFIG_DIR is set to this directory; without it, add --config DIR",
    );
  });

  test("from the executable: its name when PATH finds it, ./name in its own directory, else its path", () => {
    const bin = scratch();
    const exe = join(bin, "levity");
    writeFileSync(exe, "");
    chmodSync(exe, 0o755);
    const compiled = (cwd: string, path: string) =>
      invocation({ cwd, env: { PATH: path }, compiled: true, execPath: exe });
    expect(compiled("/", `/nowhere:${bin}`)).toEqual({
      prefix: "levity",
      serve: "levity",
      serveFlagsAfter: "",
    });
    expect(compiled(bin, "/nowhere").prefix).toBe("./levity");
    expect(compiled("/", "/nowhere").prefix).toBe(exe);
    const home = scratch();
    const out: string[] = [];
    initCommand(
      undefined,
      { out: (text) => out.push(text), err: () => {}, env: {}, cwd: home, home },
      compiled(home, bin),
    );
    expect(nextSteps(out.join(""))).toEqual(["levity check", "levity"]);
    // From source the checkout is where npx finds Bun and npm finds the start script.
    expect(invocation({ cwd: "/", env: {}, compiled: false, sourceRoot: REPO })).toEqual({
      cd: REPO,
      prefix: "npx bun src/main.ts",
      serve: "npm start",
      serveFlagsAfter: " --",
    });
    expect(
      invocation({ cwd: REPO, env: {}, compiled: false, sourceRoot: REPO }).cd,
    ).toBeUndefined();
  });
});

describe("serving", () => {
  test("with no configuration anywhere, the echo upstream serves and the start-up block says how to connect", async () => {
    const empty = tempDir();
    const levity = await serveLevity([], { cwd: empty });
    await levity.stdout.waitFor(/Gemini SDKs, Gemini CLI/);
    const block = levity.stdout.text;
    expect(block).toContain("(this machine only)");
    expect(block).toContain("config     built-in defaults");
    expect(block).toContain(
      "auth       off (auth_mode auto, because only this machine can connect)",
    );
    expect(block).toContain("built-in echo");
    // From a checkout, and not in it: the hint runs as printed.
    expect(block).toContain(`\`cd ${REPO} && npx bun src/main.ts init\` writes a gateway.yaml`);
    expect(block).toContain(`OpenAI SDKs, Codex CLI, Kilo Code (OpenAI)   ${levity.origin}/v1`);
    expect(block).toContain(`Anthropic SDKs, Claude Code                  ${levity.origin}\n`);
    expect(await bodyOf(await fetch(`${levity.origin}/healthz`))).toMatchObject({ status: "ok" });
    levity.kill("SIGTERM");
    expect(await levity.exited).toBe(0);
  });

  test("two instances of one config directory, as the template unit starts them, each keep their own data directory", async () => {
    const config = tempDir();
    writeConfig(config, { gateway: "proxy:\n  auth_mode: off\n" });
    const state = tempDir();
    const instances = await Promise.all(
      ["8045", "8046"].map((port) =>
        serveLevity(["--config", config], {
          cwd: config,
          env: { LEVITY_DATA_DIR: join(state, `levity-${port}`), LEVITY_INSTANCE: port },
        }),
      ),
    );
    try {
      for (const [at, levity] of instances.entries()) {
        const own = join(state, `levity-${["8045", "8046"][at]}`);
        await levity.stdout.waitFor(/Gemini SDKs, Gemini CLI/);
        expect(levity.stdout.text).toContain(`data       ${own}\n`);
        expect((await fetch(`${levity.origin}/v1/chat/completions`, chat("fast"))).status).toBe(
          200,
        );
      }
    } finally {
      for (const levity of instances) levity.kill("SIGTERM");
      expect(await Promise.all(instances.map((levity) => levity.exited))).toEqual([0, 0]);
    }
    // Each wrote its own request log; neither fell back to keeping it in memory behind a lock.
    for (const [at, levity] of instances.entries()) {
      const own = join(state, `levity-${["8045", "8046"][at]}`);
      expect(statSync(join(own, "requests.db")).size).toBeGreaterThan(0);
      expect(levity.stderr.text + levity.stdout.text).not.toContain("database is locked");
      // Stopped, its log is read from its own directory by naming it, as the install notes say.
      const logs = await runLevity(
        ["logs", "--config", config, "--port", new URL(levity.origin).port],
        { cwd: config, env: { LEVITY_DATA_DIR: own } },
      );
      expect(logs.code).toBe(0);
      expect(logs.stdout + logs.stderr).toContain(join(own, "requests.db"));
      expect(logs.stdout).toContain("/v1/chat/completions");
    }
  });

  test("proxy.data_dir comes before LEVITY_DATA_DIR, as README says", async () => {
    const config = tempDir();
    writeConfig(config, { gateway: "proxy:\n  auth_mode: off\n  data_dir: ./mine\n" });
    const levity = await serveLevity(["--config", config], {
      cwd: config,
      env: { LEVITY_DATA_DIR: join(tempDir(), "from-the-environment") },
    });
    await levity.stdout.waitFor(/Gemini SDKs, Gemini CLI/);
    // HOME is the config directory here, so the start-up block writes it as ~.
    expect(levity.stdout.text).toContain("data       ~/mine\n");
    levity.kill("SIGTERM");
    expect(await levity.exited).toBe(0);
  });

  test("a port in use: one clear line naming it and how to choose another, exit 1", async () => {
    const holder = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => new Response("taken"),
    });
    const port = holder.port;
    const { code, stderr, stdout } = await runLevity([
      "serve",
      "--port",
      String(port),
      "--config",
      tempDir(),
    ]);
    await holder.stop(true);
    expect(code).toBe(1);
    expect(stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(stderr).toContain("--port N");
    expect(stdout).toBe("");
  });

  test("a broken configuration: the problems, exit 1, nothing served", async () => {
    const dir = tempDir();
    writeConfig(dir, { gateway: "upstreams:\n  - name: oa\n    protocol: openai\n" });
    const { code, stderr, stdout } = await runLevity(["serve", "--port", "0", "--config", dir]);
    expect(code).toBe(1);
    expect(stderr).toContain('upstream "oa" has no accounts');
    expect(stderr).toContain("not serving");
    expect(stdout).toBe("");
  });
});

describe("reloading", () => {
  let dir: string;
  let levity: Awaited<ReturnType<typeof serveLevity>>;
  const gateway = upstreamsYaml([
    { name: "one", protocol: "echo" },
    { name: "two", protocol: "echo" },
  ]);

  beforeAll(async () => {
    dir = tempDir();
    writeConfig(dir, { gateway, mappings: "exact:\n  gpt-4o: one/first\n" });
    levity = await serveLevity(["--config", dir]);
  });
  afterAll(async () => {
    levity.kill("SIGTERM");
    await levity.exited;
  });

  const mappedModel = async () =>
    (await fetch(`${levity.origin}/v1/chat/completions`, chat("gpt-4o"))).headers.get(
      "x-mapped-model",
    );

  test("an edit to mappings.yaml takes effect without a restart", async () => {
    expect(await mappedModel()).toBe("first");
    const from = levity.stderr.text.length;
    writeFileSync(join(dir, "mappings.yaml"), "exact:\n  gpt-4o: two/second\n");
    await levity.stderr.waitFor(/config reloaded \(mappings\.yaml changed\)/, from);
    expect(await mappedModel()).toBe("second");
  });

  test("a broken edit keeps the old configuration serving and logs the file and line", async () => {
    const from = levity.stderr.text.length;
    writeFileSync(join(dir, "mappings.yaml"), "exact:\n  gpt-4o: three/missing\n");
    // The problem is the log line after the failure's (a line each).
    const failure = await levity.stderr.waitFor(
      /config reload \(mappings\.yaml changed\) failed[^\n]*\n[^\n]*mappings\.yaml:2:[^\n]*\n/,
      from,
    );
    expect(failure[0]).toContain(
      `${dir}/mappings.yaml:2: exact.gpt-4o: target "three/missing" names upstream "three"`,
    );
    expect(await mappedModel()).toBe("second");
  });

  test("SIGHUP reloads", async () => {
    const from = levity.stderr.text.length;
    levity.kill("SIGHUP");
    await levity.stderr.waitFor(/config reload \(SIGHUP\) failed/, from);
    writeFileSync(join(dir, "mappings.yaml"), "exact:\n  gpt-4o: one/fourth\n");
    await levity.stderr.waitFor(/config reloaded/, from);
    const again = levity.stderr.text.length;
    levity.kill("SIGHUP");
    await levity.stderr.waitFor(/config reloaded \(SIGHUP\)/, again);
    expect(await mappedModel()).toBe("fourth");
  });

  test("a bind address change waits for a restart with a warning; the rest applies at once", async () => {
    const from = levity.stderr.text.length;
    writeFileSync(
      join(dir, "gateway.yaml"),
      `proxy:\n  allow_lan_access: true\n  api_key: sk-reload-test-key\n${gateway}`,
    );
    await levity.stderr.waitFor(/config reloaded \(gateway\.yaml changed\)/, from);
    expect(levity.stderr.text.slice(from)).toContain(
      "port and bind address changes need a restart; still listening on 127.0.0.1",
    );
    // The new auth mode (auto with LAN access = all_except_health) applies at once.
    expect((await fetch(`${levity.origin}/v1/models`)).status).toBe(401);
    expect((await fetch(`${levity.origin}/healthz`)).status).toBe(200);
  });
});

describe("accounts", () => {
  test("prints the running gateway's accounts (state, why disabled, counts, tokens) with the admin key from gateway.yaml, and resets them", async () => {
    const oa = fakeOpenAI(["sk-upstream-good-1", "sk-upstream-bad-22"]);
    const dir = tempDir();
    writeConfig(dir, {
      gateway: `proxy:\n  api_key: sk-client-key-1\n  admin_key: sk-admin-key-1\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: ${oa.url}/v1\n    strategy: fill_first\n    accounts:\n      - { name: bad, key: sk-upstream-bad-22 }\n      - { name: good, key: sk-upstream-good-1 }\n`,
    });
    oa.replyOnce(
      {
        status: 401,
        body: JSON.stringify({
          error: {
            message: "Incorrect API key provided",
            type: "invalid_request_error",
            param: null,
            code: "invalid_api_key",
          },
        }),
      },
      "sk-upstream-bad-22",
    );
    const levity = await serveLevity(["--config", dir]);
    try {
      const port = new URL(levity.origin).port;
      const answer = await fetch(`${levity.origin}/v1/chat/completions`, {
        ...chat("gpt-4o"),
        headers: { authorization: "Bearer sk-client-key-1" },
      });
      expect(answer.headers.get("x-account")).toBe("good");

      const listed = await runLevity(["accounts", "--config", dir, "--port", port]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(
        /^UPSTREAM\s+ACCOUNT\s+STATE\s+IN FLIGHT\s+REQUESTS\s+FAILURES\s+TOKENS IN\s+TOKENS OUT$/m,
      );
      expect(listed.stdout).toMatch(/^oa\s+bad\s+disabled\s+0\s+1\s+1\s+0\s+0$/m);
      expect(listed.stdout).toMatch(/^oa\s+good\s+healthy\s+0\s+1\s+0\s+9\s+\d+$/m);
      expect(listed.stdout).toContain(
        "oa/bad disabled: the upstream refused its key (401: Incorrect API key provided)",
      );
      expect(listed.stdout).not.toContain("sk-upstream");

      const json = await runLevity(["accounts", "--json", "--config", dir, "--url", levity.origin]);
      expect(
        JSON.parse(json.stdout).map((a: { account: string; state: string }) => [
          a.account,
          a.state,
        ]),
      ).toEqual([
        ["bad", "disabled"],
        ["good", "healthy"],
      ]);

      const wrongKey = await runLevity(["accounts", "--config", dir, "--port", port], {
        env: { LEVITY_ADMIN_KEY: "sk-client-key-1" },
      });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.stderr).toContain("refused the admin key (401)");

      const unknown = await runLevity([
        "accounts",
        "reset",
        "oa/nobody",
        "--config",
        dir,
        "--port",
        port,
      ]);
      expect(unknown).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('no account matches "oa/nobody"'),
      });
      const reset = await runLevity([
        "accounts",
        "reset",
        "oa/bad",
        "--config",
        dir,
        "--port",
        port,
      ]);
      expect(reset).toMatchObject({ code: 0, stdout: "reset: oa/bad\n" });
      expect((await runLevity(["accounts", "--config", dir, "--port", port])).stdout).toMatch(
        /^oa\s+bad\s+healthy/m,
      );
    } finally {
      levity.kill("SIGTERM");
      await levity.exited;
      await oa.stop();
    }
  });

  test("a cooling account shows how long it has left, for the account and per model", () => {
    const now = Date.parse("2026-11-21T12:00:00Z");
    const base = {
      upstream: "ge",
      inFlight: 0,
      requests: 3,
      failures: 2,
      consecutiveFailures: 2,
      tokens: { input: 0, output: 0, cached: 0, cacheWrite: 0 },
    };
    const text = formatAccounts(
      [
        {
          ...base,
          account: "a",
          state: "cooling",
          coolingUntil: "2026-11-21T12:00:42.000Z",
          modelCooldowns: {},
          lastError: "503 overloaded",
        },
        {
          ...base,
          account: "b",
          state: "cooling",
          modelCooldowns: { "gemini-2.5-pro": "2026-11-21T12:10:00.000Z" },
          lastError: "429 quota",
        },
      ],
      now,
    );
    expect(text).toMatch(/^ge\s+a\s+cooling 42 s\s+0\s+3\s+2/m);
    expect(text).toMatch(/^ge\s+b\s+cooling for 1 model\s/m);
    expect(text).toContain("ge/a cooling until 2026-11-21T12:00:42.000Z (2 failures in a row).");
    expect(text).toContain(
      "ge/b cooling for gemini-2.5-pro until 2026-11-21T12:10:00.000Z (in 10 min).",
    );
    expect(text).toContain("ge/b last error: 429 quota");
  });

  test("no gateway on the port: one line that says so and how to point at it, exit 1", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = closed.port!;
    await closed.stop(true);
    const { code, stderr } = await runLevity([
      "accounts",
      "--config",
      tempDir(),
      "--port",
      String(port),
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain(`no gateway answers at http://127.0.0.1:${port}`);
    expect(stderr).toContain("--url URL");
  });
});

describe("stopping", () => {
  let upstream: FakeUpstream;
  beforeAll(() => {
    upstream = fakeOpenAI("sk-upstream-key-1");
  });
  afterAll(() => upstream.stop());

  test("SIGTERM stops new connections, lets the in-flight stream finish, then exits 0", async () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: upstreamsYaml([
        {
          name: "oa",
          protocol: "openai",
          base_url: `${upstream.url}/v1`,
          accounts: [{ name: "a", key: "sk-upstream-key-1" }],
        },
      ]),
    });
    const levity = await serveLevity(["--config", dir]);
    const head =
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"first "},"finish_reason":null}]}\n\n';
    const rest =
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"last"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n';
    const held = upstream.holdOnce(head);

    const response = await fetch(`${levity.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        model: "m",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let received = decoder.decode((await reader.read()).value);

    levity.kill("SIGTERM");
    await levity.stderr.waitFor(/SIGTERM: no new connections; draining 1 request/);
    expect(
      await fetch(`${levity.origin}/healthz`).then(
        () => "served",
        () => "refused",
      ),
    ).toBe("refused");

    held.release(rest);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += decoder.decode(value);
    }
    expect(received).toBe(head + rest);
    expect(await levity.exited).toBe(0);
    expect(levity.stderr.text).toContain("stopped");
  });
});

describe("a damaged database", () => {
  test("is said to be damaged, with the remedy, and the remedy works", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    mkdirSync(data, { mode: 0o700 });
    // What a power cut while a new file was being made can leave: bytes SQLite cannot read.
    for (const name of ["levity.db", "requests.db"])
      writeFileSync(join(data, name), "not a database ".repeat(400), { mode: 0o600 });
    const damaged = await serveLevity(["--config", dir]);
    try {
      expect((await fetch(`${damaged.origin}/healthz`)).status).toBe(200);
      const hint =
        "the file is damaged; stop levity and move it and its -wal and -shm files aside, and the next start makes it again";
      for (const name of ["levity.db", "requests.db"])
        await damaged.stderr.waitFor(
          new RegExp(
            `cannot open ${join(data, name)} (file is not a database: ${hint})`.replace(
              /[.*+?^${}()|[\]\\]/g,
              "\\$&",
            ),
          ),
        );
    } finally {
      damaged.kill("SIGTERM");
      await damaged.exited;
    }
    for (const name of ["levity.db", "requests.db"])
      renameSync(join(data, name), join(data, `${name}.damaged`));
    const again = await serveLevity(["--config", dir]);
    try {
      expect((await fetch(`${again.origin}/healthz`)).status).toBe(200);
      expect(again.stderr.text).not.toContain("cannot open");
      for (const name of ["levity.db", "requests.db"])
        expect(readFileSync(join(data, name)).subarray(0, 15).toString()).toBe("SQLite format 3");
    } finally {
      again.kill("SIGTERM");
      await again.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
