import type { DialectModule } from "../dialect.ts";
import { firstWhere, utf8 } from "../shared.ts";
import { geminiClient } from "./client.ts";
import { geminiEndpointPath } from "./endpoint.ts";
import { geminiErrorBody } from "./error-body.ts";
import { geminiFamily } from "./family.ts";
import { geminiUpstream } from "./upstream.ts";

const JSON_ARRAY_KEEP_ALIVE = utf8("\n");
const SSE_BLANK_LINES = utf8("\r\n\r\n");

export const gemini: Readonly<DialectModule> = {
  name: "gemini",
  family: geminiFamily,
  client: geminiClient,
  upstream: geminiUpstream,
  endpointPath: geminiEndpointPath,
  streamErrorBytes: (status, message, jsonArray, opened = true) => {
    const body = JSON.stringify(geminiErrorBody(status, message));
    // In a JSON array the error is its last element (or its only one); in SSE, one more event.
    if (jsonArray) return utf8(opened ? `,\r\n${body}]` : `[${body}]`);
    return utf8(`data: ${body}\r\n\r\n`);
  },
  // Whitespace before the array's first element is valid JSON. In SSE a blank line, not a
  // comment: the @google/genai that Gemini CLI 0.61.0 bundles reads events with a pattern that
  // must find `data:` after nothing but whitespace, and never reads past a comment.
  keepAliveBytes: (jsonArray) => (jsonArray ? JSON_ARRAY_KEEP_ALIVE : SSE_BLANK_LINES),
  // Gemini streams SSE only when asked with ?alt=sse; otherwise one JSON array, written as it goes.
  streamFraming: (request) =>
    request.url.searchParams.get("alt") === "sse" ? "sse" : "json-array",
  requestLists: {
    messages: "contents",
    parts: "parts",
    tools: "tools",
    toolGroups: "functionDeclarations",
  },
  sessionOpening: (body) => [
    body.tools,
    body.systemInstruction ?? body.system_instruction,
    firstWhere(body.contents, (c) => c.role !== "model"),
  ],
};
