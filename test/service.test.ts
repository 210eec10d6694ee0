import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SERVICE_ENVIRONMENT } from "../src/cli/service.ts";
import { BUN, MAIN, REPO, tempDir } from "./support/gateway.ts";
import { runLevity } from "./support/process.ts";

// `levity service`: the systemd unit and the launchd plist it writes, and what install and
// uninstall run, against a fake systemctl on PATH and a temporary HOME.

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sandbox(configName = "config") {
  const home = tempDir("levity-home-");
  dirs.push(home);
  const config = join(home, configName);
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, "gateway.yaml"), "proxy:\n  port: 8045\n");
  const bin = join(home, "bin");
  mkdirSync(bin);
  const calls = join(home, "systemctl-calls");
  // A systemctl that records its arguments, and fails when FAIL_SYSTEMCTL is set.
  writeFileSync(
    join(bin, "systemctl"),
    `#!/bin/sh\necho "$@" >> "${calls}"\nif [ -n "$FAIL_SYSTEMCTL" ]; then echo "Failed to connect to bus" >&2; exit 1; fi\n`,
  );
  chmodSync(join(bin, "systemctl"), 0o755);
  const env = { HOME: home, PATH: `${bin}:${process.env.PATH}`, USER: "alice" };
  const recorded = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);
  return { home, config, env, recorded };
}

describe("levity service print", () => {
  test("a systemd user unit that runs this levity with the config directory and restarts it on failure", async () => {
    const { config, env } = sandbox();
    const { code, stdout } = await runLevity(["service", "print", "--config", config], { env });
    expect(code).toBe(0);
    const [header, ...rest] = stdout.split("\n");
    expect(header).toBe(`# ${env.HOME}/.config/systemd/user/levity.service`);
    const unit = rest.join("\n");
    expect(unit).toContain(`ExecStart=${BUN} ${MAIN} serve --config ${config}\n`);
    expect(unit).toContain(`WorkingDirectory=${config}\n`);
    expect(unit).toContain(`EnvironmentFile=-${config}/levity.env\n`);
    expect(unit).toContain("Restart=on-failure\n");
    expect(unit).toContain("Environment=BUN_CONFIG_MAX_HTTP_REQUESTS=65535\n");
    expect(unit).toContain("Environment=MIMALLOC_PURGE_HOLES=0\n");
    expect(unit).toContain("TimeoutStopSec=70\n");
    expect(unit).toContain("WantedBy=default.target\n");
    expect(unit).not.toContain("User=");
    // Sections in order, each key under the right one.
    expect(unit.indexOf("[Unit]")).toBeLessThan(unit.indexOf("[Service]"));
    expect(unit.indexOf("[Service]")).toBeLessThan(unit.indexOf("ExecStart="));
    expect(unit.indexOf("[Install]")).toBeGreaterThan(unit.indexOf("Restart="));
  });

  test("--system: at boot, as the user who asked (even under sudo), from /etc/systemd/system", async () => {
    const { config, env } = sandbox();
    const { stdout } = await runLevity(["service", "print", "--system", "--config", config], {
      env: { ...env, SUDO_USER: "bob" },
    });
    expect(stdout.split("\n")[0]).toBe("# /etc/systemd/system/levity.service");
    expect(stdout).toContain("User=bob\n");
    expect(stdout).toContain("NoNewPrivileges=true\n");
    expect(stdout).toContain("WantedBy=multi-user.target\n");
  });

  test("--system with no $USER (cron, docker exec): the user is this uid's name in /etc/passwd, never 'unknown'", async () => {
    const { config, env } = sandbox();
    const { USER: _, ...withoutUser } = env;
    const { code, stdout } = await runLevity(["service", "print", "--system", "--config", config], {
      env: withoutUser,
    });
    expect(code).toBe(0);
    const me = spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();
    expect(me).not.toBe("");
    expect(stdout).toContain(`User=${me}\n`);
    // A user unit's linger hint names the same user.
    const installed = await runLevity(["service", "install", "--config", config], {
      env: withoutUser,
    });
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain(`loginctl enable-linger ${me}\n`);
  });

  test("a user name systemd would misread (a %, a newline) is refused, not written into the unit", async () => {
    const { config, env } = sandbox();
    const { code, stdout, stderr } = await runLevity(
      ["service", "print", "--system", "--config", config],
      { env: { ...env, USER: "x\nExecStartPre=/bin/touch /tmp/pwned" } },
    );
    expect(code).toBe(2);
    expect(stdout).not.toContain("ExecStartPre");
    expect(stderr).toContain("is not a user name a service can run as");
  });

  test("a config path with spaces, % and $ is quoted the way systemd reads it", async () => {
    const { config, env } = sandbox("my config 100% $HOME");
    const { stdout } = await runLevity(["service", "print", "--config", config], { env });
    const escaped = config.replace(/%/g, "%%").replace(/\$/g, "$$$$");
    expect(stdout).toContain(`serve --config "${escaped}"\n`);
  });

  test("--os macos: a launchd agent plist with the same command, kept alive only after a failure", async () => {
    const { config, env } = sandbox();
    const { code, stdout } = await runLevity(
      ["service", "print", "--os", "macos", "--config", config],
      { env },
    );
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toBe(
      `# ${env.HOME}/Library/LaunchAgents/dev.levity.gateway.plist`,
    );
    const args = [...stdout.matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]);
    expect(args.slice(0, 6)).toEqual([
      "dev.levity.gateway",
      BUN,
      MAIN,
      "serve",
      "--config",
      config,
    ]);
    expect(stdout).toMatch(
      /<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/,
    );
    expect(stdout).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/);
    expect(stdout).toMatch(
      /<key>EnvironmentVariables<\/key>\s*<dict>\s*<key>BUN_CONFIG_MAX_HTTP_REQUESTS<\/key>\s*<string>65535<\/string>\s*<key>MIMALLOC_PURGE_HOLES<\/key>\s*<string>0<\/string>\s*<\/dict>/,
    );
    expect(stdout).toContain(`<string>${env.HOME}/Library/Logs/levity.log</string>`);
    expect(stdout).toStartWith(
      `# ${env.HOME}/Library/LaunchAgents/dev.levity.gateway.plist\n<?xml version="1.0" encoding="UTF-8"?>`,
    );
    const system = await runLevity(
      ["service", "print", "--os", "macos", "--system", "--config", config],
      { env },
    );
    expect(system.stdout.split("\n")[0]).toBe("# /Library/LaunchDaemons/dev.levity.gateway.plist");
    expect(system.stdout).toMatch(/<key>UserName<\/key>\s*<string>alice<\/string>/);
  });

  test("the config directory levity would use: ~/.config/levity from a checkout, whose own mappings.yaml and routes.yaml do not count", async () => {
    const { home, env } = sandbox();
    const defaultDir = join(home, ".config/levity");
    mkdirSync(defaultDir, { recursive: true });
    writeFileSync(join(defaultDir, "gateway.yaml"), "proxy:\n  port: 8045\n");
    const checkout = join(home, "levity-checkout");
    mkdirSync(checkout);
    for (const file of ["mappings.yaml", "routes.yaml"])
      writeFileSync(join(checkout, file), readFileSync(join(REPO, file)));
    const { code, stdout } = await runLevity(["service", "print", "--os", "linux"], {
      cwd: checkout,
      env,
    });
    expect(code).toBe(0);
    expect(stdout).toContain(`ExecStart=${BUN} ${MAIN} serve --config ${defaultDir}\n`);
    // A gateway.yaml in the current directory comes first, as it would for \`levity\` run there.
    writeFileSync(join(checkout, "gateway.yaml"), "proxy:\n  port: 8045\n");
    expect(
      (await runLevity(["service", "print", "--os", "linux"], { cwd: checkout, env })).stdout,
    ).toContain(`serve --config ${checkout}\n`);
  });

  test("wrong usage exits 2 with the reason", async () => {
    const { config, env } = sandbox();
    expect(await runLevity(["service", "--config", config], { env })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("install, uninstall or print"),
    });
    expect(
      await runLevity(["service", "print", "--user", "--system", "--config", config], { env }),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining("not both") });
    expect(
      await runLevity(["service", "print", "--os", "windows", "--config", config], { env }),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining("--os must be linux or macos") });
    expect(
      await runLevity(["service", "install", "--os", "macos", "--config", config], { env }),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining("only works with print") });
  });
});

describe("the environment the service files set", () => {
  /** The allocator's options as this Bun's mimalloc reports them at start (MIMALLOC_VERBOSE). */
  function allocatorOptions(env: Record<string, string>): string {
    const run = spawnSync(BUN, ["-e", "0"], {
      env: { PATH: process.env.PATH ?? "", ...env, MIMALLOC_VERBOSE: "1" },
      encoding: "utf8",
    });
    expect(run.status).toBe(0);
    return run.stderr;
  }

  // The setting is worth 14-25% of the CPU a request (BENCHMARKS.md): a Bun whose allocator
  // renamed or dropped the option would lose that without a word.
  test("this Bun's allocator takes MIMALLOC_PURGE_HOLES from it, and holds its holes back", () => {
    // Bun's default is to purge them (1 on Linux); what matters is that the option is there.
    expect(allocatorOptions({})).toMatch(/option 'purge_holes': \d/);
    const set = allocatorOptions({ ...SERVICE_ENVIRONMENT });
    expect(set).toContain("option 'purge_holes': 0");
    // Freed memory still goes back to the system, after mimalloc's own delay.
    expect(set).toMatch(/option 'purge_delay': [1-9]/);
  });
});

describe("levity service --template: one instance per port", () => {
  test("print: levity@.service, the port from the instance name, a data directory each", async () => {
    const { config, env } = sandbox();
    const { code, stdout } = await runLevity(
      ["service", "print", "--template", "--config", config],
      { env },
    );
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toBe(`# ${env.HOME}/.config/systemd/user/levity@.service`);
    expect(stdout).toContain(`ExecStart=${BUN} ${MAIN} serve --config ${config} --port %i\n`);
    // Its own data directory: the instances share the config directory, so not its data/.
    expect(stdout).toContain("StateDirectory=levity-%i\n");
    expect(stdout).toContain("Environment=LEVITY_DATA_DIR=%S/levity-%i\n");
    expect(stdout).toContain("Environment=BUN_CONFIG_MAX_HTTP_REQUESTS=65535\n");
    expect(stdout).toContain("Environment=MIMALLOC_PURGE_HOLES=0\n");
    expect(stdout).toContain("Environment=LEVITY_INSTANCE=%i\n");
    expect(stdout).toContain("Description=levity gateway on port %i:");
    expect(stdout).toContain("Restart=on-failure\n");
  });

  test("install writes it and reloads systemd, starting nothing; the instances are started by port", async () => {
    const { config, env, recorded, home } = sandbox();
    const installed = await runLevity(["service", "install", "--template", "--config", config], {
      env,
    });
    expect(installed.code).toBe(0);
    expect(existsSync(join(home, ".config/systemd/user/levity@.service"))).toBe(true);
    expect(recorded()).toEqual(["--user daemon-reload"]);
    expect(installed.stdout).toContain("systemctl --user enable --now levity@8045 levity@8046");
    // How to read a stopped instance's own request log, from its own state directory.
    expect(installed.stdout).toContain(
      `LEVITY_DATA_DIR=${home}/.local/state/levity-8045 levity logs --port 8045`,
    );
    const removed = await runLevity(["service", "uninstall", "--template", "--config", config], {
      env,
    });
    expect(removed.code).toBe(0);
    expect(recorded()).toEqual([
      "--user daemon-reload",
      "--user stop levity@*.service",
      "--user daemon-reload",
    ]);
  });

  test("macOS has no templates: exit 2 with the reason", async () => {
    const { config, env } = sandbox();
    const { code, stderr } = await runLevity(
      ["service", "print", "--template", "--os", "macos", "--config", config],
      { env },
    );
    expect(code).toBe(2);
    expect(stderr).toContain("--template is a systemd template unit, for Linux only");
  });
});

describe("levity service install and uninstall", () => {
  test("install writes the unit, reloads systemd and enables it now; uninstall undoes each step", async () => {
    const { config, env, recorded, home } = sandbox();
    const unitPath = join(home, ".config/systemd/user/levity.service");
    const installed = await runLevity(["service", "install", "--config", config], { env });
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain(`wrote ${unitPath}`);
    expect(installed.stdout).toContain("loginctl enable-linger alice");
    const printed = await runLevity(["service", "print", "--config", config], { env });
    expect(readFileSync(unitPath, "utf8")).toBe(printed.stdout.split("\n").slice(1).join("\n"));
    expect(recorded()).toEqual(["--user daemon-reload", "--user enable --now levity.service"]);

    const removed = await runLevity(["service", "uninstall", "--config", config], { env });
    expect(removed.code).toBe(0);
    expect(existsSync(unitPath)).toBe(false);
    expect(recorded()).toEqual([
      "--user daemon-reload",
      "--user enable --now levity.service",
      "--user disable --now levity.service",
      "--user daemon-reload",
    ]);

    const again = await runLevity(["service", "uninstall", "--config", config], { env });
    expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining("nothing to remove") });
  });

  test("a unit file levity cannot write: one line that says where and why, exit 1, no stack trace", async () => {
    const { config, env, home } = sandbox();
    // A file where the unit's directory should be: no user, root included, can create it.
    mkdirSync(join(home, ".config"), { recursive: true });
    writeFileSync(join(home, ".config/systemd"), "not a directory");
    const result = await runLevity(["service", "install", "--config", config], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^levity service: cannot write ${home}/\\.config/systemd/user/levity\\.service \\((ENOTDIR|EEXIST)\\)\n$`,
      ),
    );
  });

  test("a systemctl that fails: the unit stays written, the failure and its words are shown, exit 1", async () => {
    const { config, env, home } = sandbox();
    const result = await runLevity(["service", "install", "--config", config], {
      env: { ...env, FAIL_SYSTEMCTL: "1" },
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("$ systemctl --user daemon-reload  (failed, exit 1)");
    expect(result.stderr).toContain("Failed to connect to bus");
    expect(existsSync(join(home, ".config/systemd/user/levity.service"))).toBe(true);
  });
});
