#!/usr/bin/env bun
import { parseArgs } from "node:util";
import { accountsCommand } from "./cli/accounts.ts";
import { CliExit, type CliIO, type CommonFlags } from "./cli/context.ts";
import { initCommand } from "./cli/init.ts";
import { KEYS_OPTIONS, keysCommand } from "./cli/keys.ts";
import { isCompiled } from "./cli/invocation.ts";
import { logsCommand } from "./cli/logs.ts";
import { replayCommand } from "./cli/replay.ts";
import { usageCommand } from "./cli/usage.ts";
import { serviceCommand } from "./cli/service.ts";
import { checkCommand, resolveCommand, routesCommand } from "./cli/inspect.ts";
import { serveCommand } from "./cli/serve.ts";
import { VERSION } from "./version.ts";

const USAGE = `levity ${VERSION}: one local endpoint for OpenAI, Anthropic and Gemini clients.

Usage:${isCompiled() ? "" : "\n  (in this checkout: npx bun src/main.ts COMMAND for levity COMMAND, npm start to serve)"}
  levity [serve]          serve the gateway (default)
  levity check            validate gateway.yaml, mappings.yaml and routes.yaml, and say
                          which directory they come from
  levity routes           print every path, its dialect, auth and aliases
  levity resolve MODEL    show which mapping rule a model name hits and its target
  levity init [DIR]       write starter config files with fresh client and admin keys
  levity accounts         each upstream account's state in the running gateway: healthy,
                          cooling (until when), disabled (why), in flight, requests, tokens
  levity accounts reset [UPSTREAM[/ACCOUNT]]
                          clear cooldowns and disables (all accounts, one upstream's, or one)
  levity accounts enable|disable UPSTREAM[/ACCOUNT]
                          take an account out of rotation, or put it back
  levity logs             recent requests from the running gateway's request log
  levity replay REQUEST_ID [--to UPSTREAM/MODEL | --account UPSTREAM/ACCOUNT] [--dry-run] [--diff]
                          send a logged request again through the running gateway (bodies
                          logged with request_log.log_bodies); --dry-run prints the upstream
                          request without sending it, --diff sets the original's beside it
  levity usage            requests, tokens and cost per key, model, upstream or account
  levity keys add NAME [LIMITS]
                          make a client key; its secret is printed this once
  levity keys list        every client key: source, status, limits, use now, today, this month
  levity keys show NAME   one key's limits and what it has used
  levity keys update NAME [LIMITS] [--no-LIMIT…]
                          change a key's limits (--no-rpm removes that limit)
  levity keys revoke NAME refuse the key from now on (it stays listed)
  levity service install|uninstall|print [--user|--system] [--template]
                          run levity as a systemd (Linux) or launchd (macOS) service;
                          --template: levity@.service, one instance per port
  levity --version

Options:
  --config DIR   the config directory (see Files)
  --port N       serve: listen on N instead of proxy.port; accounts, logs, replay, usage, keys: the port to ask
  --url URL      accounts, logs, replay, usage, keys: ask the gateway at URL, e.g. on another machine
                 (admin key: $LEVITY_ADMIN_KEY, else proxy.admin_key; never a client key)
  --json         accounts, logs, replay, usage, keys: print the raw JSON
  keys LIMITS:   --models GLOB (repeat for more)  --rpm N  --tpm N  --concurrency N
                 --daily-tokens N  --monthly-usd N  --expires 2026-12-31|TIME|30d
                 --ips CIDR (repeat for more); update: --no-models, --no-rpm, ... remove one
  logs:  --model NAME|GLOB  --account [UPSTREAM/]NAME  --status 429|4xx|5xx|error|ok
         --since 15m|2h|7d|TIME  -n, --limit N (default 50)  -f, --follow
  replay: --to UPSTREAM/MODEL (past the mapping)  --account UPSTREAM/ACCOUNT (that account only)
          --dry-run  --diff  --json
  usage: --by key|model|upstream|account (default model)  --since 15m|2h|7d|TIME (default 30d)
  service: --user (default: runs as you, no root) or --system (at boot; needs root)
           --os linux|macos (print only: the file for another machine)

Files:
  The config directory is the first of: --config DIR; $LEVITY_CONFIG_DIR; the current
  directory, if it holds gateway.yaml; ~/.config/levity ($XDG_CONFIG_HOME/levity), if it
  holds gateway.yaml, mappings.yaml or routes.yaml. Without one, the built-in defaults serve.
  Files missing from it (mappings.yaml, routes.yaml) are the built-in ones.
  State (cooldowns, the request log) goes to DIR/data, or without a config directory to
  ~/.local/share/levity ($XDG_DATA_HOME/levity); $LEVITY_DATA_DIR chooses another, and
  proxy.data_dir over both.
  The start-up block and \`levity check\` say which directory and files are used, and why.
`;

/** The command line's flags and words; throws on a flag levity does not know. */
function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      port: { type: "string" },
      url: { type: "string" },
      json: { type: "boolean" },
      model: { type: "string" },
      account: { type: "string" },
      status: { type: "string" },
      since: { type: "string" },
      by: { type: "string" },
      limit: { type: "string", short: "n" },
      follow: { type: "boolean", short: "f" },
      to: { type: "string" },
      "dry-run": { type: "boolean" },
      diff: { type: "boolean" },
      user: { type: "boolean" },
      system: { type: "boolean" },
      os: { type: "string" },
      template: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      ...KEYS_OPTIONS,
    },
  });
}

/** node:util's words for a flag it refused, without its advice on positionals that start with "-". */
export function commandLineProblem(error: Error & { code?: string }): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  if (unknown) return `unknown option ${unknown[1]}`;
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(error.message);
  if (missing) return `${missing[1]} needs a value`;
  return error.message;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    io.err(
      `levity: ${commandLineProblem(error as Error)}; \`levity --help\` lists the commands and their options.\n`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(`levity ${VERSION}\n`);
    return 0;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const flags: CommonFlags = { config: values.config };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      io.err(`levity: --port must be a whole number from 0 to 65535, not "${values.port}"\n`);
      return 2;
    }
    flags.port = port;
  }
  const [command = "serve", ...rest] = positionals;
  try {
    switch (command) {
      case "serve":
        await serveCommand(flags, io);
        return 0;
      case "check":
        checkCommand(flags, io);
        return 0;
      case "routes":
        routesCommand(flags, io);
        return 0;
      case "resolve":
        resolveCommand(rest[0], flags, io);
        return 0;
      case "init":
        initCommand(rest[0], io);
        return 0;
      case "accounts":
        await accountsCommand(rest, { ...flags, url: values.url, json: values.json }, io);
        return 0;
      case "keys":
        await keysCommand(
          rest,
          {
            ...flags,
            url: values.url,
            json: values.json,
            values: values as Record<string, unknown>,
          },
          io,
        );
        return 0;
      case "logs": {
        const stop = new AbortController();
        process.once("SIGINT", () => stop.abort());
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        await logsCommand(
          {
            ...flags,
            url: values.url,
            json: values.json,
            model: values.model,
            account: values.account,
            status: values.status,
            since: values.since,
            limit,
            follow: values.follow,
          },
          io,
          stop.signal,
        );
        return 0;
      }
      case "replay":
        await replayCommand(
          rest[0],
          {
            ...flags,
            url: values.url,
            json: values.json,
            to: values.to,
            account: values.account,
            dryRun: values["dry-run"],
            diff: values.diff,
          },
          io,
        );
        return 0;
      case "usage":
        await usageCommand(
          { ...flags, url: values.url, json: values.json, by: values.by, since: values.since },
          io,
        );
        return 0;
      case "service":
        serviceCommand(
          rest[0],
          {
            ...flags,
            user: values.user,
            system: values.system,
            os: values.os,
            template: values.template,
          },
          io,
        );
        return 0;
      default:
        io.err(`levity: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof CliExit) return error.code;
    throw error;
  }
}

if (import.meta.main) {
  // The last write, settled once it has reached the pipe: writes go out in order, so then all have.
  let written: Promise<void> = Promise.resolve();
  const code = await main(process.argv.slice(2), {
    out: (text) => {
      written = new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
    },
    err: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  });
  // What is still queued for a pipe (`levity logs --json | jq` with a slow reader) must reach it:
  // exiting at once would cut the output mid-record.
  await written;
  process.exit(code);
}
