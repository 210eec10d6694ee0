import { describeSnapshot } from "../config/describe.ts";
import type { Operation } from "../codecs/names.ts";
import { GatewayError } from "../failure.ts";
import {
  RequestLogUnavailable,
  statusRange,
  USAGE_GROUPINGS,
  usageSummary,
  type LogQuery,
  type UsageGrouping,
} from "../observe/request-log.ts";
import { sharedStateDetail } from "./shared-state.ts";
import type { OperationHandler, RequestContext } from "./context.ts";
import { jsonResponse } from "../codecs/shared.ts";
import { KEY_HANDLERS } from "./admin-keys.ts";
import { REPLAY_HANDLERS } from "./replay.ts";

/*
 * levity's admin surface under /levity/, behind the admin key: what the gateway is doing, its
 * accounts, its recent requests and their token usage, and the levers an operator needs
 * (reset a cooldown, take an account out, reload the configuration).
 */

const DAY_MS = 86_400_000;

function accountFilter(ctx: RequestContext): { upstream?: string; account?: string } {
  const json = ctx.body?.json ?? {};
  const text = (value: unknown, name: string) => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value === "")
      throw new GatewayError(400, `${name} must be a non-empty string.`, { param: name });
    return value;
  };
  return { upstream: text(json.upstream, "upstream"), account: text(json.account, "account") };
}

function requireMatch(
  changed: string[],
  filter: { upstream?: string; account?: string },
): string[] {
  if (changed.length === 0 && (filter.upstream || filter.account)) {
    const named = [filter.upstream, filter.account].filter(Boolean).join("/");
    throw new GatewayError(404, `No account matches ${named}; GET /levity/accounts lists them.`);
  }
  return changed;
}

/** A time filter: an ISO time, epoch milliseconds, or a duration back from now (90s, 15m, 2h, 7d). */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const at = sinceOf(text, now);
  // Outside JavaScript's dates a time cannot be written out (toISOString throws): not a time.
  return at !== undefined && Math.abs(at) <= 8.64e15 ? at : undefined;
}

function sinceOf(text: string, now: number): number | undefined {
  const duration = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/i.exec(text.trim());
  if (duration) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }[
      duration[2]!.toLowerCase() as "s" | "m" | "h" | "d"
    ];
    return now - Number(duration[1]) * unit;
  }
  if (/^\d{12,}$/.test(text.trim())) return Number(text.trim());
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

function logQuery(params: URLSearchParams): LogQuery {
  const query: LogQuery = {};
  const number = (name: string) => {
    const raw = params.get(name);
    if (raw === null || raw === "") return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new GatewayError(400, `${name} must be a number, not "${raw.slice(0, 40)}".`, {
        param: name,
      });
    return value;
  };
  query.limit = number("limit");
  query.after = number("after");
  const model = params.get("model");
  if (model) query.model = model;
  const account = params.get("account");
  if (account) query.account = account;
  const status = params.get("status");
  if (status) {
    if (!statusRange(status))
      throw new GatewayError(
        400,
        `status must be a code (429), a class (4xx, 5xx), error or ok, not "${status.slice(0, 40)}".`,
        { param: "status" },
      );
    query.status = status;
  }
  const since = params.get("since");
  if (since) {
    const at = parseSince(since);
    if (at === undefined)
      throw new GatewayError(
        400,
        `since must be a duration (15m, 2h, 7d) or a time (2026-11-21T10:00:00Z), not "${since.slice(0, 40)}".`,
        { param: "since" },
      );
    query.since = at;
  }
  return query;
}

/** The admin operations routes.yaml can name, each served by its own entry in ADMIN_HANDLERS. */
export type AdminOperation = Extract<Operation, `admin-${string}`>;

const serveStatus: OperationHandler = (ctx, services) => {
  const { snapshot } = ctx;
  const accounts = services.pool.view(snapshot.upstreams);
  const count = (state: string) => accounts.filter((a) => a.state === state).length;
  return jsonResponse({
    status: "ok",
    version: services.version,
    serverTime: new Date().toISOString(),
    startedAt: new Date(services.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - services.startedAt) / 1000),
    // Port 0 in the config means the OS chose one: the request came in on it.
    listening: `${snapshot.proxy.hostname}:${snapshot.proxy.port || ctx.url.port}`,
    auth: snapshot.proxy.effectiveAuth,
    config: describeSnapshot(snapshot),
    upstreams: snapshot.upstreams.map((u) => ({
      name: u.name,
      protocol: u.protocol,
      strategy: u.strategy,
      accounts: u.accounts.length,
    })),
    accounts: {
      healthy: count("healthy"),
      cooling: count("cooling"),
      disabled: count("disabled"),
    },
    // This status request is itself in flight; the operator wants the others.
    inFlight: Math.max(0, services.metrics.current - 1),
    requestLog: {
      enabled: snapshot.proxy.requestLog.enabled,
      bodies: snapshot.proxy.requestLog.logBodies,
      ...services.requestLog.stats(),
    },
    memory: { rssBytes: process.memoryUsage().rss },
    sharedState: sharedStateDetail(snapshot, services),
  });
};

const listAccounts: OperationHandler = (ctx, services) =>
  jsonResponse({ accounts: services.pool.view(ctx.snapshot.upstreams) });

const resetAccounts: OperationHandler = (ctx, services) =>
  jsonResponse({ reset: services.pool.reset(ctx.snapshot.upstreams, accountFilter(ctx)) });

/** Enabling and disabling differ only in the flag and the words: one handler for each, from one function. */
function setAccountEnabled(enabled: boolean): OperationHandler {
  return (ctx, services) => {
    const filter = accountFilter(ctx);
    if (!filter.upstream && !filter.account)
      throw new GatewayError(400, 'Name the account: {"upstream": "...", "account": "..."}.', {
        param: "account",
      });
    const changed = requireMatch(
      services.pool.setEnabled(ctx.snapshot.upstreams, filter, enabled),
      filter,
    );
    services.log.info(`admin ${enabled ? "enabled" : "disabled"} ${changed.join(", ")}`);
    return jsonResponse({ [enabled ? "enabled" : "disabled"]: changed });
  };
}

/** A read of a log on a server that does not answer: a 503 that says so, not a 500. */
async function fromLog<T>(read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof RequestLogUnavailable) throw new GatewayError(503, error.message);
    throw error;
  }
}

const queryLogs: OperationHandler = async (ctx, services) => {
  const query = logQuery(ctx.url.searchParams);
  return jsonResponse({ requests: await fromLog(() => services.requestLog.query(query)) });
};

/** The grouping a `by` names, or a 400 naming the four. */
export function usageGrouping(raw: string): UsageGrouping | undefined {
  return (USAGE_GROUPINGS as readonly string[]).includes(raw) ? (raw as UsageGrouping) : undefined;
}

/** `?by=key|model|upstream|account&since=7d`: one row per group, sorted by cost, and their total. */
async function usageByGroup(
  ctx: RequestContext,
  services: Parameters<OperationHandler>[1],
  by: string,
) {
  const grouping = usageGrouping(by);
  if (!grouping)
    throw new GatewayError(
      400,
      `by must be one of ${USAGE_GROUPINGS.join(", ")}, not "${by.slice(0, 40)}".`,
      { param: "by" },
    );
  const until = Date.now();
  const rawSince = ctx.url.searchParams.get("since") || "30d";
  const since = parseSince(rawSince, until);
  if (since === undefined)
    throw new GatewayError(
      400,
      `since must be a duration (15m, 2h, 7d) or a time (2026-11-21T10:00:00Z), not "${rawSince.slice(0, 40)}".`,
      { param: "since" },
    );
  return jsonResponse({
    by: grouping,
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    ...usageSummary(await fromLog(() => services.requestLog.usageBy(grouping, since, until))),
  });
}

const summarizeUsage: OperationHandler = async (ctx, services) => {
  const by = ctx.url.searchParams.get("by");
  if (by !== null) return usageByGroup(ctx, services, by);
  const raw = ctx.url.searchParams.get("days");
  const days = raw === null ? 30 : Number(raw);
  if (!Number.isFinite(days) || days <= 0 || days > 3650)
    throw new GatewayError(
      400,
      `days must be a number from 1 to 3650, not "${String(raw).slice(0, 40)}".`,
      { param: "days" },
    );
  const since = Date.now() - days * DAY_MS;
  return jsonResponse({
    since: new Date(since).toISOString(),
    usage: await fromLog(() => services.requestLog.usage(since)),
  });
};

const reloadConfig: OperationHandler = (_, services) => {
  if (!services.reload)
    throw new GatewayError(
      501,
      "This levity was started without a configuration directory to reload.",
    );
  const applied = services.reload("admin request");
  if (!applied)
    throw new GatewayError(
      422,
      "The configuration on disk has problems; the previous one keeps serving. levity's log lists them; `levity check` prints them too.",
    );
  return jsonResponse({ reloaded: true, config: describeSnapshot(applied) });
};

export const ADMIN_HANDLERS: Readonly<Record<AdminOperation, OperationHandler>> = {
  "admin-status": serveStatus,
  "admin-accounts": listAccounts,
  "admin-reset-accounts": resetAccounts,
  "admin-enable-account": setAccountEnabled(true),
  "admin-disable-account": setAccountEnabled(false),
  "admin-logs": queryLogs,
  "admin-usage": summarizeUsage,
  "admin-reload": reloadConfig,
  ...KEY_HANDLERS,
  ...REPLAY_HANDLERS,
};
