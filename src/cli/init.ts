import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { BUILT_IN_MAPPINGS } from "../config/defaults.ts";
import { defaultConfigDir, locateConfigDir, tildify } from "../config/locate.ts";
import type { CliIO } from "./context.ts";
import { newSecret } from "../keys/secret.ts";
import { commandLine, invocation, serveLine, shellWord, type Invocation } from "./invocation.ts";

/** A client key for gateway.yaml: the same form as the keys `levity keys add` makes. */
export function generateClientKey(): string {
  return newSecret();
}

/** The admin key is its own: a client key never opens the admin surface (logs, accounts). */
export function generateAdminKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `sk-levity-admin-${Buffer.from(bytes).toString("base64url")}`;
}

function starterGateway(key: string, adminKey: string): string {
  return `# levity gateway configuration. Every key is described in gateway.example.yaml.
# \${NAME} is read from the environment, so keys need not be written here.

proxy:
  port: 8045
  allow_lan_access: false      # true: listen on every interface (then auth turns on)
  auth_mode: auto              # off | strict | all_except_health | auto
  api_key: ${key}
  admin_key: ${adminKey}    # for levity accounts, levity logs, the monitor page; never a client key
  request_timeout: 300         # seconds an upstream may take to start answering
  max_body_mb: 32

upstreams:
  # The built-in echo upstream answers with your last message, so every client can be tried
  # before an account is added. Put a real upstream first to make it the default.
  - name: echo
    protocol: echo

  # - name: openai
  #   protocol: openai
  #   base_url: https://api.openai.com/v1
  #   accounts:
  #     - { name: work, key: "\${OPENAI_API_KEY}" }
  #
  # - name: anthropic
  #   protocol: anthropic
  #   base_url: https://api.anthropic.com
  #   accounts:
  #     - { name: work, key: "\${ANTHROPIC_API_KEY}" }
  #
  # - name: gemini
  #   protocol: gemini
  #   base_url: https://generativelanguage.googleapis.com
  #   accounts:
  #     - { name: alice@example.com, key: "\${GEMINI_API_KEY}" }
`;
}

/** `levity init [DIR]`: starter files with a fresh client key and admin key. Never overwrites. */
export function initCommand(
  dirArg: string | undefined,
  io: CliIO,
  how: Invocation = invocation({ cwd: io.cwd, env: io.env }),
): void {
  const home = io.home ?? (io.env.HOME || homedir());
  const fromEnv = !dirArg && Boolean(io.env.LEVITY_CONFIG_DIR);
  const dir = dirArg
    ? resolve(io.cwd, dirArg)
    : fromEnv
      ? resolve(io.cwd, io.env.LEVITY_CONFIG_DIR!)
      : defaultConfigDir(io.env, home);
  mkdirSync(dir, { recursive: true });
  const files: [string, string, number][] = [
    ["gateway.yaml", starterGateway(generateClientKey(), generateAdminKey()), 0o600],
    ["mappings.yaml", BUILT_IN_MAPPINGS, 0o644],
  ];
  const shown = (path: string) => tildify(path, home);
  let keptGateway = false;
  for (const [name, text, mode] of files) {
    const path = join(dir, name);
    if (existsSync(path)) {
      io.out(`kept    ${shown(path)} (it exists; levity init never overwrites)\n`);
      keptGateway ||= name === "gateway.yaml";
      continue;
    }
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
    io.out(`wrote   ${shown(path)}\n`);
  }
  const gatewayPath = shown(join(dir, "gateway.yaml"));
  const steps = nextSteps(dir, how, io, home)
    .map((line) => `  ${line}\n`)
    .join("");
  // A gateway.yaml that was there already has its own keys and accounts, whatever they are: the
  // starter's words about them would not be true of it.
  if (keptGateway) io.out(`\nYour gateway.yaml is as it was. To check and serve it, run\n${steps}`);
  else {
    io.out(
      `\nThe client key is proxy.api_key and the admin key proxy.admin_key in ${gatewayPath} (readable by you only).\n`,
    );
    io.out(`Next: add upstream accounts to ${gatewayPath}, then run\n${steps}`);
  }
  if (fromEnv)
    io.out(
      "(levity finds these files while $LEVITY_CONFIG_DIR is set to this directory; without it, add --config DIR)\n",
    );
}

/**
 * `check` and serve, written so they run as printed: from where they have to be run, and with
 * --config when the lookup from there would not find this directory (a DIR that is not the
 * default location, or a current directory whose own gateway.yaml would come first).
 */
export function nextSteps(dir: string, how: Invocation, io: CliIO, home: string): string[] {
  const runFrom = how.cd ?? io.cwd;
  const found = locateConfigDir({ env: io.env, cwd: runFrom, home }).dir;
  const flags =
    found !== undefined && resolve(found) === resolve(dir)
      ? []
      : ["--config", shellWord(tildify(dir, home))];
  return [
    ...(how.cd ? [`cd ${shellWord(tildify(how.cd, home))}`] : []),
    commandLine(how, "check", flags),
    serveLine(how, flags),
  ];
}
