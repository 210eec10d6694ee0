import { jsonReply, lastUserText, startFake, type FakeUpstream } from "./fake-server.ts";

/*
 * The Gemini API's wire format (PROTOCOLS.md §6): x-goog-api-key or ?key=, a bad key is 400
 * INVALID_ARGUMENT, SSE framed with CRLF and no `event:` lines with ?alt=sse, one JSON array
 * written incrementally without it.
 */

export const GEMINI_MODELS = ["gemini-2.5-flash-real", "gemini-2.5-pro-real"];

export function fakeGemini(key: string): FakeUpstream {
  return startFake({
    checkKey(request) {
      if ((request.headers.get("x-goog-api-key") ?? request.query.get("key")) === key) return undefined;
      return jsonReply(
        {
          error: {
            code: 400,
            message: "API key not valid. Please pass a valid API key.",
            status: "INVALID_ARGUMENT",
            details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }],
          },
        },
        400,
      );
    },
    handle(request, streamed) {
      if (request.method === "GET" && /^\/v1(beta)?\/models$/.test(request.path)) {
        return jsonReply({
          models: GEMINI_MODELS.map((id) => ({
            name: `models/${id}`,
            version: "001",
            displayName: id,
            inputTokenLimit: 1_048_576,
            outputTokenLimit: 65_536,
            supportedGenerationMethods: ["generateContent", "countTokens"],
          })),
        });
      }
      const match = /^\/v1(?:beta)?\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(request.path);
      if (!match) return jsonReply({ error: { code: 404, message: `${request.path} is not found`, status: "NOT_FOUND" } }, 404);
      const [, model, method] = match;
      if (method === "countTokens") return jsonReply({ totalTokens: 7, promptTokensDetails: [{ modality: "TEXT", tokenCount: 7 }] });
      const reply = `pong from ${model}: ${lastUserText(request)}`;
      const words = reply.match(/\S+\s*/g) ?? [];
      const usage = (n: number) => ({ promptTokenCount: 5, candidatesTokenCount: n, totalTokenCount: 5 + n });
      const chunk = (text: string, i: number, last: boolean) => ({
        candidates: [{ content: { role: "model", parts: [{ text }] }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }],
        usageMetadata: usage(i + 1),
        modelVersion: model,
        responseId: "fake-response-1",
      });
      if (method === "generateContent") return jsonReply(chunk(reply, words.length - 1, true));
      const chunks = words.map((w, i) => chunk(w, i, i === words.length - 1));
      if (request.query.get("alt") === "sse") return streamed(chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`), "text/event-stream");
      return streamed(
        chunks.map((c, i) => (i === 0 ? "[" : ",\r\n") + JSON.stringify(c, null, 2) + (i === chunks.length - 1 ? "]" : "")),
        "application/json; charset=UTF-8",
      );
    },
  });
}
