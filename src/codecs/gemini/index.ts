import type { DialectModule } from "../dialect.ts";
import { firstWhere, utf8 } from "../shared.ts";
import { geminiClient } from "./client.ts";
import { geminiEndpointPath } from "./endpoint.ts";
import { geminiErrorBody } from "./error-body.ts";
import { geminiFamily } from "./family.ts";
import { geminiUpstream } from "./upstream.ts";

export const gemini: Readonly<DialectModule> = {
  name: "gemini",
  family: geminiFamily,
  client: geminiClient,
  upstream: geminiUpstream,
  endpointPath: geminiEndpointPath,
  streamErrorBytes: (status, message, jsonArray) => {
    const body = JSON.stringify(geminiErrorBody(status, message));
    // In a JSON array the error is its last element; in SSE, one more event.
    return utf8(jsonArray ? `,\r\n${body}]` : `data: ${body}\r\n\r\n`);
  },
  // Gemini streams SSE only when asked with ?alt=sse; otherwise one JSON array, written as it goes.
  streamFraming: (query) => (query.get("alt") === "sse" ? "sse" : "json-array"),
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
