import { UPSTREAM_CODECS } from "../codecs/index.ts";
import { serverPartsAsText } from "../codecs/server-parts.ts";
import type { Upstream } from "../config/snapshot.ts";
import type { ServerToolPolicy } from "../config/schema.ts";
import { GatewayError } from "../failure.ts";
import type { ChatRequest, Part, Turn } from "../ir.ts";
import type { UpstreamTarget } from "../codecs/codec.ts";
import { issuedBy } from "../codecs/opaque.ts";
import { upstreamDialect } from "../upstream/protocol.ts";

/*
 * Server tools (web search, web fetch) for one upstream: those it runs go to it; one it has no
 * counterpart for refuses the request naming the tool and the upstream, or is left out with a
 * warning header, never in silence. `server_tools` decides which: error, drop, or auto (the
 * default): a request that forces the tool (Claude Code's WebSearch asks for nothing else) is
 * refused, since its answer would be no search at all; one that only offers it among its tools
 * (Codex sends web_search with every turn) is answered without it, with the warning. Server
 * tool calls and results in the history go back as blocks only to the upstream that issued them
 * and can take them; every other upstream reads them as text.
 */

export interface ServerToolPlan {
  request: ChatRequest;
  /** For the x-levity-warning header: what was dropped, and why. */
  warning?: string;
}

const WARNING_HEADER = "x-levity-warning";
export { WARNING_HEADER };

/**
 * A warning as a header may carry it: the tool names in it are the client's own words, which may
 * hold a line break or any character a header value cannot (the header would then throw).
 */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 1000);
}

/**
 * What `upstream` is given of the request's server tools, decided once per target before any
 * account is used: those it runs, and the others dropped with a warning, or a refusal (thrown)
 * naming them. The history's server tool parts are the attempt's (historyFor).
 */
export function planServerTools(
  request: ChatRequest,
  upstream: Upstream,
  policy: ServerToolPolicy,
): ServerToolPlan {
  // Hosted tools no other dialect has are left out of every translated request, and said so.
  const hosted = request.unsupportedTools?.length
    ? `dropped hosted tool ${request.unsupportedTools.join(", ")}: levity carries only function tools and web search to another API`
    : undefined;
  const tools = request.serverTools;
  // Most requests have none: no set, lists and closure made to find that none is missing.
  if (!tools?.length) return hosted ? { request, warning: hosted } : { request };
  const codec =
    upstream.protocol === "echo" ? undefined : UPSTREAM_CODECS[upstreamDialect(upstream)];
  const alone = codec?.serverToolsBesideFunctions === false && request.tools.length > 0;
  const runs = new Set(alone ? [] : (codec?.serverTools ?? []));
  const missing = tools.filter((tool) => !runs.has(tool.kind));
  if (missing.length === 0) return hosted ? { request, warning: hosted } : { request };
  const names = missing.map((tool) => `${tool.type} ("${tool.name}")`).join(", ");
  const why = alone
    ? `upstream "${upstream.name}" runs it only in a request without function tools`
    : `upstream "${upstream.name}" has no such tool`;
  const choice = request.toolChoice;
  const forced =
    (choice?.type === "tool" && missing.some((t) => t.name === choice.name)) ||
    (choice?.type === "required" && request.tools.length === 0);
  const policyOf = upstream.serverTools ?? policy;
  if (policyOf === "error" || (policyOf === "auto" && forced))
    throw new GatewayError(
      400,
      `The server tool ${names} runs at the provider, and ${why} (levity maps web search to Anthropic, Gemini and OpenAI Responses upstreams, and web fetch to Anthropic and Gemini). Remove the tool, route the model to such an upstream, or set server_tools: drop in gateway.yaml to send the request without it.`,
      { param: "tools" },
    );
  const dropped = new Set(missing);
  const kept = tools.filter((tool) => !dropped.has(tool));
  // A choice that names a dropped tool would name a tool the upstream was never given.
  const choiceDropped =
    (choice?.type === "tool" && missing.some((t) => t.name === choice.name)) ||
    (choice?.type === "required" && request.tools.length === 0 && kept.length === 0);
  return {
    request: {
      ...request,
      serverTools: kept.length > 0 ? kept : undefined,
      toolChoice: choiceDropped ? undefined : choice,
    },
    warning: [`dropped server tool ${names}: ${why}`, hosted].filter(Boolean).join("; "),
  };
}

/**
 * The history as one attempt sends it: a server tool's call and result go back as blocks only to
 * the upstream that ran it, when it takes them back and every encrypted value in the result
 * (pages, citation indexes aside) is this attempt's issuer's; otherwise both are text, which no
 * upstream refuses. An Anthropic search under another model family or account group would
 * otherwise go with its encrypted content left empty, which Anthropic refuses.
 */
export function historyFor(turns: Turn[], upstream: Upstream, target: UpstreamTarget): Turn[] {
  if (!hasServerParts(turns)) return turns;
  const codec =
    upstream.protocol === "echo" ? undefined : UPSTREAM_CODECS[upstreamDialect(upstream)];
  const ownResults = new Set<string>();
  for (const turn of turns)
    for (const part of turn.parts)
      if (
        part.type === "server_tool_result" &&
        part.issuer === upstream.name &&
        part.results.every((r) => r.encrypted === undefined || issuedBy(r.encrypted, target))
      )
        ownResults.add(part.callId);
  const keep = (part: Part) =>
    codec?.takesServerBlocks === true &&
    (part.type === "server_tool_call" || part.type === "server_tool_result") &&
    part.issuer === upstream.name &&
    ownResults.has(part.type === "server_tool_call" ? part.id : part.callId);
  return turns.map((turn) => ({ ...turn, parts: serverPartsAsText(turn.parts, keep) }));
}

/** Whether any turn holds a server tool's call or result (loops: nested closures cost each attempt a function a turn). */
function hasServerParts(turns: Turn[]): boolean {
  for (const turn of turns)
    for (const part of turn.parts)
      if (part.type === "server_tool_call" || part.type === "server_tool_result") return true;
  return false;
}
