import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CliExit, loadForCommand, type CliIO } from "../src/cli/context.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { tempDir as newTempDir, writeConfig } from "./support/gateway.ts";
import { bodyOf } from "./support/http.ts";
import { runLevity, serveLevity } from "./support/process.ts";
import { rememberSecretsIn, searchDirectory } from "./support/secret-audit.ts";

// `levity accounts` and `levity logs` as their users run them: processes, exit codes and output.

/** Each test starts several levity processes, which take a second or more each on a busy machine. */
const PROCESSES = 30_000;

const dirs: string[] = [];
/** A directory removed at the end, its files searched for keys first. */
function tempDir(): string {
  const dir = newTempDir();
  dirs.push(dir);
  return dir;
}

const chat = (model: string) => ({
  method: "POST",
  body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
});

// Admin commands need only the gateway's address and its admin key. A service keeps its keys in
// levity.env, which only the unit reads: a shell that lacks them must still see the accounts and
// the log, and read the log file itself when the gateway is down (after a crash).
describe("admin commands need only what they use", () => {
  const ADMIN = "sk-admin-env-key-1";
  const UPSTREAM = "sk-upstream-local-1";
  // Keys that reach levity through the environment are searched for in its output too.
  rememberSecretsIn(`admin_key: ${ADMIN}\nkey: ${UPSTREAM}\n`);
  const serviceEnv = { LEVITY_TEST_ADMIN: ADMIN, LEVITY_TEST_LOCAL_KEY: UPSTREAM };
  const gatewayYaml = (url: string) =>
    `proxy:\n  admin_key: "\${LEVITY_TEST_ADMIN}"\nupstreams:\n  - name: local\n    protocol: openai\n    base_url: ${url}/v1\n    accounts:\n      - { name: me, key: "\${LEVITY_TEST_LOCAL_KEY}" }\n`;

  let upstream: FakeUpstream;
  let dir: string;
  let levity: Awaited<ReturnType<typeof serveLevity>>;
  let port: string;
  const requestIds: string[] = [];
  beforeAll(async () => {
    upstream = fakeOpenAI(UPSTREAM);
    dir = tempDir();
    writeConfig(dir, { gateway: gatewayYaml(upstream.url), mappings: "default: local/qwen\n" });
    levity = await serveLevity(["--config", dir], { env: serviceEnv });
    port = new URL(levity.origin).port;
    for (const model of ["gpt-4o", "o3"]) {
      const response = await fetch(`${levity.origin}/v1/chat/completions`, chat(model));
      expect(response.status).toBe(200);
      requestIds.push(response.headers.get("x-request-id")!);
      await response.text();
    }
  }, PROCESSES);
  afterAll(async () => {
    levity.kill("SIGKILL");
    await levity.exited;
    await upstream.stop();
    for (const each of dirs) {
      searchDirectory(each);
      rmSync(each, { recursive: true, force: true });
    }
  }, PROCESSES);

  test(
    "accounts and logs with --url or --port and $LEVITY_ADMIN_KEY, while the upstream key's variable is unset here",
    async () => {
      const env = { LEVITY_ADMIN_KEY: ADMIN };
      const byUrl = await runLevity(["accounts", "--config", dir, "--url", levity.origin], { env });
      expect(byUrl).toMatchObject({ code: 0, stderr: "" });
      expect(byUrl.stdout).toMatch(/^local\s+me\s+healthy\s+0\s+2\s+0/m);
      expect((await runLevity(["accounts", "--config", dir, "--port", port], { env })).code).toBe(
        0,
      );
      const logs = await runLevity(["logs", "--config", dir, "--port", port], { env });
      expect(logs).toMatchObject({ code: 0, stderr: "" });
      for (const id of requestIds) expect(logs.stdout).toContain(id);
    },
    PROCESSES,
  );

  test(
    "the config's own admin key, when its variable is set, is enough",
    async () => {
      const listed = await runLevity(["accounts", "--config", dir, "--port", port], {
        env: { LEVITY_TEST_ADMIN: ADMIN },
      });
      expect(listed).toMatchObject({ code: 0, stderr: "" });
      expect(listed.stdout).toMatch(/^local\s+me\s+healthy/m);
    },
    PROCESSES,
  );

  test(
    "no key sent is said so, with how to give one; a wrong key is a refusal",
    async () => {
      const unsent = await runLevity(["accounts", "--config", dir, "--port", port]);
      expect(unsent.code).toBe(1);
      expect(unsent.stderr).toContain("wants an admin key (401), and none was sent");
      expect(unsent.stderr).toContain("proxy.admin_key in");
      expect(unsent.stderr).toContain("LEVITY_TEST_ADMIN is not set");
      expect(unsent.stderr).toContain("LEVITY_ADMIN_KEY=");
      expect(unsent.stderr).not.toContain("refused");
      const noConfig = await runLevity(["logs", "--config", tempDir(), "--url", levity.origin]);
      expect(noConfig.code).toBe(1);
      expect(noConfig.stderr).toContain("none was sent: no gateway.yaml was found");
      const wrong = await runLevity(["accounts", "--config", dir, "--port", port], {
        env: { LEVITY_ADMIN_KEY: "sk-not-the-admin-key" },
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("refused the admin key (401) sent from $LEVITY_ADMIN_KEY");
    },
    PROCESSES,
  );

  test(
    "a port written with an unset variable: one line that says so and asks for --port or --url",
    async () => {
      const other = tempDir();
      writeConfig(other, {
        gateway: `proxy:\n  port: \${LEVITY_TEST_UNSET_PORT}\n${gatewayYaml(upstream.url).replace("proxy:\n", "")}`,
      });
      const answer = await runLevity(["accounts", "--config", other], {
        env: { LEVITY_ADMIN_KEY: ADMIN },
      });
      expect(answer.code).toBe(1);
      expect(answer.stderr).toContain(
        "proxy.port: environment variable LEVITY_TEST_UNSET_PORT is not set",
      );
      expect(answer.stderr).toContain("--port N or its address with --url URL");
    },
    PROCESSES,
  );

  test(
    "check: one unset variable is one problem, at its line, and no mapping seems to name an unknown upstream",
    async () => {
      const checked = await runLevity(["check", "--config", dir], {
        env: { LEVITY_TEST_ADMIN: ADMIN },
      });
      expect(checked.code).toBe(1);
      expect(checked.stderr).toContain("1 problem:");
      expect(checked.stderr).toContain(
        "gateway.yaml:8: upstreams[0].accounts[0].key: environment variable LEVITY_TEST_LOCAL_KEY is not set",
      );
      expect(checked.stderr).not.toContain("does not define");
    },
    PROCESSES,
  );

  test(
    "routes and resolve list what they read while an upstream key's variable is unset; check still needs it",
    async () => {
      const routes = await runLevity(["routes", "--config", dir], {
        env: { LEVITY_TEST_ADMIN: ADMIN },
      });
      expect(routes.code).toBe(0);
      expect(routes.stdout).toContain("POST    /v1/chat/completions");
      expect(routes.stdout).toContain("serve an endpoint pasted as a Base URL");
      const resolved = await runLevity(["resolve", "some-model", "--config", dir], {
        env: { LEVITY_TEST_ADMIN: ADMIN },
      });
      expect(resolved.code).toBe(0);
      expect(resolved.stdout).toContain("upstream local: openai");
    },
    PROCESSES,
  );

  test(
    "a mistake elsewhere in gateway.yaml, or a file that does not parse, does not stop them when it is not what they read",
    async () => {
      const mistaken = tempDir();
      writeConfig(mistaken, {
        gateway: gatewayYaml(upstream.url).replace("protocol: openai", "protocol: nonsense"),
      });
      const listed = await runLevity(["accounts", "--config", mistaken, "--port", port], {
        env: { LEVITY_TEST_ADMIN: ADMIN },
      });
      expect(listed).toMatchObject({ code: 0, stderr: "" });
      const broken = tempDir();
      writeConfig(broken, { gateway: "proxy: [unclosed\n" });
      expect(
        await runLevity(["accounts", "--config", broken, "--url", levity.origin], {
          env: { LEVITY_ADMIN_KEY: ADMIN },
        }),
      ).toMatchObject({ code: 0, stderr: "" });
      // Without the address and the key from elsewhere, the file's problem is what stops them, and is printed.
      const stopped = await runLevity(["accounts", "--config", broken, "--port", port]);
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toContain("gateway.yaml has a problem in what this command needs");
    },
    PROCESSES,
  );

  // Last: it stops the gateway the way a crash does.
  test(
    "logs reads the request log file when no gateway answers (after a kill -9), and says so",
    async () => {
      // The gateway's own query writes what it has buffered, so the file is known to hold both requests before the kill.
      const live = await fetch(`${levity.origin}/levity/logs`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      // Two requests answered, and the refused admin calls of the tests before (every refusal is recorded).
      const written = ((await bodyOf(live)).requests as unknown[]).length;
      expect(written).toBeGreaterThanOrEqual(2);
      levity.kill("SIGKILL");
      await levity.exited;

      const logs = await runLevity(["logs", "--config", dir, "--port", port]);
      expect(logs.code).toBe(0);
      expect(logs.stderr).toContain(`no gateway answers at http://127.0.0.1:${port}`);
      expect(logs.stderr).toContain(
        `reading its request log file ${join(dir, "data", "requests.db")} directly`,
      );
      expect(
        logs.stdout
          .trimEnd()
          .split("\n")
          .filter((line) => line.startsWith("20")),
      ).toHaveLength(written);
      const answered = await runLevity(["logs", "--status", "ok", "--config", dir, "--port", port]);
      const lines = answered.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(2);
      // Oldest first, as from a running gateway.
      expect(lines[0]).toContain(requestIds[0]!);
      expect(lines[1]).toContain(requestIds[1]!);
      expect(lines[0]).toContain("gpt-4o -> qwen  local/me");

      const json = await runLevity([
        "logs",
        "--json",
        "--model",
        "o3",
        "--config",
        dir,
        "--port",
        port,
      ]);
      expect(
        json.stdout
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line).requestId),
      ).toEqual([requestIds[1]]);
      expect(
        (await runLevity(["logs", "--status", "5xx", "--config", dir, "--port", port])).stdout,
      ).toBe("");
      expect(
        await runLevity(["logs", "--status", "bad", "--config", dir, "--port", port]),
      ).toMatchObject({ code: 2, stderr: expect.stringContaining("--status must be") });
      // The file is left as the next gateway expects it.
      expect(existsSync(join(dir, "data", "requests.db"))).toBe(true);
    },
    PROCESSES,
  );
});

// routes and resolve read the route table and the mappings, never an account's key.
describe("loading for a command that uses no account key", () => {
  test("an account key whose variable is unset is no problem for it, and still one for the others", () => {
    const dir = tempDir();
    writeConfig(dir, {
      gateway:
        'upstreams:\n  - name: local\n    protocol: openai\n    base_url: http://127.0.0.1:9/v1\n    accounts:\n      - { name: me, key: "${LEVITY_TEST_UNSET_KEY}" }\n',
      mappings: "default: local/qwen\n",
    });
    const errors: string[] = [];
    const io: CliIO = { out() {}, err: (text) => void errors.push(text), env: {}, cwd: dir };
    const { snapshot } = loadForCommand({ config: dir }, io, { accountKeysUnused: true });
    expect(snapshot.routes.routes.length).toBeGreaterThan(0);
    expect(snapshot.upstreams.map((u) => u.name)).toEqual(["local"]);
    expect(() => loadForCommand({ config: dir }, io)).toThrow(CliExit);
    expect(errors.join("")).toContain("LEVITY_TEST_UNSET_KEY is not set");
    rmSync(dir, { recursive: true, force: true });
  });
});
