import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Dialect, DIALECTS, type Json, parseJson, type RequestView } from "../dialect.ts";
import { MODULES, type Route, routeOf } from "../dialects/index.ts";
import { planFor } from "./plan.ts";

/*
 * One fake upstream per dialect on loopback. Each records every request it receives and answers
 * the way its provider does, in its exact wire format, streamed or whole as asked. The kit's own,
 * so the kit needs nothing but Node.
 */

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  text: string;
  body?: Json;
  route?: Route;
  view?: RequestView;
  /** What the fake issued in its answer: the plan's tool call id and signature. */
  issued?: { callId?: string; callName?: string; signature?: string };
}

export interface Fake {
  dialect: Dialect;
  port: number;
  /** The fake's origin; the OpenAI-style fakes serve under `${origin}/v1`. */
  origin: string;
  received: Received[];
  close(): Promise<void>;
}

export type Fakes = Record<Dialect, Fake>;

function notFound(dialect: Dialect, path: string): { status: number; body: Json } {
  const message = `Unknown path ${path} on the kit's ${dialect} fake`;
  if (dialect === "anthropic")
    return { status: 404, body: { type: "error", error: { type: "not_found_error", message } } };
  if (dialect === "gemini")
    return { status: 404, body: { error: { code: 404, message, status: "NOT_FOUND" } } };
  return {
    status: 404,
    body: { error: { message, type: "invalid_request_error", param: null, code: null } },
  };
}

function badRequest(dialect: Dialect, message: string): { status: number; body: Json } {
  if (dialect === "anthropic")
    return {
      status: 400,
      body: { type: "error", error: { type: "invalid_request_error", message } },
    };
  if (dialect === "gemini")
    return { status: 400, body: { error: { code: 400, message, status: "INVALID_ARGUMENT" } } };
  return {
    status: 400,
    body: { error: { message, type: "invalid_request_error", param: null, code: null } },
  };
}

function countAnswer(dialect: Dialect, tokens: number): Json {
  if (dialect === "anthropic") return { input_tokens: tokens };
  if (dialect === "gemini") return { totalTokens: tokens };
  return { object: "response.input_tokens", input_tokens: tokens };
}

function compactAnswer(body: Json, n: number, tokens: number): Json {
  const kept = (Array.isArray(body.input) ? body.input : []).filter(
    (item: Json) => item?.role === "user",
  );
  return {
    id: `resp_kitcompact${n}`,
    object: "response.compaction",
    created_at: 1_780_000_000,
    output: [
      ...kept,
      { type: "compaction", id: `cmp_kit${n}`, encrypted_content: `kit-compaction-${n}` },
    ],
    usage: { input_tokens: tokens, output_tokens: 7, total_tokens: tokens + 7 },
  };
}

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { "content-type": contentType });
  response.end(body);
}

export async function startFake(dialect: Dialect, port = 0): Promise<Fake> {
  const received: Received[] = [];
  let count = 0;
  const server: Server = createServer(async (request, response) => {
    const text = await read(request);
    const path = request.url ?? "/";
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers))
      if (typeof value === "string") headers[name] = value;
    const json = parseJson(text);
    const record: Received = { method: request.method ?? "GET", path, headers, text };
    if (json && typeof json === "object" && !Array.isArray(json)) record.body = json as Json;
    record.route = routeOf(record.method, path);
    received.push(record);
    const answerJson = (status: number, body: Json) =>
      send(response, status, "application/json", JSON.stringify(body));
    if (request.method === "GET" && /\/models\/?$/.test(path.split("?")[0]!)) {
      answerJson(200, dialect === "gemini" ? { models: [] } : { object: "list", data: [] });
      return;
    }
    const route = record.route;
    if (!route || route.dialect !== dialect) {
      const { status, body } = notFound(dialect, path);
      answerJson(status, body);
      return;
    }
    if (!record.body) {
      const { status, body } = badRequest(dialect, "The request body is not a JSON object.");
      answerJson(status, body);
      return;
    }
    const module = MODULES[dialect];
    const view = module.readRequest(path, record.body);
    record.view = view;
    const tokens = Math.max(1, Math.ceil(text.length / 4));
    count++;
    if (route.operation === "count") return answerJson(200, countAnswer(dialect, tokens));
    if (route.operation === "compact")
      return answerJson(200, compactAnswer(record.body, count, tokens));
    const plan = planFor(dialect, view, record.body, count);
    record.issued = {
      callId: plan.call?.id || undefined,
      callName: plan.call?.name,
      signature: plan.thinking?.signature ?? plan.callSignature,
    };
    const model = view.model ?? "kit-model";
    const answer = module.writeAnswer(model, plan, view, record.body);
    send(response, answer.status, answer.contentType, answer.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    dialect,
    port: bound,
    origin: `http://127.0.0.1:${bound}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The four fakes: on `base`, base+1, base+2, base+3 in DIALECTS order, or on OS-chosen ports. */
export async function startFakes(base?: number): Promise<Fakes> {
  const fakes: Partial<Fakes> = {};
  try {
    for (const [index, dialect] of DIALECTS.entries())
      fakes[dialect] = await startFake(dialect, base ? base + index : 0);
  } catch (error) {
    await Promise.all(Object.values(fakes).map((fake) => fake.close()));
    throw error;
  }
  return fakes as Fakes;
}

export async function closeFakes(fakes: Fakes): Promise<void> {
  await Promise.all(Object.values(fakes).map((fake) => fake.close()));
}

/** Where a gateway reaches each fake: its base URL in that provider's SDK convention. */
export function baseUrlOf(fake: Fake): string {
  return fake.dialect === "openai-responses" || fake.dialect === "openai-chat"
    ? `${fake.origin}/v1`
    : fake.origin;
}
