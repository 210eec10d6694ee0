import type { RequestRecord } from "./record.ts";
import type { LoggedRequest } from "./request-log.ts";

/*
 * A request record as the columns of the request log's table, and back: one mapping for the
 * SQLite file and for PostgreSQL. SQLite keeps a flag as 1 or 0, PostgreSQL as a boolean; reading,
 * either is understood.
 */

type Column = string | number | boolean | null;

export function recordColumns(
  r: RequestRecord,
  flag: (value: boolean) => number | boolean,
): Record<string, Column> {
  return {
    time: r.time,
    request_id: r.requestId,
    client_key: r.clientKey ?? null,
    method: r.method,
    route: r.route,
    unmatched: flag(r.unmatched === true),
    dialect: r.dialect ?? null,
    requested_model: r.requestedModel ?? null,
    mapped_model: r.mappedModel ?? null,
    upstream: r.upstream ?? null,
    account: r.account ?? null,
    attempts: r.attempts,
    status: r.status,
    stream: flag(r.stream),
    latency_ms: r.latencyMs,
    ttfb_ms: r.ttfbMs,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cached_tokens: r.cachedTokens,
    cache_write_tokens: r.cacheWriteTokens,
    reasoning_tokens: r.reasoningTokens,
    cost_usd: r.costUsd ?? null,
    error: r.error ?? null,
    replay_of: r.replayOf ?? null,
    request_body: r.requestBody ?? null,
    response_body: r.responseBody ?? null,
  };
}

const isSet = (value: unknown) => value === true || value === 1;

export function recordFromColumns(row: Record<string, unknown>): LoggedRequest {
  const text = (value: unknown) =>
    value === null || value === undefined ? undefined : String(value);
  const record: LoggedRequest = {
    seq: Number(row.seq),
    time: Number(row.time),
    requestId: String(row.request_id),
    // PostgreSQL's rows name the instance that served them; the SQLite file's have none.
    instance: text(row.instance),
    clientKey: text(row.client_key),
    method: String(row.method),
    route: String(row.route),
    unmatched: isSet(row.unmatched) ? true : undefined,
    dialect: text(row.dialect),
    requestedModel: text(row.requested_model),
    mappedModel: text(row.mapped_model),
    upstream: text(row.upstream),
    account: text(row.account),
    attempts: Number(row.attempts),
    status: Number(row.status),
    stream: isSet(row.stream),
    latencyMs: Number(row.latency_ms),
    ttfbMs: Number(row.ttfb_ms),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    cachedTokens: Number(row.cached_tokens),
    // A log file from before the column, read without migrating it, has none.
    cacheWriteTokens: Number(row.cache_write_tokens ?? 0),
    reasoningTokens: Number(row.reasoning_tokens),
    costUsd: row.cost_usd === null || row.cost_usd === undefined ? undefined : Number(row.cost_usd),
    error: text(row.error),
    // A log from before the column has none: no replays in it.
    replayOf: text(row.replay_of),
    requestBody: text(row.request_body),
    responseBody: text(row.response_body),
  };
  for (const key of Object.keys(record) as (keyof LoggedRequest)[])
    if (record[key] === undefined) delete record[key];
  return record;
}
