import type { LoggedRequest } from "../observe/request-log.ts";
import { adminFor, callAdmin, type AdminFlags } from "./admin-client.ts";
import { CliExit, type CliIO } from "./context.ts";

/*
 * `levity logs`: the running gateway's request log, newest last, filtered on the gateway's side;
 * with --follow it keeps printing requests as they finish.
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

/** One request per line: when, status, route, model (and what it was mapped to), account, timing, tokens, error. */
export function formatLogLine(r: LoggedRequest): string {
  const model = r.requestedModel ? (r.mappedModel && r.mappedModel !== r.requestedModel ? `${r.requestedModel} -> ${r.mappedModel}` : r.requestedModel) : "-";
  const account = r.upstream ? `${r.upstream}/${r.account ?? "-"}` : "-";
  const tokens = `${r.inputTokens} in${r.cachedTokens ? ` (${r.cachedTokens} cached)` : ""}, ${r.outputTokens} out${r.reasoningTokens ? ` (${r.reasoningTokens} reasoning)` : ""}`;
  const parts = [
    new Date(r.time).toISOString(),
    String(r.status),
    `${r.method} ${r.route}`,
    model,
    account,
    `${r.attempts} attempt${r.attempts === 1 ? "" : "s"}`,
    `${duration(r.latencyMs)} (first byte ${duration(r.ttfbMs)})`,
    tokens,
    r.clientKey ? `key ${r.clientKey}` : "",
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

export async function logsCommand(flags: LogsFlags, io: CliIO, stop?: AbortSignal): Promise<void> {
  if (flags.limit !== undefined && (!Number.isInteger(flags.limit) || flags.limit <= 0)) {
    io.err("levity logs: --limit must be a whole number above 0\n");
    throw new CliExit(2);
  }
  const admin = adminFor(flags, io, "logs");
  const print = (records: LoggedRequest[]) => {
    for (const r of records) io.out(flags.json ? `${JSON.stringify(r)}\n` : `${formatLogLine(r)}\n`);
  };
  const first = (await callAdmin(admin, "GET", `/levity/logs?${queryString(flags, { limit: String(flags.limit ?? 50) })}`, io)) as { requests: LoggedRequest[] };
  const recent = first.requests.reverse();
  print(recent);
  if (!flags.follow) return;
  let after = recent.at(-1)?.seq ?? (await latestSeq());
  while (!stop?.aborted) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, flags.pollMs ?? 1000);
      stop?.addEventListener("abort", () => (clearTimeout(timer), resolve(undefined)), { once: true });
    });
    if (stop?.aborted) break;
    const next = (await callAdmin(admin, "GET", `/levity/logs?${queryString(flags, { after: String(after), limit: "1000" })}`, io)) as { requests: LoggedRequest[] };
    print(next.requests);
    after = next.requests.at(-1)?.seq ?? after;
  }

  /** With a filter that matched nothing yet, follow from the newest record of all. */
  async function latestSeq(): Promise<number> {
    const newest = (await callAdmin(admin, "GET", "/levity/logs?limit=1", io)) as { requests: LoggedRequest[] };
    return newest.requests[0]?.seq ?? 0;
  }
}
