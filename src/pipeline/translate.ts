import { CLIENT_CODECS } from "../codecs/index.ts";
import { byteStream, idWithPrefix, type ClientContext } from "../codecs/shared.ts";
import type { Dialect } from "../config/schema.ts";
import type { Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../http/errors.ts";
import type { ChatRequest, ChatResponse, StreamEvent } from "../ir.ts";
import type { Resolution } from "../mapping/resolve.ts";
import { jsonResponse, type RequestContext } from "../operations/context.ts";
import type { StateStore } from "../state/store.ts";
import { ResponseAssembler } from "./assemble.ts";
import { echoProducer, httpProducer, type Producer } from "./producer.ts";
import { restoreToolCalls, rememberToolCalls } from "./tool-state.ts";

const SSE_HEADERS: Record<string, string> = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

export interface Translation {
  ctx: RequestContext;
  dialect: Dialect;
  resolution: Resolution;
  upstream: Upstream;
  stream: boolean;
  store: StateStore;
  /** Headers every answer to this request carries (X-Mapped-Model, X-Upstream, X-Account). */
  headers: (accountName: string) => Headers;
}

function clientContext(ctx: RequestContext, request: ChatRequest, dialect: Dialect): ClientContext {
  const json = ctx.body!.json;
  const streamOptions = json.stream_options;
  const include = Array.isArray(json.include) ? json.include : [];
  return {
    request,
    includeUsage: typeof streamOptions === "object" && streamOptions !== null && (streamOptions as Record<string, unknown>).include_usage === true,
    geminiFraming: ctx.url.searchParams.get("alt") === "sse" ? "sse" : "json-array",
    responses:
      dialect === "openai-responses"
        ? {
            previousResponseId: typeof json.previous_response_id === "string" ? json.previous_response_id : undefined,
            store: json.store !== false,
            instructions: typeof json.instructions === "string" ? json.instructions : undefined,
            includeEncryptedReasoning: include.includes("reasoning.encrypted_content"),
          }
        : undefined,
  };
}

/** previous_response_id: the stored conversation goes before this request's input. */
function withHistory(t: Translation, request: ChatRequest): number {
  const previous = t.ctx.body!.json.previous_response_id;
  if (t.dialect !== "openai-responses" || typeof previous !== "string") return 0;
  const history = t.store.conversation(previous);
  if (!history) {
    throw new GatewayError(
      404,
      `Previous response with id '${previous}' not found. levity keeps the responses it produced (unless store was false); a response an OpenAI upstream produced directly lives at that upstream.`,
      { param: "previous_response_id", code: "previous_response_not_found" },
    );
  }
  request.turns = [...history, ...request.turns];
  return history.length;
}

/** A stream that breaks or ends early becomes an error event the client's dialect can carry, never a silent truncation. */
async function* guarded(events: AsyncIterable<StreamEvent>, upstream: Upstream, onFinish: (response: ChatResponse) => void): AsyncGenerator<StreamEvent> {
  const assembler = new ResponseAssembler();
  try {
    for await (const event of events) {
      assembler.push(event);
      // Before the yield: a renderer stops pulling once it has the finish event.
      if (event.type === "finish") onFinish(assembler.result());
      yield event;
      if (event.type === "finish" || event.type === "error") return;
    }
    yield { type: "error", status: 502, message: `Upstream "${upstream.name}" ended its stream without finishing the answer.` };
  } catch (error) {
    yield { type: "error", status: 502, message: `Upstream "${upstream.name}" broke off its stream: ${(error as Error).message}` };
  }
}

/** Any client dialect to any upstream: client request -> IR -> upstream, and the answer back the same way. */
export async function translate(t: Translation): Promise<Response> {
  const { ctx, dialect, resolution, upstream } = t;
  const client = CLIENT_CODECS[dialect];
  const request = client.parseRequest(ctx.body!.json, resolution.target.model, t.stream);
  const historyLength = withHistory(t, request);
  const newInput = request.turns.slice(historyLength);
  restoreToolCalls(t.store, request);
  const producer: Producer =
    upstream.protocol === "echo"
      ? echoProducer(upstream)
      : httpProducer(upstream, upstream.accounts[0]!, { clientHeaders: ctx.request.headers, clientSignal: ctx.request.signal, timeoutMs: ctx.snapshot.proxy.requestTimeoutMs });
  const headers = t.headers(producer.accountName);

  if (ctx.match.route.operation === "count-tokens") {
    const { tokens, estimated } = await producer.count(request);
    if (estimated) headers.set("x-levity-token-count", "estimate");
    return jsonResponse(dialect === "gemini" ? { totalTokens: tokens, promptTokensDetails: [{ modality: "TEXT", tokenCount: tokens }] } : { input_tokens: tokens }, { headers });
  }

  const render = clientContext(ctx, request, dialect);
  const remember = (response: ChatResponse) => {
    rememberToolCalls(t.store, response);
    if (render.responses?.store) {
      t.store.saveResponse({ id: idWithPrefix(response.id, "resp_"), previousId: render.responses.previousResponseId, model: response.model, input: newInput, output: response.parts });
    }
  };

  if (!t.stream) {
    const response = await producer.complete(request);
    remember(response);
    return jsonResponse(client.renderResponse(response, render), { headers });
  }
  const events = await producer.stream(request);
  const framing = dialect === "gemini" && render.geminiFraming === "json-array" ? { "content-type": "application/json" } : SSE_HEADERS;
  for (const [name, value] of Object.entries(framing)) headers.set(name, value);
  return new Response(byteStream(client.renderStream(guarded(events, upstream, remember), render)), { headers });
}
