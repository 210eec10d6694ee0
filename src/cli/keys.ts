import { tableLines } from "./table.ts";
import { adminFor, callAdmin, type Admin, type AdminFlags } from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";

/*
 * `levity keys`: client keys made, listed, changed and revoked through the running gateway's
 * admin API, so no one edits gateway.yaml to give a colleague a key. The secret is printed once,
 * by `add`; every other command names a key by its name.
 */

/** A key as GET /levity/keys answers it (src/operations/admin-keys.ts). */
export interface KeyAnswer {
  name: string;
  source: "levity" | "gateway.yaml";
  status: "active" | "revoked" | "expired";
  created_at: string;
  revoked_at?: string;
  limits: Record<string, unknown>;
  usage: {
    requests_last_minute: number;
    tokens_last_minute: number;
    in_flight: number;
    tokens_today: number;
    usd_this_month: number;
    day_resets_at: string;
    month_resets_at: string;
  };
}

/** Each limit's flag and its field in the admin API: --daily-tokens is daily_tokens. */
const LIMIT_FLAGS = [
  ["models", "models", "list"],
  ["rpm", "rpm", "count"],
  ["tpm", "tpm", "count"],
  ["concurrency", "concurrency", "count"],
  ["daily-tokens", "daily_tokens", "count"],
  ["monthly-usd", "monthly_usd", "count"],
  ["expires", "expires", "text"],
  ["ips", "ips", "list"],
] as const;

type LimitFlag = (typeof LIMIT_FLAGS)[number][0];

/** The options `levity keys` adds to the command line: each limit, and --no-LIMIT to remove it. */
export const KEYS_OPTIONS = Object.fromEntries(
  LIMIT_FLAGS.flatMap(([flag, , kind]) => [
    [flag, kind === "list" ? { type: "string", multiple: true } : { type: "string" }],
    [`no-${flag}`, { type: "boolean" }],
  ]),
) as {
  [F in LimitFlag]: F extends "models" | "ips"
    ? { type: "string"; multiple: true }
    : { type: "string" };
} & { [F in LimitFlag as `no-${F}`]: { type: "boolean" } };

export interface KeysFlags extends AdminFlags {
  json?: boolean;
  /** The parsed command line's values: the limit flags are read from it by name. */
  values: Record<string, unknown>;
}

/** The limits the flags set (and, for update, remove with --no-LIMIT), as the admin API's JSON. */
export function limitsOfFlags(
  values: Record<string, unknown>,
  allowRemoval: boolean,
  io: CliIO,
  action: string,
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [flag, field, kind] of LIMIT_FLAGS) {
    const given = values[flag];
    const removed = values[`no-${flag}`] === true;
    if (removed && given !== undefined) {
      io.err(`levity keys ${action}: --${flag} and --no-${flag} say opposite things; give one\n`);
      throw new CliExit(2);
    }
    if (removed) {
      if (!allowRemoval) {
        io.err(
          `levity keys ${action}: --no-${flag} removes a limit from a key that has one; use it with levity keys update\n`,
        );
        throw new CliExit(2);
      }
      body[field] = null;
    } else if (given !== undefined) {
      // A number that does not read as one is sent as written: the gateway's answer names the field.
      if (kind === "count") {
        const number = Number(given);
        body[field] = given !== "" && Number.isFinite(number) ? number : given;
      } else if (kind === "list") {
        // Repeated, never split on commas: a glob may hold braces such as gpt-{4o,4.1}.
        body[field] = given;
      } else body[field] = given;
    }
  }
  return body;
}

function usdText(usd: number): string {
  return `$${usd < 100 ? usd.toFixed(2) : Math.round(usd).toLocaleString("en-US")}`;
}

/**
 * A key that expires at a midnight UTC works through the day before: that day is what was typed
 * (--expires 2026-12-31 means through the 31st), and giving it again keeps the same expiry.
 */
export function expiryText(iso: string): string {
  return iso.endsWith("T00:00:00.000Z")
    ? new Date(Date.parse(iso) - 86_400_000).toISOString().slice(0, 10)
    : iso;
}

/** A key's limits in one short line: "models=gpt-*,o3 rpm=60 expires=2026-12-31". */
export function limitsText(limits: Record<string, unknown>): string {
  const parts = Object.entries(limits).map(([name, value]) => {
    if (Array.isArray(value)) return `${name}=${value.join(",")}`;
    if (name === "monthly_usd") return `${name}=${usdText(value as number)}`;
    if (name === "expires") return `${name}=${expiryText(String(value))}`;
    return `${name}=${value}`;
  });
  return parts.length > 0 ? parts.join(" ") : "none";
}

export function formatKeys(keys: KeyAnswer[]): string {
  if (keys.length === 0)
    return "No client keys: make one with levity keys add NAME (or add api_keys to gateway.yaml).\n";
  const header = ["NAME", "SOURCE", "STATUS", "LIMITS", "REQ/MIN", "TOKENS TODAY", "$ MONTH"];
  const rows = keys.map((k) => [
    k.name,
    k.source,
    k.status,
    limitsText(k.limits),
    String(k.usage.requests_last_minute),
    String(k.usage.tokens_today),
    usdText(k.usage.usd_this_month),
  ]);
  return `${tableLines(header, rows).join("\n")}\n`;
}

export function formatKey(k: KeyAnswer): string {
  const lines: [string, string][] = [
    ["name", k.name],
    ["source", k.source],
    ["status", k.status],
    ["created", k.created_at],
  ];
  if (k.revoked_at) lines.push(["revoked", k.revoked_at]);
  lines.push(["limits", limitsText(k.limits)]);
  const u = k.usage;
  lines.push(
    ["last minute", `${u.requests_last_minute} requests, ${u.tokens_last_minute} tokens`],
    ["in flight", String(u.in_flight)],
    ["today", `${u.tokens_today} tokens (resets ${u.day_resets_at})`],
    ["this month", `${usdText(u.usd_this_month)} (resets ${u.month_resets_at})`],
  );
  const width = Math.max(...lines.map(([label]) => label.length));
  return `${lines.map(([label, value]) => `${`${label}:`.padEnd(width + 1)} ${value}`).join("\n")}\n`;
}

const USAGE =
  "levity keys add NAME [--models GLOB…] [--rpm N] [--tpm N] [--concurrency N] [--daily-tokens N] [--monthly-usd N] [--expires DATE] [--ips CIDR…] | list | show NAME | update NAME [the same flags, --no-LIMIT to remove one] | revoke NAME";

function requireName(action: string, name: string | undefined, io: CliIO): string {
  if (!name) {
    io.err(`levity keys ${action}: name the key, as levity keys list shows it\n  ${USAGE}\n`);
    throw new CliExit(2);
  }
  return name;
}

const keyPath = (name: string) => `/levity/keys/${encodeURIComponent(name)}`;

async function addKey(admin: Admin, name: string, flags: KeysFlags, io: CliIO): Promise<void> {
  const body = { name, ...limitsOfFlags(flags.values, false, io, "add") };
  const made = (await callAdmin(admin, "POST", "/levity/keys", io, body)) as {
    key: KeyAnswer;
    secret: string;
  };
  const status = (await callAdmin(admin, "GET", "/levity/status", io)) as { auth?: string };
  if (flags.json) io.out(`${JSON.stringify(made, null, 2)}\n`);
  else
    io.out(
      `Made the key "${made.key.name}" (limits: ${limitsText(made.key.limits)}). Its secret:\n\n` +
        `  ${made.secret}\n\n` +
        "It is shown this once and will not be shown again: levity keeps only its SHA-256. " +
        `A client sends it to ${admin.origin} as Authorization: Bearer <secret> ` +
        "(or in x-api-key, x-goog-api-key), wherever it would send a provider's API key.\n",
    );
  if (status.auth === "off")
    io.err(
      "levity keys add: this gateway's auth is off, so no client is asked for a key yet: set proxy.auth_mode: strict (or all_except_health) in gateway.yaml for keys to be required.\n",
    );
}

/** `levity keys add|list|show|update|revoke`. */
export async function keysCommand(args: string[], flags: KeysFlags, io: CliIO): Promise<void> {
  const [action = "list", name, ...extra] = args;
  if (extra.length > 0) {
    io.err(`levity keys ${action}: one key at a time; "${extra[0]}" is one word too many\n`);
    throw new CliExit(2);
  }
  const known = ["add", "list", "show", "update", "revoke"];
  if (!known.includes(action)) {
    io.err(`levity keys: unknown action "${action}"\n  ${USAGE}\n`);
    throw new CliExit(2);
  }
  const limitFlags = limitsOfFlags(flags.values, true, io, action);
  if (Object.keys(limitFlags).length > 0 && action !== "add" && action !== "update") {
    io.err(`levity keys ${action}: limits are set with levity keys add or levity keys update\n`);
    throw new CliExit(2);
  }
  const admin = adminFor(flags, io, "keys");
  const print = (key: KeyAnswer) =>
    io.out(flags.json ? `${JSON.stringify(key, null, 2)}\n` : formatKey(key));
  switch (action) {
    case "add":
      return addKey(admin, requireName(action, name, io), flags, io);
    case "list": {
      const answer = (await callAdmin(admin, "GET", "/levity/keys", io)) as { keys: KeyAnswer[] };
      io.out(flags.json ? `${JSON.stringify(answer.keys, null, 2)}\n` : formatKeys(answer.keys));
      return;
    }
    case "show":
      print(
        (await callAdmin(admin, "GET", keyPath(requireName(action, name, io)), io)) as KeyAnswer,
      );
      return;
    case "update": {
      const which = requireName(action, name, io);
      if (Object.keys(limitFlags).length === 0) {
        io.err(
          "levity keys update: say what to change, e.g. --rpm 120, or --no-rpm to remove that limit\n",
        );
        throw new CliExit(2);
      }
      print((await callAdmin(admin, "PATCH", keyPath(which), io, limitFlags)) as KeyAnswer);
      return;
    }
    case "revoke": {
      const which = requireName(action, name, io);
      const key = (await callAdmin(admin, "POST", `${keyPath(which)}/revoke`, io)) as KeyAnswer;
      if (flags.json) print(key);
      else
        io.out(
          `Revoked the key "${key.name}" at ${key.revoked_at}: a client sending it is refused with 401 from now on.\n`,
        );
      return;
    }
  }
}
