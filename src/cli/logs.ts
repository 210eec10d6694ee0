import { existsSync } from "node:fs";
import { join } from "node:path";
import { statusRange, type LogQuery, type LoggedRequest } from "../observe/request-log.ts";
import { readRequestLogFile } from "../observe/sqlite-request-log.ts";
import { readPostgresLog } from "../observe/postgres-request-log.ts";
import { redactedUrl } from "../state/shared-link.ts";
import { parseSince } from "../operations/admin.ts";
import {
  adminFor,
  callAdmin,
  requestAdmin,
  unreachableMessage,
  type Admin,
  type AdminFlags,
} from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";

/*
 * `levity logs`: the running gateway's request log, newest last, filtered on the gateway's side;
 * with --follow it keeps printing requests as they finish. When no gateway answers on this
 * machine (it crashed, or is stopped), which is when the log is most wanted, the file is read
 * directly.
 */

export interface LogsFlags extends AdminFlags {
  model?: string;
  account?: string;
  status?: string;
  since?: string;
  limit?: number;
  follow?: boolean;
  json?: boolean;
  /** How often --follow asks for new records. */
  pollMs?: number;
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Dollars to the millionth: a request's cost is often a fraction of a cent. */
export function formatUsd(usd: number): string {
  return `$${usd.toFixed(6)}`;
}

/** One request per line: when, status, route, model (and what it was mapped to), account, timing, tokens, error. */
export function formatLogLine(r: LoggedRequest): string {
  const model = r.requestedModel
    ? r.mappedModel && r.mappedModel !== r.requestedModel
      ? `${r.requestedModel} -> ${r.mappedModel}`
      : r.requestedModel
    : "-";
  const account = r.upstream ? `${r.upstream}/${r.account ?? "-"}` : "-";
  const tokens = `${r.inputTokens} in${r.cachedTokens ? ` (${r.cachedTokens} cached)` : ""}${r.cacheWriteTokens ? ` (${r.cacheWriteTokens} written to cache)` : ""}, ${r.outputTokens} out${r.reasoningTokens ? ` (${r.reasoningTokens} reasoning)` : ""}`;
  const parts = [
    new Date(r.time).toISOString(),
    String(r.status),
    `${r.method} ${r.route}`,
    model,
    account,
    `${r.attempts} attempt${r.attempts === 1 ? "" : "s"}`,
    `${duration(r.latencyMs)} (first byte ${duration(r.ttfbMs)})`,
    tokens,
    // A model without a price shows none; levity usage counts such requests as unpriced.
    r.costUsd !== undefined ? formatUsd(r.costUsd) : "",
    r.clientKey ? `key ${r.clientKey}` : "",
    // An operator's replay (levity replay) is no client key's: it says what it replays instead.
    r.replayOf ? `replay of ${r.replayOf}` : "",
    // A log that several instances share (PostgreSQL) says which one served it.
    r.instance ? `on ${r.instance}` : "",
    r.requestId,
  ].filter(Boolean);
  return `${parts.join("  ")}${r.error ? `\n    error: ${r.error}` : ""}`;
}

function queryString(flags: LogsFlags, extra: Record<string, string>): string {
  const params = new URLSearchParams();
  if (flags.model) params.set("model", flags.model);
  if (flags.account) params.set("account", flags.account);
  if (flags.status) params.set("status", flags.status);
  if (flags.since) params.set("since", flags.since);
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params.toString();
}

/** Where records come from: the running gateway, or, when none answers, the log file it left. */
type RecordSource = (params: Record<string, string>) => Promise<LoggedRequest[]>;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

function onThisMachine(origin: string): boolean {
  try {
    return LOOPBACK.has(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/**
 * The request log file of a gateway that does not answer, when it is on this machine; otherwise
 * says why it cannot be read and exits.
 */
export function localLogFile(admin: Admin, reason: string, io: CliIO): string {
  const refuse = (why: string): never => {
    io.err(`${unreachableMessage(admin, reason).trimEnd()} ${why}\n`);
    throw new CliExit(1);
  };
  // A gateway named by --url on another machine keeps its log there.
  if (admin.explicitUrl && !onThisMachine(admin.origin))
    refuse("Its request log is on the machine it runs on.");
  const dir = admin.settings.dataDir;
  if (dir.value === undefined)
    refuse(
      `Its request log cannot be read directly either: ${dir.unset ? `${dir.from} uses an environment variable that is not set here` : "the data directory is unknown"}.`,
    );
  const path = join(dir.value!, "requests.db");
  if (!existsSync(path)) refuse(`There is no request log at ${path} to read instead.`);
  return path;
}

/** The filters as the gateway would apply them, for a source read directly; a bad one exits. */
function directQuery(flags: LogsFlags, io: CliIO): LogQuery {
  const query: LogQuery = { model: flags.model, account: flags.account };
  if (flags.status) {
    if (!statusRange(flags.status)) {
      io.err(
        `levity logs: --status must be a code (429), a class (4xx, 5xx), error or ok, not "${flags.status}"\n`,
      );
      throw new CliExit(2);
    }
    query.status = flags.status;
  }
  if (flags.since) {
    query.since = parseSince(flags.since);
    if (query.since === undefined) {
      io.err(
        `levity logs: --since must be a duration (15m, 2h, 7d) or a time (2026-11-21T10:00:00Z), not "${flags.since}"\n`,
      );
      throw new CliExit(2);
    }
  }
  return query;
}

/** The request log file itself, filtered as the gateway would filter it, for when no gateway answers. */
function fileSource(admin: Admin, flags: LogsFlags, reason: string, io: CliIO): RecordSource {
  const path = localLogFile(admin, reason, io);
  const query = directQuery(flags, io);
  // Said before any record, on stderr so --json output stays one record per line.
  io.err(
    `levity logs: no gateway answers at ${admin.origin} (${reason}); reading its request log file ${path} directly. It holds what was written before the gateway stopped: after a crash, all but the last batch (about a second).\n`,
  );
  return async (params) => {
    try {
      return readRequestLogFile(path, {
        ...query,
        limit: Number(params.limit),
        after: params.after === undefined ? undefined : Number(params.after),
      });
    } catch (error) {
      io.err(`levity logs: cannot read ${path}: ${(error as Error).message}\n`);
      throw new CliExit(1);
    }
  };
}

/** The PostgreSQL URL of gateway.yaml's request_log, when the log is there; one that cannot be read exits. */
export function postgresLogUrl(admin: Admin, reason: string, io: CliIO): string | undefined {
  const field = admin.settings.requestLogUrl;
  if (field.unset) {
    io.err(
      `${unreachableMessage(admin, reason).trimEnd()} Its request log on PostgreSQL cannot be read directly either: ${field.from} uses an environment variable that is not set here.\n`,
    );
    throw new CliExit(1);
  }
  return field.value;
}

/** The shared log on PostgreSQL, read directly: it has every instance's records, not only this one's. */
function postgresSource(
  admin: Admin,
  url: string,
  flags: LogsFlags,
  reason: string,
  io: CliIO,
): RecordSource {
  const query = directQuery(flags, io);
  io.err(
    `levity logs: no gateway answers at ${admin.origin} (${reason}); reading the request log on PostgreSQL (${redactedUrl(url)}) directly.\n`,
  );
  return async (params) => {
    try {
      return await readPostgresLog(url, {
        ...query,
        limit: Number(params.limit),
        after: params.after === undefined ? undefined : Number(params.after),
      });
    } catch (error) {
      io.err(
        `levity logs: cannot read the request log on PostgreSQL: ${(error as Error).message}\n`,
      );
      throw new CliExit(1);
    }
  };
}

export async function logsCommand(flags: LogsFlags, io: CliIO, stop?: AbortSignal): Promise<void> {
  if (flags.limit !== undefined && (!Number.isInteger(flags.limit) || flags.limit <= 0)) {
    io.err("levity logs: --limit must be a whole number above 0\n");
    throw new CliExit(2);
  }
  const admin = adminFor(flags, io, "logs");
  const print = (records: LoggedRequest[]) => {
    for (const r of records)
      io.out(flags.json ? `${JSON.stringify(r)}\n` : `${formatLogLine(r)}\n`);
  };
  const fromGateway: RecordSource = async (params) =>
    (
      (await callAdmin(admin, "GET", `/levity/logs?${queryString(flags, params)}`, io)) as {
        requests: LoggedRequest[];
      }
    ).requests;
  const firstParams = { limit: String(flags.limit ?? 50) };
  const answer = await requestAdmin(
    admin,
    "GET",
    `/levity/logs?${queryString(flags, firstParams)}`,
    io,
  );
  const pgUrl = answer.ok ? undefined : postgresLogUrl(admin, answer.unreachable, io);
  const source = answer.ok
    ? fromGateway
    : pgUrl
      ? postgresSource(admin, pgUrl, flags, answer.unreachable, io)
      : fileSource(admin, flags, answer.unreachable, io);
  const recent = (
    answer.ok ? (answer.value as { requests: LoggedRequest[] }).requests : await source(firstParams)
  ).reverse();
  print(recent);
  if (!flags.follow) return;
  let after = recent.at(-1)?.seq ?? (await source({ limit: "1" }))[0]?.seq ?? 0;
  while (!stop?.aborted) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, flags.pollMs ?? 1000);
      stop?.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve(undefined);
        },
        {
          once: true,
        },
      );
    });
    if (stop?.aborted) break;
    const next = await source({ after: String(after), limit: "1000" });
    print(next);
    after = next.at(-1)?.seq ?? after;
  }
}
