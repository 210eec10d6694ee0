import { tableLines } from "./table.ts";
import {
  USAGE_GROUPINGS,
  usageSummary,
  type UsageGrouping,
  type UsageTotals,
} from "../observe/request-log.ts";
import { readUsageFromFile } from "../observe/sqlite-request-log.ts";
import { readPostgresUsage } from "../observe/postgres-request-log.ts";
import { redactedUrl } from "../state/shared-link.ts";
import { parseSince, usageGrouping } from "../operations/admin.ts";
import { adminFor, requestAdmin, type AdminFlags } from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";
import { formatUsd, localLogFile, postgresLogUrl } from "./logs.ts";

/*
 * `levity usage`: requests, tokens and cost per client key, model, upstream or account, from the
 * running gateway's GET /levity/usage?by=; when no gateway answers on this machine, from the
 * request log file it left, as `levity logs` does.
 */

export interface UsageFlags extends AdminFlags {
  by?: string;
  since?: string;
  json?: boolean;
}

/** What GET /levity/usage?by= answers. */
export interface UsageAnswer {
  by: UsageGrouping;
  since: string;
  until: string;
  rows: UsageTotals[];
  total: UsageTotals;
}

const COLUMNS: readonly [string, (row: UsageTotals) => string][] = [
  ["requests", (r) => String(r.requests)],
  ["errors", (r) => String(r.errors)],
  ["input", (r) => String(r.input_tokens)],
  ["cached", (r) => String(r.cached_tokens)],
  ["cache write", (r) => String(r.cache_write_tokens)],
  ["output", (r) => String(r.output_tokens)],
  ["reasoning", (r) => String(r.reasoning_tokens)],
  // A group whose every request had no price has no known cost: "-", not a free "$0.00".
  [
    "cost",
    (r) => (r.requests > 0 && r.unpriced_requests === r.requests ? "-" : formatUsd(r.cost_usd)),
  ],
  ["unpriced", (r) => String(r.unpriced_requests)],
];

/** The answer as a table: a header, one line per group, a total line. */
export function formatUsageTable(answer: UsageAnswer): string {
  const text = tableLines(
    [answer.by, ...COLUMNS.map(([title]) => title)],
    [
      ...answer.rows.map((row) => [row.name, ...COLUMNS.map(([, cell]) => cell(row))]),
      ["total", ...COLUMNS.map(([, cell]) => cell(answer.total))],
    ],
    // Every column but the name is a number.
    new Set(COLUMNS.map((_, i) => i + 1)),
  );
  return `${text.join("\n")}\nfrom ${answer.since} to ${answer.until}\n`;
}

export async function usageCommand(flags: UsageFlags, io: CliIO): Promise<void> {
  const by = usageGrouping(flags.by ?? "model");
  if (!by) {
    io.err(`levity usage: --by must be one of ${USAGE_GROUPINGS.join(", ")}, not "${flags.by}"\n`);
    throw new CliExit(2);
  }
  const sinceText = flags.since ?? "30d";
  if (parseSince(sinceText) === undefined) {
    io.err(
      `levity usage: --since must be a duration (15m, 2h, 7d) or a time (2026-11-21T10:00:00Z), not "${sinceText}"\n`,
    );
    throw new CliExit(2);
  }
  const admin = adminFor(flags, io, "usage");
  const params = new URLSearchParams({ by, since: sinceText });
  const answer = await requestAdmin(admin, "GET", `/levity/usage?${params}`, io);
  let usage: UsageAnswer;
  if (answer.ok) usage = answer.value as UsageAnswer;
  else {
    const until = Date.now();
    const since = parseSince(sinceText, until)!;
    const pgUrl = postgresLogUrl(admin, answer.unreachable, io);
    let rows: UsageTotals[];
    if (pgUrl) {
      // Said first, on stderr, so --json output stays one JSON document.
      io.err(
        `levity usage: no gateway answers at ${admin.origin} (${answer.unreachable}); reading the request log on PostgreSQL (${redactedUrl(pgUrl)}) directly.\n`,
      );
      try {
        rows = await readPostgresUsage(pgUrl, by, since, until);
      } catch (error) {
        io.err(
          `levity usage: cannot read the request log on PostgreSQL: ${(error as Error).message}\n`,
        );
        throw new CliExit(1);
      }
    } else {
      const path = localLogFile(admin, answer.unreachable, io);
      io.err(
        `levity usage: no gateway answers at ${admin.origin} (${answer.unreachable}); reading its request log file ${path} directly. It holds what was written before the gateway stopped: after a crash, all but the last batch (about a second).\n`,
      );
      try {
        rows = readUsageFromFile(path, by, since, until);
      } catch (error) {
        io.err(`levity usage: cannot read ${path}: ${(error as Error).message}\n`);
        throw new CliExit(1);
      }
    }
    usage = {
      by,
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      ...usageSummary(rows),
    };
  }
  io.out(flags.json ? `${JSON.stringify(usage)}\n` : formatUsageTable(usage));
}
