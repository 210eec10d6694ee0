import {
  type Case,
  cacheCase,
  countCase,
  historySignaturesCase,
  imagesCase,
  modelCase,
  ownSignatureCase,
  pairingCase,
  readClientAnswer,
  shapeCase,
  type Status,
  statusCase,
  stopCase,
  systemCase,
  toolCallCase,
  toolsCase,
  usageCase,
} from "./checks.ts";
import { type Dialect, DIALECTS, type Json } from "./dialect.ts";
import { MODULES, routeOf } from "./dialects/index.ts";
import type { Fakes, Received } from "./fakes/server.ts";
import type { Exchange, Fixture } from "./fixtures.ts";
import { type ClientAnswer, type Outgoing, outgoing, send } from "./replay.ts";

/*
 * The run: every recorded client request of every fixture, sent to the gateway once per upstream
 * dialect with that dialect's model name, checked on both sides, and folded into one result per
 * (CLI session x upstream dialect).
 */

export const TOOL_RESULT = "kit: the tool ran and printed this line";
const NO_ROUTE = new Set([404, 405, 501]);

export interface KitOptions {
  baseUrl: string;
  key: string;
  models: Record<Dialect, string>;
  /** The model each fake should be asked for, when the gateway sends another name than it got. */
  upstreamModels?: Partial<Record<Dialect, string>>;
  fakes: Fakes;
  /** Headers added to every request while DIALECT's fake is under test (Portkey routes by them). */
  headers?: Partial<Record<Dialect, Record<string, string>>>;
  fixtures: Fixture[];
  /** The upstream dialects the gateway was configured to reach; the others are n/a. */
  dialects: readonly Dialect[];
  timeoutMs: number;
  onCell?: (cell: Cell) => void;
}

export interface ExchangeResult {
  index: number;
  purpose: string;
  request: string;
  cases: Case[];
}

export interface Cell {
  cli: string;
  version: string;
  session: string;
  file: string;
  upstream: Dialect;
  status: Status;
  reason?: string;
  exchanges: ExchangeResult[];
}

interface Context {
  options: KitOptions;
  target: Dialect;
}

function marks(fakes: Fakes): Record<Dialect, number> {
  const at = {} as Record<Dialect, number>;
  for (const dialect of DIALECTS) at[dialect] = fakes[dialect].received.length;
  return at;
}

function since(fakes: Fakes, at: Record<Dialect, number>): Record<Dialect, Received[]> {
  const fresh = {} as Record<Dialect, Received[]>;
  for (const dialect of DIALECTS) fresh[dialect] = fakes[dialect].received.slice(at[dialect]);
  return fresh;
}

async function exchangeWith(
  ctx: Context,
  request: Outgoing,
): Promise<{ answer: ClientAnswer; fresh: Record<Dialect, Received[]> }> {
  const at = marks(ctx.options.fakes);
  const answer = await send(request, ctx.options.timeoutMs);
  return { answer, fresh: since(ctx.options.fakes, at) };
}

const cut = (text: string) => text.replace(/\s+/g, " ").slice(0, 120);

async function runExchange(
  ctx: Context,
  exchange: Exchange,
  index: number,
): Promise<ExchangeResult> {
  const { options, target } = ctx;
  const recorded = exchange.request;
  const result: ExchangeResult = {
    index,
    purpose: exchange.purpose ?? "main",
    request: `${recorded.method} ${recorded.path.split("?")[0]}`,
    cases: [],
  };
  const cases = result.cases;
  const route = routeOf(recorded.method, recorded.path);
  if (!route || recorded.body === undefined) {
    cases.push({
      name: "replayed",
      status: "n/a",
      reason: `not a model request (${result.request})`,
    });
    return result;
  }
  const client = route.dialect;
  const model = options.models[target];
  const request = outgoing(options.baseUrl, recorded, model, options.key);
  Object.assign(request.headers, options.headers?.[target]);
  const clientView = MODULES[client].readRequest(request.url, request.body as Json);
  const { answer, fresh } = await exchangeWith(ctx, request);
  const anywhere = DIALECTS.flatMap((d) => fresh[d]);

  if (route.operation === "count") {
    if (NO_ROUTE.has(answer.status) && anywhere.length === 0) {
      cases.push({
        name: "route",
        status: "n/a",
        reason: `no route for ${result.request} (${answer.status})`,
      });
      return result;
    }
    cases.push(statusCase(answer));
    if (answer.status === 200) cases.push(countCase(client, answer));
    return result;
  }

  const ofTarget = (r: Received) => r.route?.dialect === target;
  const atTarget = fresh[target].filter(
    (r) =>
      ofTarget(r) && (r.route?.operation === "generate" || r.route?.operation === route.operation),
  );
  if (atTarget.length === 0) {
    if (NO_ROUTE.has(answer.status) && anywhere.length === 0) {
      cases.push({
        name: "route",
        status: "n/a",
        reason: `no route for ${result.request} (${answer.status})`,
      });
      return result;
    }
    const elsewhere = DIALECTS.filter((d) => d !== target && fresh[d].length > 0);
    const stray = fresh[target][0];
    cases.push({
      name: "reached upstream",
      status: "fail",
      reason: elsewhere.length
        ? `sent to the ${elsewhere.join(", ")} fake, not the ${target} one`
        : stray
          ? `the ${target} fake got ${stray.method} ${stray.path.split("?")[0]}, not a ${target} request`
          : `nothing reached the ${target} fake; the client got ${answer.error ?? `${answer.status} ${cut(answer.text)}`}`,
    });
    return result;
  }
  const wrong = DIALECTS.filter((d) => d !== target && fresh[d].length > 0);
  cases.push(
    wrong.length
      ? {
          name: "reached upstream",
          status: "fail",
          reason: `also sent to the ${wrong.join(", ")} fake`,
        }
      : { name: "reached upstream", status: "pass" },
  );
  const upstream = atTarget.at(-1)!;
  const upstreamView =
    upstream.view ?? MODULES[target].readRequest(upstream.path, upstream.body ?? {});
  cases.push(
    modelCase(upstreamView, options.upstreamModels?.[target] ?? model),
    toolsCase(clientView, upstreamView),
    systemCase(target, clientView, upstreamView),
    historySignaturesCase(client, target, clientView, upstreamView),
    cacheCase(target, clientView, upstreamView),
    imagesCase(clientView, upstream.text),
  );

  cases.push(statusCase(answer));
  if (answer.status !== 200) return result;
  const view = readClientAnswer(client, answer);
  const streamed = clientView.stream;
  const body = request.body as Json;
  const usageAsked =
    client !== "openai-chat" || !streamed || body.stream_options?.include_usage === true;
  cases.push(shapeCase(streamed, view));
  if (route.operation === "compact") {
    cases.push(usageCase(view, true));
    return result;
  }
  const called = upstream.issued?.callName;
  cases.push(
    stopCase(client, view, called !== undefined),
    toolCallCase(client, view, called),
    usageCase(view, usageAsked),
  );
  if (!called || view.toolCalls.length === 0) return result;

  // The next turn, as the CLI would send it: the answer appended and each call answered by its id.
  const nextRequest: Outgoing = {
    ...request,
    body: MODULES[client].continueBody(body, view, TOOL_RESULT),
  };
  const next = await exchangeWith(ctx, nextRequest);
  const nextUpstream = next.fresh[target]
    .filter((r) => ofTarget(r) && r.route?.operation === "generate")
    .at(-1);
  const nextView = nextUpstream?.view;
  cases.push(
    pairingCase(target, upstream.issued, nextView),
    ownSignatureCase(target, upstream.issued?.signature, nextView),
  );
  if (nextView) cases.push(historySignaturesCase(client, target, clientView, nextView));
  const nextStatus = statusCase(next.answer);
  if (nextStatus.status === "fail") {
    cases.push({ ...nextStatus, name: "next turn status" });
    return result;
  }
  const nextAnswer = readClientAnswer(client, next.answer);
  cases.push(
    shapeCase(streamed, nextAnswer, "next turn "),
    stopCase(client, nextAnswer, nextUpstream?.issued?.callName !== undefined, "next turn "),
    usageCase(nextAnswer, usageAsked, "next turn "),
  );
  const signature = upstream.issued?.signature;
  const other = DIALECTS[(DIALECTS.indexOf(target) + 1) % DIALECTS.length]!;
  if (signature && options.dialects.includes(other))
    cases.push(await crossCase(ctx, recorded, nextRequest.body as Json, other, signature));
  return result;
}

/**
 * The same conversation continued on another upstream, as a failover or a model switch would
 * send it: the signature the first upstream issued must not reach the second as if it were its own.
 */
async function crossCase(
  ctx: Context,
  recorded: Exchange["request"],
  body: Json,
  other: Dialect,
  signature: string,
): Promise<Case> {
  const name = "signature kept from another upstream";
  const { options, target } = ctx;
  const request = outgoing(
    options.baseUrl,
    { ...recorded, body },
    options.models[other],
    options.key,
  );
  Object.assign(request.headers, options.headers?.[other]);
  const { answer, fresh } = await exchangeWith(ctx, request);
  const there = fresh[other].filter((r) => r.route?.dialect === other).at(-1)?.view;
  if (!there)
    return {
      name,
      status: "fail",
      reason: `the conversation continued on ${other} did not reach it: ${answer.error ?? `${answer.status} ${cut(answer.text)}`}`,
    };
  return there.signatures.some((s) => s.includes(signature))
    ? {
        name,
        status: "fail",
        reason: `the ${target} upstream's signature was sent to ${other} as its own`,
      }
    : { name, status: "pass" };
}

function fold(cell: Cell): Cell {
  for (const exchange of cell.exchanges) {
    const failed = exchange.cases.find((c) => c.status === "fail");
    if (failed) {
      cell.status = "fail";
      cell.reason = `${failed.name}: ${failed.reason} (request ${exchange.index + 1}, ${exchange.purpose})`;
      return cell;
    }
  }
  const cases = cell.exchanges.flatMap((e) => e.cases);
  if (cases.some((c) => c.status === "pass")) {
    cell.status = "pass";
    const skipped = cell.exchanges.filter((e) => e.cases.every((c) => c.status === "n/a"));
    if (skipped.length > 0)
      cell.reason = skipped.map((e) => `request ${e.index + 1}: ${e.cases[0]?.reason}`).join("; ");
    return cell;
  }
  cell.status = "n/a";
  cell.reason = cases[0]?.reason ?? "no request to replay";
  return cell;
}

export async function runKit(options: KitOptions): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const fixture of options.fixtures) {
    for (const target of DIALECTS) {
      const cell: Cell = {
        cli: fixture.cli,
        version: fixture.version,
        session: fixture.session,
        file: fixture.file,
        upstream: target,
        status: "n/a",
        exchanges: [],
      };
      if (!options.dialects.includes(target)) {
        cell.reason = "the gateway was not given a route to this upstream for this run";
      } else {
        const ctx = { options, target };
        for (const [index, exchange] of fixture.exchanges.entries())
          cell.exchanges.push(await runExchange(ctx, exchange, index));
        fold(cell);
      }
      options.onCell?.(cell);
      cells.push(cell);
    }
  }
  return cells;
}
