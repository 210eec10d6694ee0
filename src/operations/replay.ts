import { errorResponse, familyOfDialect } from "../codecs/errors.ts";
import { randomId } from "../codecs/shared.ts";
import type { JsonObject } from "../codecs/json.ts";
import { fillTemplate } from "../config/route-table.ts";
import type { ConfigSnapshot, Upstream } from "../config/snapshot.ts";
import { createPricer } from "../cost/cost.ts";
import { GatewayError } from "../failure.ts";
import { resolveModel } from "../mapping/resolve.ts";
import type { Target } from "../mapping/table.ts";
import type { RecordSink } from "../observe/record.ts";
import { RequestLogUnavailable, type LoggedRequest } from "../observe/request-log.ts";
import { errorMessageOf, RequestTrace } from "../observe/trace.ts";
import { AccountPool } from "../pool/pool.ts";
import { generateOrCompact } from "./compact.ts";
import type { GatewayServices, OperationHandler, RequestContext } from "./context.ts";
import { generate } from "./generate.ts";
import { diffLines, formatDiff } from "./line-diff.ts";
import {
  accountKeys,
  DryRunClient,
  maskSecrets,
  RecordingClient,
  type UpstreamRequestView,
  viewOf,
} from "./replay-capture.ts";

/*
 * `POST /levity/replay/{id}`: a request from the request log sent again through the whole
 * pipeline (mapping, translation, the pool, retries), as the operator's, not the client's: it is
 * never admitted against the original client key's limits nor settled against its counters, and
 * its own record says which request it replays. `to` sends it to another upstream and model
 * past the mapping, `account` to one account; `dryRun` shows the upstream request without
 * sending it; `diff` sets the original's upstream request beside the new one.
 */

interface ReplayOptions {
  to?: { upstream: Upstream; model: string };
  account?: { upstream: Upstream; name: string };
  dryRun: boolean;
  diff: boolean;
}

/** A logged request that can be sent again: its route, its model and its whole body. */
interface Replayable {
  record: LoggedRequest;
  json: JsonObject;
  text: string;
  model: string;
}

/** Where the replay goes: the targets, and the snapshot (one upstream narrowed to one account when pinned). */
interface Destination {
  snapshot: ConfigSnapshot;
  targets?: Target[];
  /** In words, for the answer: "oa/gpt-4o", "the mapping of fast". */
  label: string;
}

const CUT_MARK = /… \[\d+ more characters\]$/;

function upstreamNamed(snapshot: ConfigSnapshot, name: string, field: string): Upstream {
  const upstream = snapshot.upstreamByName.get(name);
  if (!upstream)
    throw new GatewayError(
      400,
      `${field}: no upstream is named "${name.slice(0, 100)}"; the upstreams are ${snapshot.upstreams.map((u) => u.name).join(", ")}.`,
      { param: field },
    );
  return upstream;
}

/** `UPSTREAM/REST`, split at the first slash (a model name may hold more). */
function pair(value: unknown, field: string, what: string): [string, string] {
  const slash = typeof value === "string" ? value.indexOf("/") : -1;
  if (typeof value !== "string" || slash <= 0 || slash === value.length - 1)
    throw new GatewayError(
      400,
      `${field} must be written UPSTREAM/${what}, not ${JSON.stringify(value ?? null).slice(0, 100)}.`,
      { param: field },
    );
  return [value.slice(0, slash), value.slice(slash + 1)];
}

function flag(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean")
    throw new GatewayError(400, `${field} must be true or false.`, { param: field });
  return value;
}

function replayOptions(json: JsonObject, snapshot: ConfigSnapshot): ReplayOptions {
  const options: ReplayOptions = {
    dryRun: flag(json.dryRun, "dryRun"),
    diff: flag(json.diff, "diff"),
  };
  if (json.to !== undefined && json.to !== null) {
    const [upstream, model] = pair(json.to, "to", "MODEL");
    // The model goes into the upstream's URL (Gemini's path) and headers, as a client's would.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (model.length > 256 || /[\u0000-\u001f\u007f]/.test(model) || !model.isWellFormed())
      throw new GatewayError(400, "to: the model must be at most 256 printable characters.", {
        param: "to",
      });
    options.to = { upstream: upstreamNamed(snapshot, upstream, "to"), model };
  }
  if (json.account !== undefined && json.account !== null) {
    const [name, account] = pair(json.account, "account", "ACCOUNT");
    const upstream = upstreamNamed(snapshot, name, "account");
    if (!upstream.accounts.some((a) => a.name === account))
      throw new GatewayError(
        400,
        `account: upstream "${upstream.name}" has no account "${account.slice(0, 100)}"; its accounts are ${upstream.accounts.map((a) => a.name).join(", ") || "none"}.`,
        { param: "account" },
      );
    if (options.to && options.to.upstream !== upstream)
      throw new GatewayError(
        400,
        `account names upstream "${upstream.name}" but to names "${options.to.upstream.name}": an account serves its own upstream only.`,
        { param: "account" },
      );
    options.account = { upstream, name: account };
  }
  return options;
}

async function findRecord(services: GatewayServices, id: string): Promise<LoggedRequest> {
  let found: LoggedRequest[];
  try {
    found = await services.requestLog.query({ requestId: id, limit: 1 });
  } catch (error) {
    if (error instanceof RequestLogUnavailable) throw new GatewayError(503, error.message);
    throw error;
  }
  if (!found[0])
    throw new GatewayError(
      404,
      `No request "${id.slice(0, 100)}" in the request log (levity logs lists the ids; records older than request_log.retention_days are gone).`,
      { type: "not_found_error", param: "id" },
    );
  return found[0];
}

const REPLAYED_OPERATIONS: ReadonlySet<string> = new Set(["generate", "count-tokens"]);

/** The record's request, whole, or a refusal that says why it cannot be sent again. */
function replayable(record: LoggedRequest, snapshot: ConfigSnapshot): Replayable {
  const id = record.requestId;
  const route = snapshot.routes.routes.find(
    (r) => r.path === record.route && r.method === record.method,
  );
  if (!route || !record.dialect || !REPLAYED_OPERATIONS.has(route.operation))
    throw new GatewayError(
      422,
      `Request ${id} was ${record.method} ${record.route}: only generation and token-count requests can be replayed.`,
      { param: "id" },
    );
  if (record.requestBody === undefined)
    throw new GatewayError(
      422,
      `Request ${id} was logged without its body, so it cannot be replayed. The request log keeps bodies only with request_log.log_bodies: true in gateway.yaml (it applies at once, with a reload); requests made from then on can be replayed.`,
      { param: "id" },
    );
  if (CUT_MARK.test(record.requestBody))
    throw new GatewayError(
      422,
      `Request ${id}'s body was cut at request_log.body_max_kb (${snapshot.proxy.requestLog.bodyMaxBytes / 1024} KB) when it was logged, and a half body is not replayed. Raise request_log.body_max_kb in gateway.yaml; requests made from then on are kept whole up to it.`,
      { param: "id" },
    );
  let json: unknown;
  try {
    json = JSON.parse(record.requestBody);
  } catch {
    json = undefined;
  }
  if (!json || typeof json !== "object" || Array.isArray(json))
    throw new GatewayError(
      422,
      `Request ${id}'s logged body is not a JSON object, so it cannot be replayed.`,
      { param: "id" },
    );
  const model = record.requestedModel;
  if (!model)
    throw new GatewayError(
      422,
      `Request ${id} names no model in the log (it was refused before one was read), so it cannot be replayed.`,
      { param: "id" },
    );
  return { record, json: json as JsonObject, text: record.requestBody, model };
}

/** The same upstream with only this account, tried once: the replay goes to it or fails. */
function pinned(snapshot: ConfigSnapshot, upstream: Upstream, account: string): ConfigSnapshot {
  const narrowed: Upstream = {
    ...upstream,
    accounts: upstream.accounts.filter((a) => a.name === account),
    maxAttempts: 1,
  };
  const upstreamByName = new Map(snapshot.upstreamByName);
  upstreamByName.set(upstream.name, narrowed);
  return { ...snapshot, upstreamByName };
}

function destination(
  source: Replayable,
  options: ReplayOptions,
  snapshot: ConfigSnapshot,
): Destination {
  const { to, account } = options;
  if (to) {
    const targets = [{ upstream: to.upstream.name, model: to.model }];
    const label = `${to.upstream.name}/${to.model}`;
    return account
      ? { snapshot: pinned(snapshot, to.upstream, account.name), targets, label }
      : { snapshot, targets, label };
  }
  if (account) {
    // The model the original was sent as, where it went to this upstream; else this upstream's target in the mapping.
    const { record } = source;
    const chosen =
      (record.upstream === account.upstream.name ? record.mappedModel : undefined) ??
      resolveModel(snapshot.mappings, source.model, snapshot.upstreams[0]!.name).targets.find(
        (t) => t.upstream === account.upstream.name,
      )?.model;
    if (!chosen)
      throw new GatewayError(
        400,
        `Request ${record.requestId} did not go to upstream "${account.upstream.name}" and its mapping names no target there: give the model too, with to: "${account.upstream.name}/MODEL".`,
        { param: "account" },
      );
    return {
      snapshot: pinned(snapshot, account.upstream, account.name),
      targets: [{ upstream: account.upstream.name, model: chosen }],
      label: `${account.upstream.name}/${chosen}`,
    };
  }
  return { snapshot, label: `the mapping of "${source.model}"` };
}

/** Where the original went, to compute what it sent: its upstream, model and account where those still exist. */
function originalDestination(source: Replayable, snapshot: ConfigSnapshot): Destination {
  const { record } = source;
  const upstream = record.upstream ? snapshot.upstreamByName.get(record.upstream) : undefined;
  if (!upstream || !record.mappedModel)
    return { snapshot, label: `the mapping of "${source.model}"` };
  const targets = [{ upstream: upstream.name, model: record.mappedModel }];
  const label = `${upstream.name}/${record.mappedModel}`;
  return record.account && upstream.accounts.some((a) => a.name === record.account)
    ? { snapshot: pinned(snapshot, upstream, record.account), targets, label }
    : { snapshot, targets, label };
}

/** The logged request as the gateway's own context, on its route, under a request id of its own. */
async function replayContext(
  admin: RequestContext,
  source: Replayable,
  where: Destination,
  requestId: string,
  sink: RecordSink,
): Promise<RequestContext> {
  const { record } = source;
  // Gemini names the model in the path, which the log keeps as its template; its stream framing is SSE.
  const path = fillTemplate(record.route, { model: encodeURIComponent(source.model) });
  const query = record.dialect === "gemini" && record.stream ? "?alt=sse" : "";
  const lookup = await where.snapshot.routes.lookup(record.method, path);
  if (lookup.kind !== "route")
    throw new GatewayError(
      422,
      `Request ${record.requestId}'s route ${record.route} is not served by this configuration's routes.yaml.`,
      { param: "id" },
    );
  const url = new URL(path + query, admin.url.origin);
  // The client's own headers are not in the log: those its dialect's SDK always sends stand in.
  const headers = new Headers({
    "content-type": "application/json",
    "user-agent": "levity-replay",
  });
  if (lookup.match.route.dialect === "anthropic-messages")
    headers.set("anthropic-version", "2023-06-01");
  const request = new Request(url.href, {
    method: record.method,
    headers,
    body: source.text,
    signal: admin.request.signal,
  });
  const logSettings = where.snapshot.proxy.requestLog;
  const trace = new RequestTrace(requestId, record.method, path, sink, {
    bodyMaxBytes: logSettings.logBodies ? logSettings.bodyMaxBytes : undefined,
  });
  trace.matched(lookup.match.route);
  trace.replays(record.requestId);
  trace.requestBody(source.text);
  return {
    request,
    url,
    snapshot: where.snapshot,
    requestId,
    family: familyOfDialect(lookup.match.route.dialect ?? "openai-chat"),
    match: lookup.match,
    trace,
    // A fresh copy: the pipeline may normalise the body it is given.
    body: { json: structuredClone(source.json), text: source.text },
    targets: where.targets,
    replayOf: record.requestId,
  };
}

/** The operation the route names, with a refusal rendered in the client's shape as the gateway would. */
async function serve(ctx: RequestContext, services: GatewayServices): Promise<Response> {
  const handler = ctx.match.route.operation === "generate" ? generateOrCompact : generate;
  try {
    return await handler(ctx, services);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    ctx.trace.error(error.message);
    return errorResponse(ctx.family, error.status, error.message, error.details, ctx.requestId);
  }
}

/** What a dry run found: the upstream request, or why levity would answer without one. */
interface Planned {
  view?: UpstreamRequestView;
  /** levity itself would refuse it (no account free, a model too small for it, …): its status and words. */
  refusal?: { status: number; message: string };
}

/** What `source` would send to `where`, computed the way it would be sent, with nothing sent. */
async function dryRun(
  admin: RequestContext,
  services: GatewayServices,
  source: Replayable,
  where: Destination,
): Promise<Planned> {
  const client = new DryRunClient();
  // A pool of its own: the dry run takes no account's turn, request count or rpm slot (health is
  // read from the same store, so a cooling or disabled account is passed by as it would be).
  const pool = new AccountPool(services.store, { accountChanged() {} });
  const quiet: RecordSink = { started() {}, finished() {} };
  const ctx = await replayContext(admin, source, where, randomId("req_"), quiet);
  const response = await serve(ctx, { ...services, pool, upstreamClient: client });
  const call = client.calls[0];
  if (call) {
    await response.body?.cancel();
    return { view: viewOf(call, accountKeys(admin.snapshot)) };
  }
  if (response.status < 400) {
    await response.body?.cancel();
    return {};
  }
  return { refusal: { status: response.status, message: errorMessageOf(await response.text()) } };
}

/** The record of a replay goes where the gateway's records go: priced, to the metrics and the log; never to a key's counters. */
function replaySink(services: GatewayServices, snapshot: ConfigSnapshot): RecordSink {
  // The original's model was warned about when it was served, if it has no price.
  const price = createPricer({ warn() {} });
  return {
    started: () => services.metrics.started(),
    finished(record) {
      if (record) record.costUsd = price(snapshot, record);
      services.metrics.finished(snapshot.proxy.metricsEnabled ? record : undefined);
      if (record && snapshot.proxy.requestLog.enabled) services.requestLog.add(record);
    },
  };
}

interface SentReplay {
  view?: UpstreamRequestView;
  answer: {
    requestId: string;
    status: number;
    contentType: string;
    stream: boolean;
    upstream?: string;
    account?: string;
    mappedModel?: string;
    attempts?: number;
    body: string;
  };
}

async function send(
  admin: RequestContext,
  services: GatewayServices,
  source: Replayable,
  where: Destination,
): Promise<SentReplay> {
  const client = new RecordingClient(services.upstreamClient);
  const requestId = randomId("req_");
  const ctx = await replayContext(
    admin,
    source,
    where,
    requestId,
    replaySink(services, admin.snapshot),
  );
  let response = await serve(ctx, { ...services, upstreamClient: client });
  response.headers.set("x-request-id", requestId);
  response = ctx.trace.responded(response);
  // Read whole: the admin answer is one JSON document (a stream's events are its body's text).
  const body = await response.text();
  const call = client.calls.at(-1);
  const headers = response.headers;
  const attempts = headers.get("x-attempts");
  return {
    view: call && viewOf(call, accountKeys(admin.snapshot)),
    answer: {
      requestId,
      status: response.status,
      contentType: headers.get("content-type") ?? "",
      stream: source.record.stream,
      upstream: headers.get("x-upstream") ?? undefined,
      account: headers.get("x-account") ?? undefined,
      mappedModel: headers.get("x-mapped-model") ?? undefined,
      attempts: attempts === null ? undefined : Number(attempts),
      body,
    },
  };
}

/** A request as the diff compares it: its method and URL, then its body pretty-printed. */
function diffText(view: UpstreamRequestView | undefined): string[] {
  if (!view) return ["(no upstream request: the echo upstream answers inside levity)"];
  const body = view.body !== undefined ? JSON.stringify(view.body, null, 2) : (view.bodyText ?? "");
  return [`${view.method} ${view.url}`, ...body.split("\n")];
}

const replayRequest: OperationHandler = async (ctx, services) => {
  const id = ctx.match.params.id ?? "";
  const options = replayOptions(ctx.body?.json ?? {}, ctx.snapshot);
  const record = await findRecord(services, id);
  const source = replayable(record, ctx.snapshot);
  const where = destination(source, options, ctx.snapshot);
  const answer: Record<string, unknown> = {
    original: {
      requestId: record.requestId,
      method: record.method,
      route: record.route,
      dialect: record.dialect,
      model: source.model,
      stream: record.stream,
      status: record.status,
      upstream: record.upstream,
      mappedModel: record.mappedModel,
      account: record.account,
      replayOf: record.replayOf,
    },
    target: {
      to: where.label,
      account: options.account
        ? `${options.account.upstream.name}/${options.account.name}`
        : undefined,
    },
    dryRun: options.dryRun,
  };
  let now: UpstreamRequestView | undefined;
  if (options.dryRun) {
    const planned = await dryRun(ctx, services, source, where);
    now = planned.view;
    answer.upstreamRequest = now ?? null;
    if (planned.refusal) answer.refusal = planned.refusal;
  } else {
    const sent = await send(ctx, services, source, where);
    now = sent.view;
    answer.upstreamRequest = now ?? null;
    answer.replay = sent.answer;
  }
  if (options.diff) {
    const before = await dryRun(ctx, services, source, originalDestination(source, ctx.snapshot));
    answer.diff = {
      // levity logs the client's body, not the upstream's: the original's is computed.
      original: { source: "computed", request: before.view ?? null },
      replay: { source: options.dryRun ? "dry-run" : "sent", request: now ?? null },
      text: formatDiff(diffLines(diffText(before.view), diffText(now))),
    };
  }
  // Whatever an upstream echoed, no account key leaves in the answer.
  return new Response(maskSecrets(JSON.stringify(answer), accountKeys(ctx.snapshot)), {
    headers: { "content-type": "application/json" },
  });
};

export const REPLAY_HANDLERS: Readonly<Record<"admin-replay", OperationHandler>> = {
  "admin-replay": replayRequest,
};
