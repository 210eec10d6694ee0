import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { defaultConfigDir } from "../config/locate.ts";
import { VERSION } from "../version.ts";
import { chooseConfigDir, CliExit, type CliIO, type CommonFlags } from "./context.ts";
import { commandLine, invocation, isCompiled, shellWord } from "./invocation.ts";

/*
 * `levity service install|uninstall|print [--user|--system]`: a systemd unit on Linux, a launchd
 * plist on macOS, that runs this very levity with the chosen config directory and restarts it
 * when it fails. --user (the default) needs no root and runs as you; --system starts at boot.
 */

export type ServiceOs = "linux" | "macos";

export interface ServiceFlags extends CommonFlags {
  system?: boolean;
  user?: boolean;
  /** Print the file for another OS than this one. */
  os?: string;
  /** systemd only: the template unit levity@.service, one instance per port (levity@8045, levity@8046…). */
  template?: boolean;
}

export interface ServicePlan {
  os: ServiceOs;
  scope: "user" | "system";
  /** Where the file goes. */
  path: string;
  content: string;
  /** What install runs after writing the file, and uninstall before removing it. */
  activate: string[][];
  deactivate: string[][];
  /** Said after install. */
  notes: string[];
}

const UNIT_NAME = "levity.service";
const TEMPLATE_NAME = "levity@.service";
/**
 * What the runtime reads from the environment before any of levity's code runs, so levity cannot
 * set it for itself: the service files set it.
 * - BUN_CONFIG_MAX_HTTP_REQUESTS: upstream requests Bun's fetch may run at once (its default, 256,
 *   would queue the 257th open stream).
 * - MIMALLOC_PURGE_HOLES: Bun's allocator otherwise hands the free holes inside its pages back to
 *   the system every 100 ms, and a busy gateway faults them in again at once; turned off, levity
 *   spent 14-25% less CPU a request and served 9% more at c=64, and freed memory still goes back
 *   after mimalloc's own purge delay. Its price is memory: after twelve 8 MB requests RSS peaked
 *   at 356 MB against 191 MB, and 10 s later held 94 MB against 80 (BENCHMARKS.md, issue 20,
 *   nineteenth session). systemd reads levity.env over these, so a line there overrides either.
 */
export const SERVICE_ENVIRONMENT: Readonly<Record<string, string>> = {
  BUN_CONFIG_MAX_HTTP_REQUESTS: "65535",
  MIMALLOC_PURGE_HOLES: "0",
};
/** The service environment as `NAME=value` words, for a user who runs levity some other way. */
function serviceEnvironmentWords(): string {
  return Object.entries(SERVICE_ENVIRONMENT)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ");
}
const LAUNCHD_LABEL = "dev.levity.gateway";
/** levity drains requests in flight for up to 60 s on SIGTERM; the service manager waits a little longer. */
const STOP_TIMEOUT_SECONDS = 70;

/** The command that starts this levity: the compiled binary itself, or Bun with the entry script. */
export function serveCommandLine(configDir: string): string[] {
  return isCompiled()
    ? [process.execPath, "serve", "--config", configDir]
    : [process.execPath, resolve(Bun.main), "serve", "--config", configDir];
}

/** systemd splits ExecStart like a shell but expands % and $: quote every word and escape those. */
function systemdWord(word: string): string {
  const escaped = word
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/%/g, "%%")
    .replace(/\$/g, "$$$$");
  return /[\s"'\\]/.test(word) || escaped !== word ? `"${escaped}"` : word;
}

function xml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

export function systemdUnit(
  command: string[],
  configDir: string,
  scope: "user" | "system",
  user: string,
  template = false,
): string {
  const flags = `${scope === "system" ? " --system" : ""}${template ? " --template" : ""}`;
  const lines = [
    `# Written by \`levity service install${flags}\` (levity ${VERSION}); \`levity service uninstall${flags}\` removes it.`,
    ...(template
      ? [
          `# One instance per port: systemctl${scope === "user" ? " --user" : ""} enable --now levity@8045 levity@8046 (the instance name is`,
          "# the port). Each has its own data directory; share state with state: and the request log",
          "# with proxy.request_log in gateway.yaml (README: Many instances).",
        ]
      : []),
    "[Unit]",
    `Description=levity gateway${template ? " on port %i" : ""}: one local endpoint for OpenAI, Anthropic and Gemini clients`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    // %i is the instance's port: written after the escaped words, as systemd must expand it.
    `ExecStart=${command.map(systemdWord).join(" ")}${template ? " --port %i" : ""}`,
    `WorkingDirectory=${systemdWord(configDir)}`,
    // Each instance keeps its own SQLite files: the instances share one config directory, whose
    // data/ would otherwise be every instance's. systemd makes the state directory (%S: /var/lib, or
    // ~/.local/state for a user unit), owned by the unit's user. LEVITY_INSTANCE names the instance
    // for a data_dir or a label written with \${LEVITY_INSTANCE}.
    ...(template
      ? [
          "StateDirectory=levity-%i",
          "Environment=LEVITY_DATA_DIR=%S/levity-%i",
          "Environment=LEVITY_INSTANCE=%i",
        ]
      : []),
    // Keys written as ${NAME} in gateway.yaml come from here: a service does not see your shell's variables.
    `EnvironmentFile=-${systemdWord(join(configDir, "levity.env"))}`,
    ...Object.entries(SERVICE_ENVIRONMENT).map(([name, value]) => `Environment=${name}=${value}`),
    "Restart=on-failure",
    "RestartSec=2",
    `TimeoutStopSec=${STOP_TIMEOUT_SECONDS}`,
    ...(scope === "system" ? [`User=${user}`, "NoNewPrivileges=true"] : []),
    "",
    "[Install]",
    `WantedBy=${scope === "system" ? "multi-user.target" : "default.target"}`,
    "",
  ];
  return lines.join("\n");
}

export function launchdPlist(
  command: string[],
  configDir: string,
  scope: "user" | "system",
  user: string,
  logFile: string,
): string {
  const strings = (values: string[]) =>
    values.map((v) => `    <string>${xml(v)}</string>`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`levity service install${scope === "system" ? " --system" : ""}\` (levity ${xml(VERSION)}); \`levity service uninstall\` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${strings(command)}
  </array>
  <key>WorkingDirectory</key>
  <string>${xml(configDir)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>EnvironmentVariables</key>
  <dict>
${Object.entries(SERVICE_ENVIRONMENT)
  .map(([name, value]) => `    <key>${name}</key>\n    <string>${value}</string>`)
  .join("\n")}
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>ExitTimeOut</key>
  <integer>${STOP_TIMEOUT_SECONDS}</integer>
  <key>StandardOutPath</key>
  <string>${xml(logFile)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(logFile)}</string>
${scope === "system" ? `  <key>UserName</key>\n  <string>${xml(user)}</string>\n` : ""}</dict>
</plist>
`;
}

function thisOs(): ServiceOs | undefined {
  if (process.platform === "linux") return "linux";
  if (process.platform === "darwin") return "macos";
  return undefined;
}

/**
 * Who asked for the service: $SUDO_USER under sudo, then $USER and $LOGNAME, then this uid's name
 * in /etc/passwd. Not os.userInfo(): under Bun it reads only $USER and says "unknown" without it
 * (as under cron or `docker exec`), and a unit with User=unknown never starts.
 */
function serviceUser(env: CliIO["env"], uid: number): string | undefined {
  const named = env.SUDO_USER || env.USER || env.LOGNAME;
  if (named) return named;
  let passwd = "";
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  return nameOfUid(passwd, uid);
}

/** The login name of `uid` in an /etc/passwd text (name:password:uid:gid:...), if it is there. */
export function nameOfUid(passwd: string, uid: number): string | undefined {
  if (!Number.isInteger(uid) || uid < 0) return undefined;
  for (const line of passwd.split("\n")) {
    const [name, , id] = line.split(":", 3);
    // "#" comments, and NIS's "+name"/"-name" lines, which are not an account of their own.
    if (name && /^[^#+\-\s]/.test(name) && id === String(uid)) return name;
  }
  return undefined;
}

/**
 * A name systemd's User= and launchd's UserName take as written: a user name as useradd makes
 * them. Anything else (a % systemd would expand, a newline that would start another directive) is
 * refused rather than written into a unit.
 */
export function isPlainUserName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/.test(name);
}

export function planService(flags: ServiceFlags, io: CliIO, configDir: string): ServicePlan {
  if (flags.user && flags.system) {
    io.err("levity service: choose --user or --system, not both\n");
    throw new CliExit(2);
  }
  const os =
    flags.os === undefined
      ? thisOs()
      : flags.os === "linux" || flags.os === "macos"
        ? flags.os
        : undefined;
  if (!os) {
    io.err(
      flags.os !== undefined
        ? `levity service: --os must be linux or macos, not "${flags.os}"\n`
        : `levity service: ${process.platform} has neither systemd nor launchd; run \`levity serve\` under your own service manager (on Windows: a scheduled task or NSSM), with ${serviceEnvironmentWords()} in its environment\n`,
    );
    throw new CliExit(2);
  }
  const scope = flags.system ? "system" : "user";
  if (flags.template && os !== "linux") {
    io.err("levity service: --template is a systemd template unit, for Linux only\n");
    throw new CliExit(2);
  }
  const home = io.home ?? (io.env.HOME || homedir());
  // Under sudo the service should still run as the person who asked for it, not as root.
  const ownUid = typeof process.getuid === "function" ? process.getuid() : undefined;
  const user = serviceUser(io.env, ownUid ?? -1);
  if (user === undefined && scope === "system") {
    io.err(
      "levity service: cannot tell which user the service should run as (no $SUDO_USER, $USER or $LOGNAME, and this uid is not in /etc/passwd); run it again with USER=name\n",
    );
    throw new CliExit(2);
  }
  if (user !== undefined && !isPlainUserName(user)) {
    io.err(
      `levity service: ${JSON.stringify(user.slice(0, 64))} is not a user name a service can run as; run it again with USER=name\n`,
    );
    throw new CliExit(2);
  }
  const command = serveCommandLine(configDir);
  const uid = ownUid ?? 0;
  if (os === "linux") {
    const unit = flags.template ? TEMPLATE_NAME : UNIT_NAME;
    const path =
      scope === "system"
        ? join("/etc/systemd/system", unit)
        : join(io.env.XDG_CONFIG_HOME || join(home, ".config"), "systemd", "user", unit);
    const ctl = scope === "system" ? ["systemctl"] : ["systemctl", "--user"];
    return {
      os,
      scope,
      path,
      content: systemdUnit(command, configDir, scope, user ?? "", flags.template),
      // A template starts nothing by itself: its instances are named by their ports.
      activate: flags.template
        ? [[...ctl, "daemon-reload"]]
        : [
            [...ctl, "daemon-reload"],
            [...ctl, "enable", "--now", UNIT_NAME],
          ],
      // Instances are enabled by name, so stopping them is what a template's removal can do.
      deactivate: flags.template
        ? [[...ctl, "stop", "levity@*.service"]]
        : [[...ctl, "disable", "--now", UNIT_NAME]],
      notes: [
        ...(flags.template
          ? [
              `start instances, one per port: ${ctl.join(" ")} enable --now levity@8045 levity@8046`,
              "put a load balancer in front of them (README: Running several instances)",
              // levity logs and levity usage read an instance's own log file when it does not answer.
              `an instance's request log while it is stopped: LEVITY_DATA_DIR=${scope === "system" ? "/var/lib" : io.env.XDG_STATE_HOME || join(home, ".local", "state")}/levity-8045 levity logs --port 8045`,
              "do not set LEVITY_DATA_DIR in levity.env: it would give every instance the same data directory",
            ]
          : []),
        `logs: journalctl ${scope === "user" ? "--user " : ""}-u ${flags.template ? "'levity@*'" : "levity"} -f`,
        ...(scope === "user"
          ? [
              // Without a name, loginctl applies it to whoever runs it.
              `to keep it running after you log out: loginctl enable-linger${user ? ` ${user}` : ""}`,
            ]
          : []),
        `keys written as \${NAME} in gateway.yaml: put NAME=value lines in ${join(configDir, "levity.env")} (mode 600)`,
      ],
    };
  }
  const path =
    scope === "system"
      ? join("/Library/LaunchDaemons", `${LAUNCHD_LABEL}.plist`)
      : join(home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  const logFile =
    scope === "system" ? "/Library/Logs/levity.log" : join(home, "Library", "Logs", "levity.log");
  const domain = scope === "system" ? "system" : `gui/${uid}`;
  return {
    os,
    scope,
    path,
    content: launchdPlist(command, configDir, scope, user ?? "", logFile),
    activate: [["launchctl", "bootstrap", domain, path]],
    deactivate: [["launchctl", "bootout", domain, path]],
    notes: [
      `logs: tail -f ${logFile}`,
      "keys written as ${NAME} in gateway.yaml: write them into the file itself, or add them to the plist's EnvironmentVariables dict (levity service install writes the file anew)",
    ],
  };
}

function run(argv: string[], io: CliIO, mustSucceed: boolean): boolean {
  const result = spawnSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    env: io.env as NodeJS.ProcessEnv,
  });
  const ok = result.status === 0;
  io.out(
    `$ ${argv.join(" ")}${ok ? "" : `  (failed${result.error ? `: ${result.error.message}` : `, exit ${result.status}`})`}\n`,
  );
  if (!ok && result.stderr) io.err(result.stderr);
  if (!ok && mustSucceed) throw new CliExit(1);
  return ok;
}

export function serviceCommand(action: string | undefined, flags: ServiceFlags, io: CliIO): void {
  if (action !== "install" && action !== "uninstall" && action !== "print") {
    io.err(`levity service: say install, uninstall or print${action ? `, not "${action}"` : ""}\n`);
    throw new CliExit(2);
  }
  // The service always runs with an explicit directory, so it does not depend on its working
  // directory or a variable: the one levity would use now (see locate.ts), else the default
  // location, where `levity init` writes.
  const choice = chooseConfigDir(flags, io);
  const configDir = resolve(
    choice.dir ?? defaultConfigDir(io.env, io.home ?? (io.env.HOME || homedir())),
  );
  const plan = planService(flags, io, configDir);
  if (action === "print") {
    io.out(`# ${plan.path}\n${plan.content}`);
    return;
  }
  if (flags.os !== undefined && flags.os !== thisOs()) {
    io.err(
      `levity service: --os only works with print; install on the ${flags.os} machine itself\n`,
    );
    throw new CliExit(2);
  }
  if (action === "install") {
    if (!existsSync(configDir)) {
      mkdirSync(configDir, { recursive: true });
      const how = invocation({ cwd: io.cwd, env: io.env });
      const init = `${how.cd ? `cd ${shellWord(how.cd)} && ` : ""}${commandLine(how, "init", [shellWord(configDir)])}`;
      io.out(
        `created ${configDir} (empty: the built-in defaults serve; \`${init}\` writes starter files)\n`,
      );
    }
    // Replacing a loaded service: stop the old one first, or launchd refuses to bootstrap it again.
    if (existsSync(plan.path) && plan.os === "macos")
      for (const argv of plan.deactivate) run(argv, io, false);
    try {
      mkdirSync(dirname(plan.path), { recursive: true });
      writeFileSync(plan.path, plan.content, { mode: 0o644 });
    } catch (error) {
      const code = (error as { code?: string }).code;
      io.err(
        `levity service: cannot write ${plan.path} (${code ?? (error as Error).message})${code === "EACCES" || code === "EPERM" ? `; ${plan.scope === "system" ? "--system needs root: run it with sudo" : "check the directory's permissions"}` : ""}\n`,
      );
      throw new CliExit(1);
    }
    io.out(`wrote ${plan.path}\n`);
    for (const argv of plan.activate) run(argv, io, true);
    io.out(
      `levity runs as a ${plan.scope} service with ${configDir}\n${plan.notes.map((n) => `  ${n}\n`).join("")}`,
    );
    return;
  }
  if (!existsSync(plan.path)) {
    io.out(`no levity service at ${plan.path}; nothing to remove\n`);
    return;
  }
  for (const argv of plan.deactivate) run(argv, io, false);
  try {
    rmSync(plan.path);
  } catch (error) {
    io.err(
      `levity service: cannot remove ${plan.path} (${(error as { code?: string }).code ?? (error as Error).message})${plan.scope === "system" ? "; --system needs root: run it with sudo" : ""}\n`,
    );
    throw new CliExit(1);
  }
  io.out(`removed ${plan.path}\n`);
  if (plan.os === "linux")
    run(
      [...(plan.scope === "system" ? ["systemctl"] : ["systemctl", "--user"]), "daemon-reload"],
      io,
      false,
    );
}
