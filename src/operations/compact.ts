import {
  compactionItem,
  COMPACTION_TYPES,
  decodeCompaction,
} from "../codecs/openai-responses/compaction.ts";
import { UPSTREAM_CODECS } from "../codecs/index.ts";
import { RESPONSES_COMPACT_PATH } from "../codecs/openai-responses/endpoint.ts";
import { randomId, sseEvent } from "../codecs/shared.ts";
import type { Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../failure.ts";
import type { RouteDef } from "../config/route-table.ts";
import { resolveModel } from "../mapping/resolve.ts";
import type { Target } from "../mapping/table.ts";
import { failureOf } from "../failure.ts";
import { modelProblem } from "./generate.ts";
import { failureFromAnswer } from "../pipeline/answer-failure.ts";
import { serveWithPool, type TargetRunner } from "../pipeline/serve.ts";
import type { UpstreamClient } from "../upstream/forward.ts";
import {
  clientResponseHeaders,
  forwardsNatively,
  upstreamRequestHeaders,
} from "../upstream/protocol.ts";
import type { GatewayServices, RequestContext } from "./context.ts";
import { generate, poolContext } from "./generate.ts";
import { sameDialectFailure } from "../pipeline/passthrough.ts";

/*
 * POST /v1/responses/compact (docs/codex-transports.md): the client sends a conversation
 * ({model, input, instructions, ...}) and gets back {output: [...]}, the items that replace its
 * history from then on. An upstream that serves the Responses API natively gets the request as it
 * is. Over any other upstream levity emulates it: the mapped model writes a summary of the
 * conversation (an ordinary generation through the pipeline), and the answer keeps the user's
 * messages as they were and puts a compaction item carrying the summary after them, as OpenAI
 * does. When that item comes back in a later input, the Responses codec expands it to the summary
 * (src/codecs/openai-responses/compaction.ts).
 */

const SUMMARY_INSTRUCTIONS =
  "You are compacting a conversation between a user and an AI coding assistant so that the assistant can continue it with less context. " +
  "Write a handoff summary for the assistant that will resume the work. Include: the user's goals and requests; decisions made and why; " +
  "the current state of the work, with exact file paths, commands, identifiers, errors and values that matter; what was tried and failed; " +
  "and what remains to be done, as clear next steps. Be complete but concise. Write only the summary.";

export async function compactResponses(
  ctx: RequestContext,
  services: GatewayServices,
): Promise<Response> {
  const json = ctx.body?.json;
  if (!json) throw new Error("the compact route has no body");
  const model = json.model;
  if (typeof model !== "string" || model.trim() === "")
    throw new GatewayError(400, modelProblem(model), { param: "model" });
  const input = json.input;
  if (!Array.isArray(input) && typeof input !== "string")
    throw new GatewayError(400, "input must be a string or a list of input items.", {
      param: "input",
    });

  const snapshot = ctx.snapshot;
  const { targets } = resolveModel(snapshot.mappings, model, snapshot.upstreams[0]!.name);
  const upstreamOf = (target: Target): Upstream => {
    const upstream = snapshot.upstreamByName.get(target.upstream);
    if (!upstream) throw new Error(`mapping target names unknown upstream ${target.upstream}`);
    return upstream;
  };
  // The first target decides: its upstream's own compaction, or levity's.
  if (targets.length > 0 && forwardsNatively(upstreamOf(targets[0]!), "openai-responses")) {
    const native = targets.filter((t) => forwardsNatively(upstreamOf(t), "openai-responses"));
    return forwardCompact(
      ctx,
      services,
      native.map((t) => nativeRunner(ctx, t, upstreamOf(t), services.upstreamClient)),
    );
  }
  return emulateCompact(
    ctx,
    services,
    model,
    typeof input === "string" ? [{ type: "message", role: "user", content: input }] : input,
  );
}

/** What levity's own compaction produced: the summary, and where it came from (for the routing headers). */
interface Summarized {
  summary: string;
  usage: unknown;
  headers: Headers;
}

/** The summary is an ordinary, whole (not streamed) Responses request through the pipeline: mapping, pool, translation. */
async function summarize(
  ctx: RequestContext,
  services: GatewayServices,
  model: string,
  input: unknown[],
): Promise<Summarized | Response> {
  const transcript = renderTranscript(input);
  const request = {
    model,
    instructions: SUMMARY_INSTRUCTIONS,
    input: [
      {
        type: "message",
        role: "user",
        content: `${transcript}\n\n---\nWrite the handoff summary of the conversation above.`,
      },
    ],
    stream: false,
    store: false,
  };
  const route = responsesRoute(ctx);
  const answer = await generate(
    {
      ...ctx,
      // Named, not spread: the gateway's context parses its URL in a getter, which a spread skips.
      url: ctx.url,
      body: { json: request, text: JSON.stringify(request) },
      match: { route, params: {}, path: route.path },
    },
    services,
  );
  if (!answer.ok) return answer;
  const json: unknown = await answer.json();
  const summary = outputText(json);
  if (summary.trim() === "")
    throw new GatewayError(
      502,
      `The model "${model}" wrote an empty summary; the conversation was not compacted.`,
    );
  const headers = new Headers();
  for (const name of ["x-mapped-model", "x-upstream", "x-account", "x-attempts"]) {
    const value = answer.headers.get(name);
    if (value) headers.set(name, value);
  }
  headers.set("x-levity-compaction", "emulated");
  return { summary, usage: isObject(json) ? (json.usage ?? null) : null, headers };
}

async function emulateCompact(
  ctx: RequestContext,
  services: GatewayServices,
  model: string,
  input: unknown[],
): Promise<Response> {
  const done = await summarize(ctx, services, model, input);
  if (done instanceof Response) return done;
  // The user's own messages stay (Codex rebuilds its history from this list), as output items; the rest becomes the summary.
  const kept = input
    .filter(
      (item): item is Record<string, unknown> =>
        isObject(item) && (item.type ?? "message") === "message" && item.role === "user",
    )
    .map(asOutputMessage);
  const body = {
    id: randomId("resp_"),
    object: "response.compaction",
    created_at: Math.floor(Date.now() / 1000),
    output: [...kept, compactionItem(done.summary)],
    usage: done.usage,
  };
  done.headers.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status: 200, headers: done.headers });
}

/** A Responses request whose input ends its history with `{"type": "compaction_trigger"}`: Codex's remote compaction (v2). */
function asksCompaction(json: Record<string, unknown> | undefined): boolean {
  return (
    Array.isArray(json?.input) &&
    json.input.some((item) => isObject(item) && item.type === "compaction_trigger")
  );
}

/**
 * Compaction asked inside POST /v1/responses (v2): an upstream serving Responses natively gets it
 * as it is; over any other, levity summarizes the history before the trigger and answers with a
 * response whose one output item is the compaction, streamed or whole as asked.
 */
async function compactInline(ctx: RequestContext, services: GatewayServices): Promise<Response> {
  const json = ctx.body!.json;
  const model = json.model;
  // A replay sent elsewhere (levity replay --to) names its target; else the mapping decides.
  const first =
    typeof model === "string"
      ? (ctx.targets ??
          resolveModel(ctx.snapshot.mappings, model, ctx.snapshot.upstreams[0]!.name).targets)[0]
      : undefined;
  const upstream = first && ctx.snapshot.upstreamByName.get(first.upstream);
  if (typeof model !== "string" || !upstream || forwardsNatively(upstream, "openai-responses"))
    return generate(ctx, services);
  const history = (json.input as unknown[]).filter(
    (item) => !(isObject(item) && item.type === "compaction_trigger"),
  );
  const done = await summarize(ctx, services, model, history);
  if (done instanceof Response) return done;
  const item = compactionItem(done.summary);
  const shell = {
    id: randomId("resp_"),
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model,
    error: null,
    incomplete_details: null,
    previous_response_id: null,
  };
  const completed = { ...shell, status: "completed", output: [item], usage: done.usage };
  if (json.stream !== true) {
    done.headers.set("content-type", "application/json");
    return new Response(JSON.stringify(completed), { status: 200, headers: done.headers });
  }
  const events = [
    sseEvent("response.created", {
      type: "response.created",
      sequence_number: 0,
      response: { ...shell, status: "in_progress", output: [], usage: null },
    }),
    sseEvent("response.output_item.added", {
      type: "response.output_item.added",
      sequence_number: 1,
      output_index: 0,
      item,
    }),
    sseEvent("response.output_item.done", {
      type: "response.output_item.done",
      sequence_number: 2,
      output_index: 0,
      item,
    }),
    sseEvent("response.completed", {
      type: "response.completed",
      sequence_number: 3,
      response: completed,
    }),
  ];
  done.headers.set("content-type", "text/event-stream; charset=utf-8");
  done.headers.set("cache-control", "no-cache");
  return new Response(events.join(""), { status: 200, headers: done.headers });
}

function forwardCompact(
  ctx: RequestContext,
  services: GatewayServices,
  runners: TargetRunner[],
): Promise<Response> {
  return serveWithPool(poolContext(ctx, services, {}), runners);
}

/** POST {base_url}/responses/compact on one account, the body unchanged but for the model. */
function nativeRunner(
  ctx: RequestContext,
  target: Target,
  upstream: Upstream,
  upstreamClient: UpstreamClient,
): TargetRunner {
  const { json, text } = ctx.body!;
  const body =
    json.model === target.model ? text : JSON.stringify({ ...json, model: target.model });
  return {
    upstream,
    model: target.model,
    failureResponse: (failure, headers) => sameDialectFailure(ctx, failure, headers),
    async attempt(lease) {
      let response: Response;
      let answer: string;
      try {
        ({ response } = await upstreamClient.open({
          upstream,
          url: upstream.baseUrl + RESPONSES_COMPACT_PATH,
          body,
          headers: upstreamRequestHeaders(
            upstream.protocol,
            lease.account.key,
            ctx.request.headers,
            true,
          ),
          clientSignal: ctx.request.signal,
          timeouts: upstream.timeouts,
        }));
        answer = await response.text();
      } catch (error) {
        return { kind: "failed", failure: failureOf(error, upstream.name) };
      }
      const headers = clientResponseHeaders(response.headers);
      if (!response.ok)
        return {
          kind: "failed",
          failure: failureFromAnswer(
            UPSTREAM_CODECS["openai-responses"],
            response.status,
            response.headers,
            answer,
          ),
        };
      lease.finish({ ok: true });
      return {
        kind: "committed",
        response: new Response(answer, { status: response.status, headers }),
      };
    },
  };
}

function responsesRoute(ctx: RequestContext): RouteDef {
  const route = ctx.snapshot.routes.routes.find(
    (r) => r.method === "POST" && r.operation === "generate" && r.dialect === "openai-responses",
  );
  if (!route)
    throw new GatewayError(
      501,
      "Compaction needs the POST /v1/responses route, and this levity's routes.yaml has none.",
    );
  return route;
}

/** The conversation as plain text: the summarizer only reads it, and plain text passes every upstream's rules on tool calls and signatures. */
export function renderTranscript(input: unknown[]): string {
  const lines: string[] = [];
  for (const item of input) {
    if (!isObject(item)) continue;
    const type = typeof item.type === "string" ? item.type : "message";
    if (type === "message") {
      // Instructions are not the conversation, and the client sends them again after compacting (Codex's run to thousands of tokens).
      if (item.role === "developer" || item.role === "system") continue;
      const text = contentText(item.content);
      if (text) lines.push(`[${String(item.role ?? "user")}]\n${text}`);
    } else if (type === "function_call" || type === "custom_tool_call") {
      lines.push(
        `[assistant called tool ${String(item.name)} (call ${String(item.call_id)})]\n${String(item.arguments ?? item.input ?? "")}`,
      );
    } else if (type === "function_call_output" || type === "custom_tool_call_output") {
      lines.push(
        `[tool result for call ${String(item.call_id)}]\n${typeof item.output === "string" ? item.output : contentText(item.output)}`,
      );
    } else if (type === "reasoning") {
      const summary = Array.isArray(item.summary)
        ? item.summary
            .map((s) => (isObject(s) && typeof s.text === "string" ? s.text : ""))
            .join("\n")
        : "";
      if (summary) lines.push(`[assistant's reasoning]\n${summary}`);
    } else if (COMPACTION_TYPES.has(type)) {
      const summary = decodeCompaction(item.encrypted_content);
      if (summary) lines.push(`[summary of the conversation before this point]\n${summary}`);
    } else if (type === "local_shell_call" && isObject(item.action)) {
      lines.push(`[assistant ran]\n${JSON.stringify(item.action.command ?? item.action)}`);
    }
  }
  return lines.join("\n\n");
}

/** A user message of an input as an item of an output: an id, a status and typed content parts, as OpenAI's compaction returns them. */
function asOutputMessage(item: Record<string, unknown>): Record<string, unknown> {
  const content =
    typeof item.content === "string"
      ? [{ type: "input_text", text: item.content }]
      : Array.isArray(item.content)
        ? item.content
        : [];
  return {
    type: "message",
    id: typeof item.id === "string" ? item.id : randomId("msg_"),
    status: "completed",
    role: "user",
    content,
  };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => {
      if (!isObject(part)) return "";
      if (typeof part.text === "string") return part.text;
      if (part.type === "input_image") return "[image]";
      if (part.type === "input_file") return `[file ${String(part.filename ?? "")}]`;
      return "";
    })
    .filter((text) => text !== "")
    .join("\n");
}

/** The text of a Responses object's message items. */
function outputText(response: unknown): string {
  if (!isObject(response) || !Array.isArray(response.output)) return "";
  return response.output
    .filter((item): item is Record<string, unknown> => isObject(item) && item.type === "message")
    .map((item) => contentText(item.content))
    .join("\n");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The handler of the generate routes: a Responses request whose input ends in a compaction
 * trigger asks for compaction inline; every other request is a generation.
 */
export function generateOrCompact(
  ctx: RequestContext,
  services: GatewayServices,
): Promise<Response> {
  return asksCompaction(ctx.body?.json) ? compactInline(ctx, services) : generate(ctx, services);
}
