import type {
  Citation,
  Opaque,
  Part,
  ServerTool,
  ServerToolCallPart,
  ServerToolKind,
  ServerToolResultPart,
  WebResult,
} from "../../ir.ts";
import { decodeOpaque } from "../opaque.ts";
import { argumentsObject, argumentsText, badRequest, idWithPrefix } from "../shared.ts";
import { isObject, type JsonObject } from "../json.ts";

/*
 * Anthropic's server tools (web_search_*, web_fetch_*) and the blocks they answer with:
 * server_tool_use, web_search_tool_result, web_fetch_tool_result, and text citations of kind
 * web_search_result_location. Read from a client's request and history and from the upstream's
 * answer; written for a client and for the upstream.
 */

/** The kind of a typed tool, by its type's stem; undefined for a tool levity cannot carry. */
export function serverToolKind(type: string): ServerToolKind | undefined {
  if (type.startsWith("web_search_")) return "web_search";
  if (type.startsWith("web_fetch_")) return "web_fetch";
  return undefined;
}

const strings = (value: unknown): string[] | undefined =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : undefined;

export function parseServerTool(tool: JsonObject, at: string): ServerTool {
  const type = String(tool.type);
  const kind = serverToolKind(type);
  if (!kind)
    throw badRequest(
      `${at}.type: levity cannot carry the tool type '${type.slice(0, 64)}' to an upstream other than Anthropic; it carries web_search_* and web_fetch_*, and custom tools.`,
      `${at}.type`,
    );
  return {
    kind,
    name: typeof tool.name === "string" ? tool.name : kind,
    type,
    maxUses: typeof tool.max_uses === "number" ? tool.max_uses : undefined,
    allowedDomains: strings(tool.allowed_domains),
    blockedDomains: strings(tool.blocked_domains),
    userLocation: isObject(tool.user_location) ? tool.user_location : undefined,
  };
}

/** A server tool as the upstream's own declaration. */
export function serverToolBlock(tool: ServerTool): Record<string, unknown> {
  // Anthropic's own dated types pass as they are; another dialect's (web_search_preview) is mapped.
  const type = /^web_(search|fetch)_\d{8}$/.test(tool.type)
    ? tool.type
    : tool.kind === "web_search"
      ? "web_search_20250305"
      : "web_fetch_20250910";
  return {
    type,
    name: tool.name,
    ...(tool.maxUses !== undefined ? { max_uses: tool.maxUses } : {}),
    ...(tool.allowedDomains ? { allowed_domains: tool.allowedDomains } : {}),
    ...(tool.blockedDomains ? { blocked_domains: tool.blockedDomains } : {}),
    ...(tool.userLocation ? { user_location: tool.userLocation } : {}),
  };
}

const opaque = (value: unknown, issuer: (v: string) => Opaque): Opaque | undefined =>
  typeof value === "string" && value !== "" ? issuer(value) : undefined;

/** `issuer` reads an opaque value: a client's (lv1-wrapped or its protocol's) or an upstream's own. */
export type Issuer = (value: string) => Opaque;
export const clientIssuer: Issuer = (value) => decodeOpaque(value, "anthropic");

export function citationsFrom(value: unknown, issuer: Issuer): Citation[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: Citation[] = [];
  for (const c of value) {
    // Document citations (char_location, page_location) point into the request's own documents.
    if (!isObject(c) || c.type !== "web_search_result_location" || typeof c.url !== "string")
      continue;
    out.push({
      url: c.url,
      title: typeof c.title === "string" ? c.title : undefined,
      citedText: typeof c.cited_text === "string" ? c.cited_text : undefined,
      encryptedIndex: opaque(c.encrypted_index, issuer),
    });
  }
  return out.length > 0 ? out : undefined;
}

export function citationBlock(citation: Citation, encode: (o: Opaque | undefined) => string) {
  return {
    type: "web_search_result_location",
    url: citation.url,
    title: citation.title ?? null,
    encrypted_index: encode(citation.encryptedIndex),
    cited_text: citation.citedText ?? "",
  };
}

function kindOfName(name: string): ServerToolKind | undefined {
  return name === "web_search" ? "web_search" : name === "web_fetch" ? "web_fetch" : undefined;
}

/**
 * A server_tool_use or *_tool_result block as IR parts, or undefined when the block is none of
 * them. Server tools levity has no part for (code execution) become text, so history never fails.
 */
export function serverPartFrom(
  block: JsonObject,
  issuer: Issuer,
  upstream?: string,
): Part | undefined {
  if (block.type === "server_tool_use") {
    const name = String(block.name ?? "");
    const kind = kindOfName(name);
    if (!kind) return { type: "text", text: `[${name} ${argumentsText(block.input)}]` };
    const call: ServerToolCallPart = {
      type: "server_tool_call",
      id: String(block.id ?? ""),
      name,
      kind,
      input: argumentsText(block.input),
    };
    if (upstream) call.issuer = upstream;
    return call;
  }
  if (block.type === "web_search_tool_result" || block.type === "web_fetch_tool_result") {
    const kind: ServerToolKind =
      block.type === "web_search_tool_result" ? "web_search" : "web_fetch";
    const result: ServerToolResultPart = {
      type: "server_tool_result",
      callId: String(block.tool_use_id ?? ""),
      kind,
      results: [],
    };
    if (upstream) result.issuer = upstream;
    const content = block.content;
    if (Array.isArray(content)) {
      for (const r of content)
        if (isObject(r) && typeof r.url === "string")
          result.results.push({
            url: r.url,
            title: typeof r.title === "string" ? r.title : undefined,
            pageAge: typeof r.page_age === "string" ? r.page_age : undefined,
            encrypted: opaque(r.encrypted_content, issuer),
          });
    } else if (isObject(content)) {
      if (typeof content.error_code === "string") result.error = content.error_code;
      else if (typeof content.url === "string") {
        const doc = isObject(content.content) ? content.content : {};
        const source = isObject(doc.source) ? doc.source : {};
        result.results.push({
          url: content.url,
          title: typeof doc.title === "string" ? doc.title : undefined,
          text: typeof source.data === "string" ? source.data : undefined,
        });
      }
    }
    return result;
  }
  if (typeof block.type === "string" && block.type.endsWith("_tool_result"))
    return { type: "text", text: `[${block.type}]` };
  return undefined;
}

function resultItem(result: WebResult, encode: (o: Opaque | undefined) => string) {
  return {
    type: "web_search_result",
    url: result.url,
    title: result.title ?? result.url,
    encrypted_content: encode(result.encrypted),
    page_age: result.pageAge ?? null,
  };
}

/** A server tool part as Anthropic's block; `encode` writes opaque values (empty when none). */
export function serverBlock(
  part: ServerToolCallPart | ServerToolResultPart,
  encode: (o: Opaque | undefined) => string,
): Record<string, unknown> {
  if (part.type === "server_tool_call")
    return {
      type: "server_tool_use",
      // Another dialect's id (a Responses ws_…) in Anthropic's form; its result names the same.
      id: idWithPrefix(part.id, "srvtoolu_"),
      name: part.name,
      input: argumentsObject(part.input),
    };
  if (part.kind === "web_search")
    return {
      type: "web_search_tool_result",
      tool_use_id: idWithPrefix(part.callId, "srvtoolu_"),
      content:
        part.error !== undefined
          ? { type: "web_search_tool_result_error", error_code: part.error }
          : part.results.map((r) => resultItem(r, encode)),
    };
  const page = part.results[0];
  return {
    type: "web_fetch_tool_result",
    tool_use_id: idWithPrefix(part.callId, "srvtoolu_"),
    content:
      part.error !== undefined || !page
        ? { type: "web_fetch_tool_error", error_code: part.error ?? "unavailable" }
        : {
            type: "web_fetch_result",
            url: page.url,
            content: {
              type: "document",
              source: { type: "text", media_type: "text/plain", data: page.text ?? "" },
              ...(page.title ? { title: page.title } : {}),
            },
          },
  };
}

/** The number of web searches the answer's parts show, for usage.server_tool_use. */
export function searchesIn(parts: Part[]): number {
  // Counted in a loop: filter made a list and a closure for every answer.
  let searches = 0;
  for (const p of parts) if (p.type === "server_tool_call" && p.kind === "web_search") searches++;
  return searches;
}
