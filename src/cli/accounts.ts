import type { AccountView } from "../pool/pool.ts";
import { CliExit, loadForCommand, type CliIO, type CommonFlags } from "./context.ts";

/*
 * `levity accounts`: the pool as the running gateway sees it, read through its admin endpoint,
 * so what it prints is live (cooldowns, requests in flight), not a guess from the config.
 */

export interface AccountsFlags extends CommonFlags {
  url?: string;
  json?: boolean;
}

interface Admin {
  origin: string;
  key?: string;
}

/** Where the gateway listens and the key that opens its admin surface: the flags, then $LEVITY_ADMIN_KEY, then gateway.yaml. */
function adminFor(flags: AccountsFlags, io: CliIO): Admin {
  const { snapshot } = loadForCommand(flags, io);
  const key = io.env.LEVITY_ADMIN_KEY || snapshot.proxy.adminKeys[0]?.key;
  if (flags.url) return { origin: flags.url.replace(/\/+$/, ""), key };
  // A gateway bound to every interface still answers on loopback.
  const host = snapshot.proxy.hostname === "0.0.0.0" ? "127.0.0.1" : snapshot.proxy.hostname;
  return { origin: `http://${host}:${snapshot.proxy.port}`, key };
}

async function callAdmin(admin: Admin, method: string, path: string, io: CliIO, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${admin.origin}${path}`, {
      method,
      headers: { ...(admin.key ? { authorization: `Bearer ${admin.key}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    io.err(`levity accounts: no gateway answers at ${admin.origin} (${(error as Error).message}). Is it running? Point at it with --port N or --url URL.\n`);
    throw new CliExit(1);
  }
  if (response.status === 401 || response.status === 403) {
    io.err(`levity accounts: the gateway at ${admin.origin} refused the admin key (${response.status}). It reads proxy.admin_key (else proxy.api_key) from gateway.yaml; set LEVITY_ADMIN_KEY to use another.\n`);
    throw new CliExit(1);
  }
  const text = await response.text();
  if (!response.ok) {
    io.err(`levity accounts: ${admin.origin}${path} answered ${response.status}: ${text.slice(0, 300)}\n`);
    throw new CliExit(1);
  }
  try {
    return JSON.parse(text);
  } catch {
    io.err(`levity accounts: ${admin.origin} is not a levity gateway (its answer is not JSON).\n`);
    throw new CliExit(1);
  }
}

function inSeconds(iso: string, now: number): string {
  const seconds = Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function stateCell(account: AccountView, now: number): string {
  if (account.state === "disabled") return "disabled";
  if (account.coolingUntil) return `cooling ${inSeconds(account.coolingUntil, now)}`;
  const models = Object.keys(account.modelCooldowns);
  if (models.length > 0) return `cooling for ${models.length} model${models.length === 1 ? "" : "s"}`;
  return "healthy";
}

/** The table, then a line for each thing a table cell cannot hold: why disabled, which models cool, the last error. */
export function formatAccounts(accounts: AccountView[], now = Date.now()): string {
  if (accounts.length === 0) return "No accounts: every upstream is echo or has none.\n";
  const header = ["UPSTREAM", "ACCOUNT", "STATE", "IN FLIGHT", "REQUESTS", "FAILURES", "TOKENS IN", "TOKENS OUT"];
  const rows = accounts.map((a) => [a.upstream, a.account, stateCell(a, now), String(a.inFlight), String(a.requests), String(a.failures), String(a.tokens.input), String(a.tokens.output)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  const lines = [format(header), ...rows.map(format)];
  const notes: string[] = [];
  for (const a of accounts) {
    const name = `${a.upstream}/${a.account}`;
    if (a.disabledReason) notes.push(`${name} disabled: ${a.disabledReason}; it stays off until its key in gateway.yaml changes (or \`levity accounts reset ${name}\`).`);
    if (a.coolingUntil) notes.push(`${name} cooling until ${a.coolingUntil} (${a.consecutiveFailures} failure${a.consecutiveFailures === 1 ? "" : "s"} in a row).`);
    for (const [model, until] of Object.entries(a.modelCooldowns)) notes.push(`${name} cooling for ${model} until ${until} (in ${inSeconds(until, now)}).`);
    if (a.lastError && a.state === "cooling") notes.push(`${name} last error: ${a.lastError}`);
  }
  return `${lines.join("\n")}\n${notes.length ? `\n${notes.join("\n")}\n` : ""}`;
}

/** `levity accounts [reset [UPSTREAM[/ACCOUNT]]]`. */
export async function accountsCommand(args: string[], flags: AccountsFlags, io: CliIO): Promise<void> {
  const [action, which] = args;
  const admin = adminFor(flags, io);
  if (action === "reset") {
    const [upstream, account] = which ? which.split("/", 2) : [];
    const answer = (await callAdmin(admin, "POST", "/levity/accounts/reset", io, { upstream, account })) as { reset: string[] };
    if (answer.reset.length > 0) io.out(`reset: ${answer.reset.join(", ")}\n`);
    else if (which) {
      io.err(`levity accounts reset: no account matches "${which}" (write UPSTREAM or UPSTREAM/ACCOUNT, as \`levity accounts\` lists them)\n`);
      throw new CliExit(1);
    } else io.out("no accounts to reset\n");
    return;
  }
  if (action !== undefined) {
    io.err(`levity accounts: unknown action "${action}"; try \`levity accounts\` or \`levity accounts reset [UPSTREAM[/ACCOUNT]]\`\n`);
    throw new CliExit(2);
  }
  const answer = (await callAdmin(admin, "GET", "/levity/accounts", io)) as { accounts: AccountView[] };
  io.out(flags.json ? `${JSON.stringify(answer.accounts, null, 2)}\n` : formatAccounts(answer.accounts));
}
