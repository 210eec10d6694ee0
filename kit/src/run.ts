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
import { type AnswerView, type Dialect, DIALECTS, type Json, type RequestView } from "./dialect.ts";
import { MODULES, type Route, routeOf } from "./dialects/index.ts";
import type { Fakes, Received } from "./fakes/server.ts";
import type { Exchange, Fixture, RecordedRequest } from "./fixtures.ts";
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

/**
 * What reached each fake since `at`, taken out of the fake's list: a long run (every recorded
 * session, a few hundred requests of tens of kilobytes each) would otherwise hold them all.
 */
function since(fakes: Fakes, at: Record<Dialect, number>): Record<Dialect, Received[]> {
  const fresh = {} as Record<Dialect, Received[]>;
  for (const dialect of DIALECTS) fresh[dialect] = fakes[dialect].received.splice(at[dialect]);
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

const cut = (text: string, length: number) => text.replace(/\s+/g, " ").slice(0, length);
const got = (answer: ClientAnswer, length = 120) =>
  answer.error ?? `${answer.status} ${cut(answer.text, length)}`;

/** One recorded request made ready for the dialect under test, and what its client asked for. */
interface Turn {
  recorded: RecordedRequest;
  label: string;
  route: Route;
  client: Dialect;
  request: Outgoing;
  view: RequestView;
  usageAsked: boolean;
}

function prepare(ctx: Context, recorded: RecordedRequest, route: Route, label: string): Turn {
  const { options, target } = ctx;
  const request = outgoing(options.baseUrl, recorded, options.models[target], options.key);
  Object.assign(request.headers, options.headers?.[target]);
  const body = request.body as Json;
  const view = MODULES[route.dialect].readRequest(request.url, body);
  // A chat stream carries usage only when the client asked for it.
  const usageAsked =
    route.dialect !== "openai-chat" || !view.stream || body.stream_options?.include_usage === true;
  return { recorded, label, route, client: route.dialect, request, view, usageAsked };
}

/** The gateway has no route for this client API: it refused with nothing sent to any fake. */
const noRoute = (answer: ClientAnswer, fresh: Record<Dialect, Received[]>) =>
  NO_ROUTE.has(answer.status) && DIALECTS.every((d) => fresh[d].length === 0);

/** Whether the request reached the fake under test, and no other: the request it got, if so. */
function reach(
  ctx: Context,
  turn: Turn,
  answer: ClientAnswer,
  fresh: Record<Dialect, Received[]>,
): { found: Case; upstream?: Received } {
  const { target } = ctx;
  const name = "reached upstream";
  if (noRoute(answer, fresh))
    return {
      found: {
        name: "route",
        status: "n/a",
        reason: `no route for ${turn.label}: ${got(answer, 60)}`,
      },
    };
  const upstream = fresh[target]
    .filter(
      (r) =>
        r.route?.dialect === target &&
        (r.route.operation === "generate" || r.route.operation === turn.route.operation),
    )
    .at(-1);
  const elsewhere = DIALECTS.filter((d) => d !== target && fresh[d].length > 0);
  if (upstream)
    return elsewhere.length
      ? {
          found: { name, status: "fail", reason: `also sent to the ${elsewhere.join(", ")} fake` },
          upstream,
        }
      : { found: { name, status: "pass" }, upstream };
  const stray = fresh[target][0];
  const reason = elsewhere.length
    ? `sent to the ${elsewhere.join(", ")} fake, not the ${target} one`
    : stray
      ? `the ${target} fake got ${stray.method} ${stray.path.split("?")[0]}, not a ${target} request`
      : `nothing reached the ${target} fake; the client got ${got(answer)}`;
  return { found: { name, status: "fail", reason } };
}

/** What the gateway sent the fake under test, against what the client sent. */
function upstreamCases(ctx: Context, turn: Turn, upstream: Received): Case[] {
  const { options, target } = ctx;
  const there = upstream.view ?? MODULES[target].readRequest(upstream.path, upstream.body ?? {});
  const model = modelCase(there, options.upstreamModels?.[target] ?? options.models[target]);
  // A compaction a gateway emulates is its own summarizing request, not the client's translated.
  if (turn.route.operation === "compact") return [model];
  return [
    model,
    toolsCase(turn.view, there),
    systemCase(target, turn.view, there),
    historySignaturesCase(turn.client, target, turn.view, there),
    cacheCase(target, turn.view, there),
    imagesCase(turn.view, upstream.text),
  ];
}

/**
 * The next turn, as the CLI would send it (the answer appended, each call answered by its id):
 * the result must reach the fake under the id it issued, with its own signature back.
 */
async function nextTurnCases(
  ctx: Context,
  turn: Turn,
  upstream: Received,
  answer: AnswerView,
): Promise<Case[]> {
  const { options, target } = ctx;
  const body = MODULES[turn.client].continueBody(turn.request.body as Json, answer, TOOL_RESULT);
  const next = await exchangeWith(ctx, { ...turn.request, body });
  const nextUpstream = next.fresh[target]
    .filter((r) => r.route?.dialect === target && r.route.operation === "generate")
    .at(-1);
  const nextView = nextUpstream?.view;
  const signature = upstream.issued?.signature;
  const cases = [
    pairingCase(target, upstream.issued, nextView),
    ownSignatureCase(target, signature, nextView),
  ];
  if (nextView) cases.push(historySignaturesCase(turn.client, target, turn.view, nextView));
  const status = statusCase(next.answer);
  if (status.status === "fail") return [...cases, { ...status, name: "next turn status" }];
  const view = readClientAnswer(turn.client, next.answer);
  cases.push(
    shapeCase(turn.view.stream, view, "next turn "),
    stopCase(turn.client, view, nextUpstream?.issued?.callName !== undefined, "next turn "),
    usageCase(view, turn.usageAsked, "next turn "),
  );
  const other = DIALECTS[(DIALECTS.indexOf(target) + 1) % DIALECTS.length]!;
  if (signature && options.dialects.includes(other))
    cases.push(await crossCase(ctx, turn.recorded, body, other, signature));
  return cases;
}

async function runExchange(
  ctx: Context,
  exchange: Exchange,
  index: number,
): Promise<ExchangeResult> {
  const recorded = exchange.request;
  const label = `${recorded.method} ${recorded.path.split("?")[0]}`;
  const result: ExchangeResult = {
    index,
    purpose: exchange.purpose ?? "main",
    request: label,
    cases: [],
  };
  const cases = result.cases;
  const route = routeOf(recorded.method, recorded.path);
  if (!route || recorded.body === undefined) {
    cases.push({ name: "replayed", status: "n/a", reason: `not a model request (${label})` });
    return result;
  }
  const turn = prepare(ctx, recorded, route, label);
  const { answer, fresh } = await exchangeWith(ctx, turn.request);
  if (route.operation === "count") {
    // A gateway may count by itself: only the answer is checked.
    if (noRoute(answer, fresh))
      cases.push({
        name: "route",
        status: "n/a",
        reason: `no route for ${label}: ${got(answer, 60)}`,
      });
    else cases.push(statusCase(answer));
    if (answer.status === 200) cases.push(countCase(turn.client, answer));
    return result;
  }
  const { found, upstream } = reach(ctx, turn, answer, fresh);
  cases.push(found);
  if (!upstream) return result;
  cases.push(...upstreamCases(ctx, turn, upstream), statusCase(answer));
  if (answer.status !== 200) return result;
  const view = readClientAnswer(turn.client, answer);
  cases.push(shapeCase(turn.view.stream, view));
  if (route.operation === "compact") {
    cases.push(usageCase(view, true));
    return result;
  }
  const called = upstream.issued?.callName;
  cases.push(
    stopCase(turn.client, view, called !== undefined),
    toolCallCase(turn.client, view, called),
    usageCase(view, turn.usageAsked),
  );
  if (called && view.toolCalls.length > 0)
    cases.push(...(await nextTurnCases(ctx, turn, upstream, view)));
  return result;
}

/**
 * The same conversation continued on another upstream, as a failover or a model switch would
 * send it: the signature the first upstream issued must not reach the second as if it were its own.
 */
async function crossCase(
  ctx: Context,
  recorded: RecordedRequest,
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
      reason: `the conversation continued on ${other} did not reach it: ${got(answer)}`,
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
