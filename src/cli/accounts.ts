import { tableLines } from "./table.ts";
import type { AccountView } from "../pool/view.ts";
import { ADMIN_DISABLED } from "../pool/health.ts";
import { adminFor, callAdmin, type AdminFlags } from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";

/*
 * `levity accounts`: the pool as the running gateway sees it, read through its admin endpoint,
 * so what it prints is live (cooldowns, requests in flight), not a guess from the config.
 */

export interface AccountsFlags extends AdminFlags {
  json?: boolean;
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
  if (models.length > 0)
    return `cooling for ${models.length} model${models.length === 1 ? "" : "s"}`;
  return "healthy";
}

/** The table, then a line for each thing a table cell cannot hold: why disabled, which models cool, the last error. */
export function formatAccounts(accounts: AccountView[], now = Date.now()): string {
  if (accounts.length === 0) return "No accounts: every upstream is echo or has none.\n";
  const header = [
    "UPSTREAM",
    "ACCOUNT",
    "STATE",
    "IN FLIGHT",
    "REQUESTS",
    "FAILURES",
    "TOKENS IN",
    "TOKENS OUT",
  ];
  const rows = accounts.map((a) => [
    a.upstream,
    a.account,
    stateCell(a, now),
    String(a.inFlight),
    String(a.requests),
    String(a.failures),
    String(a.tokens.input),
    String(a.tokens.output),
  ]);
  const lines = tableLines(header, rows);
  const notes: string[] = [];
  for (const a of accounts) {
    const name = `${a.upstream}/${a.account}`;
    // An admin's disable says itself how to undo it; levity's own (a refused key) lasts until the key changes.
    if (a.disabledReason === ADMIN_DISABLED) notes.push(`${name} ${ADMIN_DISABLED}.`);
    else if (a.disabledReason)
      notes.push(
        `${name} disabled: ${a.disabledReason}; it stays off until its key in gateway.yaml changes (or \`levity accounts reset ${name}\`).`,
      );
    if (a.coolingUntil)
      notes.push(
        `${name} cooling until ${a.coolingUntil} (${a.consecutiveFailures} failure${a.consecutiveFailures === 1 ? "" : "s"} in a row).`,
      );
    for (const [model, until] of Object.entries(a.modelCooldowns))
      notes.push(`${name} cooling for ${model} until ${until} (in ${inSeconds(until, now)}).`);
    if (a.lastError && a.state === "cooling") notes.push(`${name} last error: ${a.lastError}`);
  }
  return `${lines.join("\n")}\n${notes.length ? `\n${notes.join("\n")}\n` : ""}`;
}

/** `levity accounts [reset [UPSTREAM[/ACCOUNT]] | enable|disable UPSTREAM[/ACCOUNT]]`. */
export async function accountsCommand(
  args: string[],
  flags: AccountsFlags,
  io: CliIO,
): Promise<void> {
  const [action, which] = args;
  const admin = adminFor(flags, io, "accounts");
  if (action === "enable" || action === "disable") {
    if (!which) {
      io.err(
        `levity accounts ${action}: name the account as UPSTREAM/ACCOUNT (or UPSTREAM for all of its accounts), as \`levity accounts\` lists them\n`,
      );
      throw new CliExit(2);
    }
    const [upstream, account] = which.split("/", 2);
    const answer = (await callAdmin(admin, "POST", `/levity/accounts/${action}`, io, {
      upstream,
      account,
    })) as Record<string, string[]>;
    io.out(`${action}d: ${(answer[`${action}d`] ?? []).join(", ")}\n`);
    return;
  }
  if (action === "reset") {
    const [upstream, account] = which ? which.split("/", 2) : [];
    const answer = (await callAdmin(admin, "POST", "/levity/accounts/reset", io, {
      upstream,
      account,
    })) as { reset: string[] };
    if (answer.reset.length > 0) io.out(`reset: ${answer.reset.join(", ")}\n`);
    else if (which) {
      io.err(
        `levity accounts reset: no account matches "${which}" (write UPSTREAM or UPSTREAM/ACCOUNT, as \`levity accounts\` lists them)\n`,
      );
      throw new CliExit(1);
    } else io.out("no accounts to reset\n");
    return;
  }
  if (action !== undefined) {
    io.err(
      `levity accounts: unknown action "${action}"; try \`levity accounts\`, \`levity accounts reset [UPSTREAM[/ACCOUNT]]\` or \`levity accounts enable|disable UPSTREAM[/ACCOUNT]\`\n`,
    );
    throw new CliExit(2);
  }
  const answer = (await callAdmin(admin, "GET", "/levity/accounts", io)) as {
    accounts: AccountView[];
  };
  io.out(
    flags.json ? `${JSON.stringify(answer.accounts, null, 2)}\n` : formatAccounts(answer.accounts),
  );
}
