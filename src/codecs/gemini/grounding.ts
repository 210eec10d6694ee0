import type {
  Citation,
  Part,
  ServerTool,
  ServerToolCallPart,
  ServerToolResultPart,
  StreamEvent,
  TextPart,
} from "../../ir.ts";
import { isObject, type JsonObject } from "../json.ts";
import { argumentsObject, randomId } from "../shared.ts";

/*
 * Gemini's Google Search grounding and URL context, as server tool parts. Gemini runs the
 * searches itself and says so after the text, in the candidate's groundingMetadata:
 * webSearchQueries (what it searched), groundingChunks (the pages, {web: {uri, title}}) and
 * groundingSupports (which bytes of the answer rest on which pages: segment.startIndex and
 * endIndex, in UTF-8 bytes of the part partIndex). urlContextMetadata lists the URLs it fetched.
 * They become a search call and its results before the text, and the text split at the supported
 * segments, each carrying its citations, as Anthropic and the Responses API put them.
 */

interface Page {
  url: string;
  title?: string;
}

function pagesOf(metadata: JsonObject): Page[] {
  const chunks = Array.isArray(metadata.groundingChunks) ? metadata.groundingChunks : [];
  return chunks.map((chunk) => {
    const web = isObject(chunk) && isObject(chunk.web) ? chunk.web : {};
    return {
      url: typeof web.uri === "string" ? web.uri : "",
      title: typeof web.title === "string" ? web.title : undefined,
    };
  });
}

/** The search and fetch calls Gemini made, each with its results. */
function serverParts(grounding: JsonObject | undefined, urlContext: JsonObject | undefined) {
  const parts: (ServerToolCallPart | ServerToolResultPart)[] = [];
  if (grounding) {
    const queries = Array.isArray(grounding.webSearchQueries)
      ? grounding.webSearchQueries.filter((q): q is string => typeof q === "string")
      : [];
    const pages = pagesOf(grounding).filter((p) => p.url !== "");
    // Gemini does not say which query found which page: the first search holds them all.
    (queries.length > 0 ? queries : pages.length > 0 ? [""] : []).forEach((query, i) => {
      const id = randomId("srvtoolu_");
      parts.push({
        type: "server_tool_call",
        id,
        name: "web_search",
        kind: "web_search",
        input: JSON.stringify({ query }),
      });
      parts.push({
        type: "server_tool_result",
        callId: id,
        kind: "web_search",
        results: i === 0 ? pages.map((p) => ({ url: p.url, title: p.title })) : [],
      });
    });
  }
  const fetched = urlContext && Array.isArray(urlContext.urlMetadata) ? urlContext.urlMetadata : [];
  for (const entry of fetched) {
    if (!isObject(entry) || typeof entry.retrievedUrl !== "string") continue;
    const id = randomId("srvtoolu_");
    const ok = entry.urlRetrievalStatus === "URL_RETRIEVAL_STATUS_SUCCESS";
    parts.push({
      type: "server_tool_call",
      id,
      name: "web_fetch",
      kind: "web_fetch",
      input: JSON.stringify({ url: entry.retrievedUrl }),
    });
    parts.push({
      type: "server_tool_result",
      callId: id,
      kind: "web_fetch",
      results: ok ? [{ url: entry.retrievedUrl }] : [],
      ...(ok ? {} : { error: "url_not_accessible" }),
    });
  }
  return parts;
}

interface Support {
  start: number;
  end: number;
  citations: Citation[];
}

function supportsOf(metadata: JsonObject, pages: Page[]): Support[] {
  const list = Array.isArray(metadata.groundingSupports) ? metadata.groundingSupports : [];
  const out: Support[] = [];
  for (const support of list) {
    if (!isObject(support) || !isObject(support.segment)) continue;
    const segment = support.segment;
    const indices = Array.isArray(support.groundingChunkIndices)
      ? support.groundingChunkIndices
      : [];
    const citations = indices
      .map((i) => (typeof i === "number" ? pages[i] : undefined))
      .filter((p): p is Page => p !== undefined && p.url !== "")
      .map((p) => ({
        url: p.url,
        title: p.title,
        citedText: typeof segment.text === "string" ? segment.text : undefined,
      }));
    const start = typeof segment.startIndex === "number" ? segment.startIndex : 0;
    const end = typeof segment.endIndex === "number" ? segment.endIndex : -1;
    if (citations.length > 0 && end > start) out.push({ start, end, citations });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The answer's text cut at the supported segments (byte offsets into the text as Gemini wrote it). */
function citedText(text: TextPart, supports: Support[]): TextPart[] {
  const bytes = Buffer.from(text.text, "utf8");
  const out: TextPart[] = [];
  let at = 0;
  const piece = (from: number, to: number, citations?: Citation[]) => {
    if (to <= from) return;
    const part: TextPart = { type: "text", text: bytes.subarray(from, to).toString("utf8") };
    if (citations) part.citations = citations;
    out.push(part);
  };
  for (const support of supports) {
    // Overlapping supports: the earlier one keeps the bytes.
    if (support.start < at || support.end > bytes.length) continue;
    piece(at, support.start);
    piece(support.start, support.end, support.citations);
    at = support.end;
  }
  piece(at, bytes.length);
  if (text.signature && out.length > 0) out[out.length - 1]!.signature = text.signature;
  return out;
}

/** Whether a candidate says it searched or fetched. */
export function groundingOf(candidate: JsonObject | undefined) {
  const grounding = isObject(candidate?.groundingMetadata)
    ? candidate.groundingMetadata
    : undefined;
  const urlContext = isObject(candidate?.urlContextMetadata)
    ? candidate.urlContextMetadata
    : undefined;
  return grounding || urlContext ? { grounding, urlContext } : undefined;
}

/**
 * A candidate's parts with its grounding: thinking first as it came, then the searches and their
 * results, then the text (its parts joined, as the offsets count them) with its citations, then
 * the function calls.
 */
export function groundedParts(
  parts: Part[],
  found: { grounding?: JsonObject; urlContext?: JsonObject },
): Part[] {
  const thinking = parts.filter((p) => p.type === "thinking");
  const texts = parts.filter((p): p is TextPart => p.type === "text");
  const rest = parts.filter((p) => p.type !== "thinking" && p.type !== "text");
  const joined: TextPart = {
    type: "text",
    text: texts.map((t) => t.text).join(""),
    signature: texts.findLast((t) => t.signature)?.signature,
  };
  const supports = found.grounding ? supportsOf(found.grounding, pagesOf(found.grounding)) : [];
  return [
    ...thinking,
    ...serverParts(found.grounding, found.urlContext),
    ...citedText(joined, supports),
    ...rest,
  ];
}

/** A held answer's parts as stream events, after its thinking has streamed. */
export function* groundedEvents(parts: Part[], calls: { next: number }): Generator<StreamEvent> {
  for (const part of parts) {
    if (part.type === "server_tool_call" || part.type === "server_tool_result")
      yield { type: "server_tool", part };
    else if (part.type === "text")
      yield {
        type: "text",
        text: part.text,
        ...(part.signature ? { signature: part.signature } : {}),
        ...(part.citations ? { citations: part.citations } : {}),
      };
    else if (part.type === "tool_call") {
      const index = calls.next++;
      yield {
        type: "tool_call_start",
        index,
        id: part.id,
        name: part.name,
        signature: part.signature,
      };
      yield { type: "tool_call_delta", index, arguments: part.arguments };
      yield { type: "tool_call_end", index };
    }
  }
}

/** A Gemini client's built-in tools as server tools: Google Search and URL context. */
export function serverToolsFrom(entries: unknown[]): ServerTool[] {
  const tools: ServerTool[] = [];
  for (const entry of entries) {
    if (!isObject(entry)) continue;
    for (const [key, kind] of SERVER_TOOL_KEYS)
      if (entry[key] !== undefined && entry[key] !== null)
        tools.push({ kind, name: kind, type: key });
  }
  return tools;
}

const SERVER_TOOL_KEYS: readonly (readonly [string, ServerTool["kind"]])[] = [
  ["googleSearch", "web_search"],
  ["google_search", "web_search"],
  ["googleSearchRetrieval", "web_search"],
  ["google_search_retrieval", "web_search"],
  ["urlContext", "web_fetch"],
  ["url_context", "web_fetch"],
];

/**
 * What a Gemini client reads of another upstream's searches: groundingMetadata (the queries, the
 * pages as groundingChunks, each cited text's UTF-8 byte range in the answer's text as a
 * groundingSupport) and urlContextMetadata. `texts` is the answer's text in order, each piece
 * with its citations; `partIndex` the text part's place among the parts, when the text is one part.
 */
export function groundingFields(
  server: (ServerToolCallPart | ServerToolResultPart)[],
  texts: { text: string; citations?: Citation[] }[],
  partIndex?: number,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const searches = server.filter((p) => p.kind === "web_search");
  const cited = texts.some((t) => t.citations);
  if (searches.length > 0 || cited) {
    const chunks: { uri: string; title?: string }[] = [];
    const chunkOf = (url: string, title?: string) => {
      let at = chunks.findIndex((c) => c.uri === url);
      if (at < 0) at = chunks.push({ uri: url }) - 1;
      // A search's results may lack the titles its citations give (OpenAI's sources are bare URLs).
      if (title && !chunks[at]!.title) chunks[at]!.title = title;
      return at;
    };
    const queries: string[] = [];
    for (const part of searches) {
      if (part.type === "server_tool_call") {
        const query = argumentsObject(part.input).query;
        if (typeof query === "string" && query !== "") queries.push(query);
      } else for (const r of part.results) chunkOf(r.url, r.title);
    }
    const supports: unknown[] = [];
    let bytes = 0;
    for (const piece of texts) {
      const length = Buffer.byteLength(piece.text, "utf8");
      if (piece.citations && length > 0)
        supports.push({
          segment: {
            ...(partIndex !== undefined ? { partIndex } : {}),
            startIndex: bytes,
            endIndex: bytes + length,
            text: piece.text,
          },
          groundingChunkIndices: piece.citations.map((c) => chunkOf(c.url, c.title)),
        });
      bytes += length;
    }
    fields.groundingMetadata = {
      webSearchQueries: queries,
      groundingChunks: chunks.map((web) => ({ web })),
      groundingSupports: supports,
    };
  }
  const fetched = server.filter(
    (p): p is ServerToolCallPart => p.type === "server_tool_call" && p.kind === "web_fetch",
  );
  if (fetched.length > 0)
    fields.urlContextMetadata = {
      urlMetadata: fetched.map((call) => {
        const result = server.find(
          (p): p is ServerToolResultPart => p.type === "server_tool_result" && p.callId === call.id,
        );
        return {
          retrievedUrl: String(argumentsObject(call.input).url ?? ""),
          urlRetrievalStatus:
            result && result.error === undefined
              ? "URL_RETRIEVAL_STATUS_SUCCESS"
              : "URL_RETRIEVAL_STATUS_ERROR",
        };
      }),
    };
  return fields;
}
