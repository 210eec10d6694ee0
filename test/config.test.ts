import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { locateConfigDir, tildify } from "../src/config/locate.ts";
import { ConfigError, type ConfigProblem } from "../src/config/problem.ts";
import { normalizeBaseUrl } from "../src/codecs/base-url.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { REPO, startGateway, tempDir, writeConfig } from "./support/gateway.ts";

function problemsOf(
  files: Parameters<typeof writeConfig>[1],
  env: Record<string, string> = {},
): ConfigProblem[] {
  const dir = tempDir();
  writeConfig(dir, files);
  try {
    loadConfig({ dir, env });
  } catch (error) {
    if (error instanceof ConfigError)
      return error.problems.map((p) => ({ ...p, file: p.file.replace(`${dir}/`, "") }));
    throw error;
  }
  throw new Error("the configuration loaded, but problems were expected");
}

describe("every problem names the file, the line and the key", () => {
  test("a misspelt key", () => {
    expect(problemsOf({ gateway: "proxy:\n  port: 8045\n  alow_lan_access: true\n" })).toEqual([
      {
        file: "gateway.yaml",
        line: 3,
        key: "proxy.alow_lan_access",
        message: "is not a known key (check its spelling)",
      },
    ]);
  });

  test("a client key of the wrong form, without quoting the value", () => {
    const [problem] = problemsOf({
      gateway: "proxy:\n  auth_mode: strict\n  api_key: hunter2hunter2\n",
    });
    expect(problem).toMatchObject({
      file: "gateway.yaml",
      line: 3,
      key: "proxy.api_key",
      message: 'must start with "sk-" and be at least 10 characters',
    });
    expect(JSON.stringify(problem)).not.toContain("hunter2");
  });

  test("a value of the wrong type", () => {
    expect(problemsOf({ gateway: "proxy:\n  port: eighty\n" })[0]).toMatchObject({
      line: 2,
      key: "proxy.port",
      message: "must be a port number",
    });
  });

  test("a missing environment variable is named", () => {
    const gateway =
      'upstreams:\n  - name: oa\n    protocol: openai\n    accounts:\n      - { name: me, key: "${LEVITY_TEST_UNSET_KEY}" }\n';
    expect(problemsOf({ gateway })).toEqual([
      {
        file: "gateway.yaml",
        line: 5,
        key: "upstreams[0].accounts[0].key",
        message:
          "environment variable LEVITY_TEST_UNSET_KEY is not set (it is used as ${LEVITY_TEST_UNSET_KEY})",
      },
    ]);
  });

  test("an account key a header cannot carry, from the file or the environment", () => {
    const gateway =
      'upstreams:\n  - name: oa\n    protocol: openai\n    accounts:\n      - { name: a, key: "sk-a\\r\\nx-injected: 1" }\n      - { name: b, key: "${LEVITY_TEST_BROKEN_KEY}" }\n      - { name: c, key: "${LEVITY_TEST_FILE_KEY}" }\n      - { name: d, key: "sk-pasted\u201d" }\n      - { name: e, key: "  " }\n';
    const problems = problemsOf(
      { gateway },
      {
        LEVITY_TEST_BROKEN_KEY: "sk-b\nsecond-line",
        LEVITY_TEST_FILE_KEY: "sk-read-from-a-file\n",
      },
    );
    const message =
      "must not hold a line break, a control character or a character such as \u201c inside it (one pasted from a document, say): an HTTP header cannot carry it";
    expect(problems).toEqual([
      { file: "gateway.yaml", line: 5, key: "upstreams[0].accounts[0].key", message },
      { file: "gateway.yaml", line: 6, key: "upstreams[0].accounts[1].key", message },
      { file: "gateway.yaml", line: 8, key: "upstreams[0].accounts[3].key", message },
      {
        file: "gateway.yaml",
        line: 9,
        key: "upstreams[0].accounts[4].key",
        message: "must not be empty",
      },
    ]);
    expect(JSON.stringify(problems)).not.toContain("sk-");
  });

  test("an environment variable set but empty is named as such", () => {
    const gateway =
      'upstreams:\n  - name: oa\n    protocol: openai\n    accounts:\n      - { name: me, key: "${LEVITY_TEST_EMPTY_KEY}" }\n';
    expect(problemsOf({ gateway }, { LEVITY_TEST_EMPTY_KEY: "" })).toEqual([
      {
        file: "gateway.yaml",
        line: 5,
        key: "upstreams[0].accounts[0].key",
        message:
          "environment variable LEVITY_TEST_EMPTY_KEY is set but empty (it is used as ${LEVITY_TEST_EMPTY_KEY})",
      },
    ]);
  });

  test("an upstream with no accounts says how to add one", () => {
    const [problem] = problemsOf({
      gateway: "upstreams:\n  - name: gemini\n    protocol: gemini\n",
    });
    expect(problem).toMatchObject({ file: "gateway.yaml", line: 2, key: "upstreams[0]" });
    expect(problem!.message).toContain('upstream "gemini" has no accounts');
    expect(problem!.message).toContain('key: "${GEMINI_API_KEY}"');
  });

  test("a mapping target that names no upstream", () => {
    expect(
      problemsOf({
        mappings:
          'exact:\n  gpt-4o: echo/x\nwildcard:\n  "claude-*": anthropic/claude-sonnet-4-5\n',
      }),
    ).toEqual([
      {
        file: "mappings.yaml",
        line: 4,
        key: "wildcard.claude-*",
        message:
          'target "anthropic/claude-sonnet-4-5" names upstream "anthropic", which gateway.yaml does not define (upstreams: echo)',
      },
    ]);
  });

  test("a target without an upstream part", () => {
    expect(problemsOf({ mappings: "default: gemini-2.5-flash\n" })[0]).toMatchObject({
      line: 1,
      key: "default",
      message: "must be UPSTREAM/MODEL, e.g. gemini/gemini-3.8-flash",
    });
  });

  test("a YAML syntax error", () => {
    expect(problemsOf({ gateway: "proxy:\n  port: [8045\n" })[0]).toMatchObject({
      file: "gateway.yaml",
      line: 3,
    });
  });

  test("a gateway.yaml that does not parse gives its YAML problems only: its mappings are not checked against the built-in echo", () => {
    const problems = problemsOf({
      gateway: "upstreams:\n  - name: openai\n    protocol: openai\n  bad: [\n",
      mappings: "exact:\n  fast: openai/gpt-4o-mini\n",
    });
    expect(problems).toEqual([
      {
        file: "gateway.yaml",
        line: 4,
        message: "All mapping items must start at the same column (column 1)",
      },
      {
        file: "gateway.yaml",
        line: 5,
        message:
          "Flow sequence in block collection must be sufficiently indented and end with a ] (column 1)",
      },
    ]);
  });

  test("a routes.yaml route with an unknown dialect", () => {
    const routes =
      "routes:\n  - { method: POST, path: /x, dialect: cohere, operation: generate }\n";
    expect(problemsOf({ routes })[0]).toMatchObject({
      file: "routes.yaml",
      line: 2,
      key: "routes[0].dialect",
    });
  });

  test("a routes.yaml route with an unknown body kind or a body limit out of range", () => {
    const routes =
      "routes:\n  - { method: POST, path: /x, operation: transcribe, body: xml }\n  - { method: POST, path: /y, operation: transcribe, body: multipart, max_body_mb: 0 }\n";
    expect(problemsOf({ routes })).toMatchObject([
      { file: "routes.yaml", line: 2, key: "routes[0].body", message: "must be json or multipart" },
      { file: "routes.yaml", line: 3, key: "routes[1].max_body_mb", message: "must be at least 1" },
    ]);
  });

  test("a routes.yaml body that its operation does not read is refused at its line, not served as a 500", () => {
    const routes =
      "routes:\n  - { method: POST, path: /x, operation: transcribe, body: json }\n  - { method: POST, path: /y, dialect: openai-chat, operation: embeddings, body: multipart }\n  - { method: POST, path: /z, dialect: openai-chat, operation: not-served, body: multipart }\n";
    expect(problemsOf({ routes })).toMatchObject([
      {
        file: "routes.yaml",
        line: 2,
        key: "routes[0].body",
        message: "must be multipart: operation transcribe reads an upload",
      },
      {
        file: "routes.yaml",
        line: 3,
        key: "routes[1].body",
        message: "must be json: operation embeddings reads a JSON body",
      },
    ]);
  });

  test("every problem across the files is reported at once", () => {
    const problems = problemsOf({
      gateway:
        "proxy:\n  port: -1\nupstreams:\n  - name: a\n    protocol: echo\n  - name: a\n    protocol: echo\n",
      mappings: "default: nowhere/x\n",
    });
    expect(problems.map((p) => `${p.file}:${p.line} ${p.key}`)).toEqual([
      "gateway.yaml:2 proxy.port",
      "gateway.yaml:6 upstreams[1].name",
      "mappings.yaml:1 default",
    ]);
  });
});

describe("environment interpolation", () => {
  let upstream: FakeUpstream;
  beforeAll(() => {
    upstream = fakeOpenAI("sk-from-the-environment");
  });
  afterAll(() => upstream.stop());

  test("a key from the environment reaches the upstream; a lone placeholder keeps its type", async () => {
    const gw = startGateway(
      {
        gateway: `proxy:\n  max_body_mb: \${BODY_MB}\nupstreams:\n  - name: oa\n    protocol: openai\n    base_url: \${OA_URL:-http://unused}\n    accounts:\n      - { name: env, key: "\${OA_KEY}" }\n`,
      },
      { OA_KEY: "sk-from-the-environment", OA_URL: `${upstream.url}/v1`, BODY_MB: "2" },
    );
    expect(gw.server.holder.snapshot.proxy.body.maxBytes).toBe(2 * 1024 * 1024);
    const response = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "env" }] }),
    });
    expect(response.status).toBe(200);
    expect(upstream.last().headers.get("authorization")).toBe("Bearer sk-from-the-environment");
    await gw.stop();
  });
});

describe("where the configuration comes from", () => {
  const root = tempDir();
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /*
   * The precedence, one row per situation: which places exist and which files they hold, which
   * directory levity uses, and why. `checkout` stands for levity's own repository, which ships a
   * mappings.yaml and a routes.yaml that are defaults, not a user's configuration.
   */
  type Place = "named" | "envDir" | "cwd" | "defaultDir" | "xdgDir";
  interface Row {
    name: string;
    files: Partial<Record<Place, string[]>>;
    flag?: boolean;
    env?: boolean;
    xdg?: boolean;
    uses: Place | undefined;
    because: string;
    passedOver?: Place[];
  }
  const CHECKOUT = ["mappings.yaml", "routes.yaml"];
  const rows: Row[] = [
    {
      name: "nothing anywhere: the built-in defaults",
      files: {},
      uses: undefined,
      because: "no gateway.yaml in the current directory, no config file in ~/.config/levity",
    },
    {
      name: "a checkout (mappings.yaml, routes.yaml) is not a config directory",
      files: { cwd: CHECKOUT },
      uses: undefined,
      because: "no gateway.yaml in the current directory",
    },
    {
      name: "a checkout, after init wrote ~/.config/levity",
      files: { cwd: CHECKOUT, defaultDir: ["gateway.yaml", "mappings.yaml"] },
      uses: "defaultDir",
      because: "the default location",
    },
    {
      name: "a current directory with gateway.yaml comes before ~/.config/levity",
      files: { cwd: ["gateway.yaml"], defaultDir: ["gateway.yaml"] },
      uses: "cwd",
      because: "the current directory holds gateway.yaml",
      passedOver: ["defaultDir"],
    },
    {
      name: "~/.config/levity with only mappings.yaml counts: it is levity's own directory",
      files: { defaultDir: ["mappings.yaml"] },
      uses: "defaultDir",
      because: "the default location",
    },
    {
      name: "an empty ~/.config/levity does not count",
      files: { defaultDir: [] },
      uses: undefined,
      because: "no config file in ~/.config/levity",
    },
    {
      name: "$XDG_CONFIG_HOME/levity replaces ~/.config/levity",
      files: { defaultDir: ["gateway.yaml"], xdgDir: ["gateway.yaml"] },
      xdg: true,
      uses: "xdgDir",
      because: "the default location",
    },
    {
      name: "$LEVITY_CONFIG_DIR comes before the current directory and the default location",
      files: { envDir: [], cwd: ["gateway.yaml"], defaultDir: ["gateway.yaml"] },
      env: true,
      uses: "envDir",
      because: "$LEVITY_CONFIG_DIR",
      passedOver: ["cwd", "defaultDir"],
    },
    {
      name: "--config comes first, and a named directory counts even when empty",
      files: { named: [], envDir: ["gateway.yaml"], cwd: ["gateway.yaml"] },
      flag: true,
      env: true,
      uses: "named",
      because: "--config",
      passedOver: ["cwd"],
    },
    {
      name: "--config naming the default location passes nothing over",
      files: { defaultDir: ["gateway.yaml"] },
      flag: true,
      uses: "defaultDir",
      because: "--config",
    },
  ];

  test.each(rows.map((row) => [row.name, row] as const))("%s", (_name, row) => {
    const base = mkdtempSync(join(root, "case-"));
    const home = join(base, "home");
    const paths: Record<Place, string> = {
      named: join(base, "named"),
      envDir: join(base, "env"),
      cwd: join(base, "cwd"),
      defaultDir: join(home, ".config/levity"),
      xdgDir: join(base, "xdg/levity"),
    };
    mkdirSync(paths.cwd, { recursive: true });
    for (const [place, files] of Object.entries(row.files) as [Place, string[]][]) {
      mkdirSync(paths[place], { recursive: true });
      for (const file of files)
        writeFileSync(
          join(paths[place], file),
          file === "gateway.yaml" ? "proxy:\n  port: 8045\n" : "{}\n",
        );
    }
    const env: Record<string, string> = {};
    if (row.env) env.LEVITY_CONFIG_DIR = paths.envDir;
    if (row.xdg) env.XDG_CONFIG_HOME = join(base, "xdg");
    const flag = row.flag ? (row.files.named ? paths.named : paths.defaultDir) : undefined;
    const choice = locateConfigDir({ flag, env, cwd: paths.cwd, home });
    expect(choice.problem).toBeUndefined();
    expect(choice.dir).toBe(row.uses && paths[row.uses]);
    expect(choice.reason).toContain(row.because);
    expect(choice.passedOver ?? []).toEqual((row.passedOver ?? []).map((place) => paths[place]));
    // What levity then reads: a checkout's own files never, the chosen directory's always.
    const snapshot = loadConfig({ dir: choice.dir, env: {} });
    expect(snapshot.sources.mappings).toBe(
      row.uses && row.files[row.uses]?.includes("mappings.yaml")
        ? join(paths[row.uses], "mappings.yaml")
        : "built-in mappings.yaml",
    );
  });

  test("a --config or $LEVITY_CONFIG_DIR that is not a directory is a problem, not a silent fallback", () => {
    expect(locateConfigDir({ flag: join(root, "missing"), env: {}, cwd: root }).problem).toContain(
      "--config names",
    );
    expect(
      locateConfigDir({ env: { LEVITY_CONFIG_DIR: join(root, "missing") }, cwd: root }).problem,
    ).toContain("$LEVITY_CONFIG_DIR names");
  });

  test("paths under the home directory are shown as ~/...", () => {
    expect(tildify("/home/me/.config/levity", "/home/me")).toBe("~/.config/levity");
    expect(tildify("/home/me", "/home/me/")).toBe("~");
    expect(tildify("/home/meg/x", "/home/me")).toBe("/home/meg/x");
    expect(tildify("/srv/levity", "/")).toBe("/srv/levity");
  });

  test("a routes.yaml in the config directory replaces the built-in one", async () => {
    const gw = startGateway({
      routes: "routes:\n  - { method: GET, path: /healthz, operation: health, auth: health }\n",
    });
    expect((await fetch(`${gw.origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.origin}/v1/models`)).status).toBe(404);
    await gw.stop();
  });
});

describe("upstream base URLs follow each SDK's convention, written either way", () => {
  test.each([
    ["openai", "https://api.openai.com/v1", "https://api.openai.com/v1", undefined],
    ["openai", "https://api.openai.com", "https://api.openai.com/v1", undefined],
    ["openai", "https://api.openai.com/v1/", "https://api.openai.com/v1", undefined],
    [
      "openai",
      "https://api.openai.com/v1/chat/completions",
      "https://api.openai.com/v1",
      undefined,
    ],
    ["openai", "http://localhost:11434/v1", "http://localhost:11434/v1", undefined],
    [
      "openai",
      "https://open.bigmodel.cn/api/paas/v4",
      "https://open.bigmodel.cn/api/paas/v4",
      undefined,
    ],
    ["anthropic", "https://api.anthropic.com", "https://api.anthropic.com", undefined],
    ["anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com", undefined],
    ["anthropic", "https://api.anthropic.com/v1/messages", "https://api.anthropic.com", undefined],
    ["anthropic", "https://api.z.ai/api/anthropic", "https://api.z.ai/api/anthropic", undefined],
    [
      "gemini",
      "https://generativelanguage.googleapis.com",
      "https://generativelanguage.googleapis.com",
      "v1beta",
    ],
    [
      "gemini",
      "https://generativelanguage.googleapis.com/v1beta",
      "https://generativelanguage.googleapis.com",
      "v1beta",
    ],
    [
      "gemini",
      "https://generativelanguage.googleapis.com/v1beta/models",
      "https://generativelanguage.googleapis.com",
      "v1beta",
    ],
    [
      "gemini",
      "https://generativelanguage.googleapis.com/v1",
      "https://generativelanguage.googleapis.com",
      "v1",
    ],
  ] as const)("%s %s -> %s", (protocol, written, url, apiVersion) => {
    const normalized = normalizeBaseUrl(protocol, written);
    expect(normalized.url).toBe(url);
    expect(normalized.apiVersion).toBe(apiVersion);
    expect(normalized.adjusted !== undefined).toBe(written.replace(/\/$/, "") !== url);
  });
});

describe("the shipped example files", () => {
  test("gateway.example.yaml is a valid configuration", () => {
    const dir = tempDir();
    writeConfig(dir, { gateway: readFileSync(join(REPO, "gateway.example.yaml"), "utf8") });
    const env = {
      LEVITY_API_KEY: "sk-example-1234",
      LEVITY_LAPTOP_KEY: "sk-example-5678",
      GEMINI_KEY_ALICE: "g",
      GEMINI_KEY_BOB: "b",
      OPENAI_API_KEY: "o",
      ANTHROPIC_API_KEY: "a",
    };
    const snapshot = loadConfig({ dir, env });
    expect(snapshot.upstreams.map((u) => u.name)).toEqual([
      "gemini",
      "openai",
      "anthropic",
      "ollama",
      "echo",
    ]);
    expect(snapshot.proxy.adminKeys.map((k) => k.key)).toEqual(["sk-admin-change-me"]);
    expect(snapshot.proxy.clientKeys.map((k) => k.name)).toEqual(["default", "laptop", "ci"]);
    expect(snapshot.proxy.clientKeys[2]!.limits).toEqual({
      models: ["*-mini", "*-haiku-*", "*-flash*"],
      rpm: 30,
      tpm: 200000,
      concurrency: 4,
      dailyTokens: 5000000,
      monthlyUsd: 50,
      expiresAt: Date.UTC(2027, 6, 1),
      ips: ["10.0.0.0/8"],
    });
    expect(
      snapshot.upstreams[0]!.accounts.map((a) => [
        a.name,
        a.weight,
        a.rpm,
        a.serves("gemini-3.8-flash"),
        a.serves("gemini-2.5-pro"),
      ]),
    ).toEqual([
      ["alice@example.com", 1, undefined, true, true],
      ["bob@example.com", 2, 10, true, false],
    ]);
  });
});

describe("proxy.timeouts", () => {
  const load = (gateway: string) => {
    const dir = tempDir();
    writeConfig(dir, { gateway });
    return loadConfig({ dir, env: {} });
  };
  const upstream = (name: string, own = "") =>
    `  - name: ${name}\n    protocol: openai\n    base_url: http://127.0.0.1:9/v1\n${own}    accounts: [{ name: a, key: k }]\n`;

  test("the commit deadline and keep-alive interval: defaults, fractions, an upstream's own", () => {
    const defaults = load(`upstreams:\n${upstream("u")}`).upstreams[0]!.timeouts;
    expect(defaults).toEqual({
      connect: 10_000,
      firstByte: 300_000,
      idle: 120_000,
      total: 3_600_000,
      commitDeadline: 30_000,
      keepAlive: 5_000,
    });
    const set = load(
      "proxy:\n  timeouts: { commit_deadline: 0.5, keepalive_interval: 0.25 }\nupstreams:\n" +
        upstream("u") +
        upstream("v", "    timeouts: { commit_deadline: 45 }\n"),
    ).upstreams;
    expect(set.map((u) => [u.timeouts.commitDeadline, u.timeouts.keepAlive])).toEqual([
      [500, 250],
      [45_000, 250],
    ]);
  });

  test("a deadline or interval under 0.1 s is refused, at its line", () => {
    expect(
      problemsOf({ gateway: "proxy:\n  timeouts:\n    commit_deadline: 0\n" })[0],
    ).toMatchObject({
      line: 3,
      key: "proxy.timeouts.commit_deadline",
      message: "must be at least 0.1 seconds",
    });
    expect(
      problemsOf({
        gateway: `upstreams:\n${upstream("u", "    timeouts: { keepalive_interval: 0.01 }\n")}`,
      })[0],
    ).toMatchObject({ message: "must be at least 0.1 seconds" });
  });

  test("a section written as a value says what shape it wants", () => {
    expect(problemsOf({ gateway: "proxy:\n  timeouts: 5\n" })[0]).toMatchObject({
      key: "proxy.timeouts",
      message:
        "must be a map of time limits in seconds, such as { first_byte: 300, commit_deadline: 30 }",
    });
    expect(problemsOf({ gateway: "proxy:\n  prompt_cache: yes\n" })[0]).toMatchObject({
      key: "proxy.prompt_cache",
      message: "must be a map such as { auto_breakpoints: true, cache_key: true }",
    });
    expect(
      problemsOf({ gateway: `upstreams:\n${upstream("u", "    prompt_cache: true\n")}` })[0],
    ).toMatchObject({
      message: "must be a map such as { auto_breakpoints: true, cache_key: true }",
    });
  });
});

describe("secrets stay out of error messages", () => {
  test("a key where a section was expected is not quoted back", () => {
    const problems = problemsOf({
      gateway: "proxy: sk-secret-value-123\nupstreams:\n  - sk-another-secret-456\n",
    });
    expect(problems.map((p) => p.key)).toEqual(["proxy", "upstreams[0]"]);
    expect(JSON.stringify(problems)).not.toContain("secret");
  });
});

// An unset variable is one mistake, and one problem: at the line that uses it, never followed by
// what its placeholder then fails or by mapping targets that seem to name no upstream.
describe("one unset variable, one problem", () => {
  const gatewayWith = (key: string) =>
    `upstreams:\n  - name: local\n    protocol: openai\n    base_url: http://127.0.0.1:9/v1\n    accounts:\n      - { name: me, key: "${key}" }\n`;

  test("an account key: only the variable, at its line; the mappings to its upstream stand", () => {
    const problems = problemsOf({
      gateway: gatewayWith("${LEVITY_TEST_UNSET_LOCAL}"),
      mappings: "exact:\n  gpt-4o: local/qwen\ndefault: local/qwen\n",
    });
    expect(problems).toEqual([
      {
        file: "gateway.yaml",
        line: 6,
        key: "upstreams[0].accounts[0].key",
        message:
          "environment variable LEVITY_TEST_UNSET_LOCAL is not set (it is used as ${LEVITY_TEST_UNSET_LOCAL})",
      },
    ]);
  });

  test("a value whose placeholder would fail its own check: the port, a client key", () => {
    expect(problemsOf({ gateway: "proxy:\n  port: ${LEVITY_TEST_UNSET_PORT}\n" })).toEqual([
      {
        file: "gateway.yaml",
        line: 2,
        key: "proxy.port",
        message:
          "environment variable LEVITY_TEST_UNSET_PORT is not set (it is used as ${LEVITY_TEST_UNSET_PORT})",
      },
    ]);
    expect(
      problemsOf({
        gateway: "proxy:\n  auth_mode: strict\n  api_key: ${LEVITY_TEST_UNSET_CLIENT}\n",
      }),
    ).toEqual([
      {
        file: "gateway.yaml",
        line: 3,
        key: "proxy.api_key",
        message:
          "environment variable LEVITY_TEST_UNSET_CLIENT is not set (it is used as ${LEVITY_TEST_UNSET_CLIENT})",
      },
    ]);
  });

  test("other problems in the same files are still every one reported", () => {
    const problems = problemsOf({
      gateway: `proxy:\n  prot: 1\n${gatewayWith("${LEVITY_TEST_UNSET_LOCAL}")}`,
      mappings: "exact:\n  gpt-4o: nowhere/x\n",
    });
    expect(problems.map((p) => `${p.file}:${p.line} ${p.key}`)).toEqual([
      "gateway.yaml:8 upstreams[0].accounts[0].key",
      "gateway.yaml:2 proxy.prot",
      "mappings.yaml:2 exact.gpt-4o",
    ]);
  });

  test("commands that use no account key may load with account keys unset, and only those", () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway: gatewayWith("${LEVITY_TEST_UNSET_LOCAL}"),
      mappings: "default: local/qwen\n",
    });
    expect(
      loadConfig({ dir, env: {}, tolerateUnsetAccountKeys: true }).upstreams.map((u) => u.name),
    ).toEqual(["local"]);
    writeConfig(dir, {
      gateway: `proxy:\n  port: \${LEVITY_TEST_UNSET_PORT}\n${gatewayWith("${LEVITY_TEST_UNSET_LOCAL}")}`,
    });
    expect(() => loadConfig({ dir, env: {}, tolerateUnsetAccountKeys: true })).toThrow(
      "LEVITY_TEST_UNSET_PORT is not set",
    );
  });
});

describe("limits on a gateway.yaml client key", () => {
  const cases: [string, string, string][] = [
    ["rpm: 0", "proxy.api_keys[0].rpm", "must be at least 1"],
    ["tpm: 1.5", "proxy.api_keys[0].tpm", "must be a whole number"],
    ["monthly_usd: -1", "proxy.api_keys[0].monthly_usd", "must be at least 0"],
    [
      'ips: ["not-a-network"]',
      "proxy.api_keys[0].ips[0]",
      "must be an address or a CIDR network such as 10.0.0.0/8",
    ],
    [
      "models: []",
      "proxy.api_keys[0].models",
      "must name at least one model (leave it out to allow every model)",
    ],
    [
      "expires: soon",
      "proxy.api_keys[0].expires",
      "must be a date (2026-12-31), a time (2026-12-31T18:00:00Z) or a duration from now (30d, 12h)",
    ],
    ["burst: 5", "proxy.api_keys[0].burst", ""],
  ];
  for (const [limit, key, message] of cases)
    test(`${limit}: a problem at ${key}`, () => {
      const problems = problemsOf({
        gateway: `proxy:\n  api_keys:\n    - { name: a, key: sk-a-0123456789, ${limit} }\n`,
      });
      expect(problems.map((p) => p.key)).toEqual([key]);
      expect(problems[0]!.line).toBe(3);
      if (message) expect(problems[0]!.message).toBe(message);
    });
});

describe("state: shared state on Redis", () => {
  test("absent: this instance's own state", () => {
    const dir = tempDir();
    writeConfig(dir, { gateway: "proxy:\n  port: 8045\n" });
    expect(loadConfig({ dir, env: {} }).state).toBeUndefined();
  });

  test("a URL, or the long form with its settings", () => {
    const dir = tempDir();
    writeConfig(dir, { gateway: "state: redis://127.0.0.1:6390/2\n" });
    expect(loadConfig({ dir, env: {} }).state).toEqual({
      url: "redis://127.0.0.1:6390/2",
      timeoutMs: 250,
      prefix: "levity",
    });
    writeConfig(dir, {
      gateway: "state:\n  url: rediss://cache.lan:6380\n  timeout_ms: 100\n  prefix: team-a\n",
    });
    expect(loadConfig({ dir, env: {} }).state).toEqual({
      url: "rediss://cache.lan:6380",
      timeoutMs: 100,
      prefix: "team-a",
    });
  });

  test("anything else is a problem at its line", () => {
    const problems = problemsOf({ gateway: "proxy:\n  port: 8045\nstate: postgres://db/levity\n" });
    expect(problems.map((p) => [p.line, p.key])).toEqual([[3, "state"]]);
    expect(problems[0]!.message).toContain("redis://");
  });
});
