import { GEMINI_EMBEDDING_MODELS, geminiEmbeddings } from "./fake-embeddings.ts";
import { createHash } from "node:crypto";
import { geminiImageModel, imagenPredict, isGeminiImageModel } from "./fake-images.ts";
import {
  jsonReply,
  startFake,
  type FakeOptions,
  type FakeUpstream,
  type RecordedRequest,
} from "./fake-server.ts";
import { geminiSchemaErrors } from "./gemini-schema-rules.ts";
import { answer, MISSING_MODEL, words, type Prompt } from "./scripted-model.ts";
import { groundingFields } from "./gemini-grounding.ts";
import { digest, fakeModelFamily, type SigningOptions } from "./fake-signing.ts";
import { transcriptOf } from "./fake-transcript.ts";

/*
 * The Gemini API's wire format (PROTOCOLS.md §6): x-goog-api-key or ?key=, a bad key is 400
 * INVALID_ARGUMENT, SSE framed with CRLF and no `event:` lines with ?alt=sse, one JSON array
 * written incrementally without it. Like Gemini 3 it signs its function calls (thoughtSignature on
 * the first call of a turn, no call ids) and refuses a call sent back without its signature; like
 * every Gemini model it refuses tool parameters outside its OpenAPI subset.
 */

export const GEMINI_MODELS = ["gemini-2.5-flash-real", "gemini-2.5-pro-real"];
export const SIGNATURE_PREFIX = "gemini-sig-";

const invalid = (message: string, status = 400, code = "INVALID_ARGUMENT") =>
  jsonReply({ error: { code: status, message, status: code } }, status);

function sign(text: string): string {
  return SIGNATURE_PREFIX + createHash("sha256").update(text).digest("hex").slice(0, 24);
}

/** Google's documented value for a function call the model did not make: the check is skipped. */
export const SKIP_SIGNATURE = "skip_thought_signature_validator";

function validate(body: any, signerMark?: string): Response | undefined {
  // Built-in tools beside functions need the combination flag (Gemini's documented error without it).
  const tools: any[] = body.tools ?? [];
  const builtIn = tools.some(
    (t) => t.googleSearch || t.google_search || t.urlContext || t.url_context,
  );
  const functions = tools.some((t) => (t.functionDeclarations ?? t.function_declarations)?.length);
  if (builtIn && functions && body.toolConfig?.includeServerSideToolInvocations !== true)
    return invalid("Tool use with function calling is unsupported by the model.");
  for (const [t, tool] of (body.tools ?? []).entries()) {
    for (const [f, fn] of (
      tool.functionDeclarations ??
      tool.function_declarations ??
      []
    ).entries()) {
      // Gemini's documented rules for a function's parameters (test/support/gemini-schema-rules.ts).
      const [problem] = fn.parameters
        ? geminiSchemaErrors(fn.parameters, `tools[${t}].function_declarations[${f}].parameters`)
        : [];
      if (problem) return invalid(problem);
    }
  }
  for (const [i, content] of (body.contents ?? []).entries()) {
    // With a signer, a signature is this fake's for this model family only.
    if (
      signerMark !== undefined &&
      (content.parts ?? []).some(
        (p: any) =>
          typeof p.thoughtSignature === "string" &&
          p.thoughtSignature !== SKIP_SIGNATURE &&
          !p.thoughtSignature.startsWith(signerMark),
      )
    )
      return invalid("Corrupted thought signature.");
    if (content.role === "model") {
      const firstCall = (content.parts ?? []).findIndex((p: any) => p.functionCall);
      if (firstCall >= 0) {
        const signature = String(content.parts[firstCall].thoughtSignature ?? "");
        if (!signature.startsWith(SIGNATURE_PREFIX) && signature !== SKIP_SIGNATURE) {
          return invalid(
            `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly. Additional data, function call \`${content.parts[firstCall].functionCall.name}\`, position ${i}.`,
          );
        }
      }
    }
    for (const part of content.parts ?? [])
      if (part.functionResponse && typeof part.functionResponse.name !== "string")
        return invalid("functionResponse.name is required");
  }
  return undefined;
}

const INLINE_REQUEST_MAX = 20 * 1024 * 1024;
/** The audio types Gemini's audio guide lists. */
const AUDIO_TYPES = [
  "audio/wav",
  "audio/mp3",
  "audio/aiff",
  "audio/aac",
  "audio/ogg",
  "audio/flac",
];

/**
 * A request with inline audio and an instruction to transcribe it is answered with what the fake
 * "heard" (transcript-of), in the language the instruction names; audio of a type Gemini does not
 * list is refused as Gemini refuses it.
 */
function transcribe(body: any, files: FakeFiles, key: string): Response | undefined {
  const parts: any[] = body.contents?.at(-1)?.parts ?? [];
  const audio = parts.find((p) =>
    String(p.inlineData?.mimeType ?? p.fileData?.mimeType ?? "").startsWith("audio/"),
  );
  if (!audio) return undefined;
  const mimeType = audio.inlineData?.mimeType ?? audio.fileData.mimeType;
  if (!AUDIO_TYPES.includes(mimeType)) return invalid(`Unsupported MIME type: ${mimeType}`);
  let bytes: Uint8Array;
  if (audio.inlineData) bytes = Buffer.from(audio.inlineData.data, "base64");
  else {
    const file = files.byUri(String(audio.fileData.fileUri), key);
    if (!file) return files.notYours(String(audio.fileData.fileUri));
    bytes = file.bytes;
  }
  const instruction = parts.map((p) => p.text ?? "").join(" ");
  if (!/transcript/i.test(instruction)) return undefined;
  const language = /ISO-639-1 code "([^"]+)"/.exec(instruction)?.[1];
  const text = transcriptOf(bytes, language);
  const audioTokens = 32 * 3;
  return jsonReply({
    candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: {
      promptTokenCount: audioTokens + 20,
      candidatesTokenCount: words(text).length,
      totalTokenCount: audioTokens + 20 + words(text).length,
      promptTokensDetails: [
        { modality: "AUDIO", tokenCount: audioTokens },
        { modality: "TEXT", tokenCount: 20 },
      ],
    },
    modelVersion: "gemini-2.5-flash",
    responseId: "fake-transcript-1",
  });
}

function promptOf(model: string, body: any): Prompt {
  const contents: any[] = body.contents ?? [];
  const last = contents.at(-1)?.parts ?? [];
  return {
    model,
    system: (body.systemInstruction?.parts ?? []).map((p: any) => p.text ?? "").join("\n"),
    text: last
      .filter((p: any) => typeof p.text === "string" && !p.thought)
      .map((p: any) => p.text)
      .join(""),
    images: last.filter((p: any) => p.inlineData).map((p: any) => p.inlineData.data),
    toolResults: last
      .filter((p: any) => p.functionResponse)
      .map((p: any) => JSON.stringify(p.functionResponse.response)),
    tools: (body.tools ?? [])
      .flatMap((t: any) => t.functionDeclarations ?? [])
      .map((fn: any) => ({ name: fn.name, parameters: fn.parameters ?? fn.parametersJsonSchema })),
    thinking: body.generationConfig?.thinkingConfig?.includeThoughts === true,
  };
}

export function fakeGemini(
  key: string | string[],
  options: FakeOptions & SigningOptions = {},
): FakeUpstream {
  const keys = new Set(Array.isArray(key) ? key : [key]);
  const keyOf = (request: RecordedRequest) =>
    request.headers.get("x-goog-api-key") ?? request.query.get("key") ?? undefined;
  const files = new FakeFiles();
  return startFake({
    dialect: "gemini",
    network: options.network,
    keyOf,
    checkKey(request) {
      if (keys.has(keyOf(request) ?? "")) return undefined;
      return jsonReply(
        {
          error: {
            code: 400,
            message: "API key not valid. Please pass a valid API key.",
            status: "INVALID_ARGUMENT",
            details: [
              {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                reason: "API_KEY_INVALID",
                domain: "googleapis.com",
              },
            ],
          },
        },
        400,
      );
    },
    handle(request, streamed) {
      if (request.method === "GET" && /^\/v1(beta)?\/models$/.test(request.path)) {
        return jsonReply({
          models: [
            ...GEMINI_MODELS.map((id) => ({
              name: `models/${id}`,
              version: "001",
              displayName: id,
              inputTokenLimit: 1_048_576,
              outputTokenLimit: 65_536,
              supportedGenerationMethods: ["generateContent", "countTokens"],
            })),
            // As Google lists its embedding models: no generateContent.
            ...GEMINI_EMBEDDING_MODELS.map((id) => ({
              name: `models/${id}`,
              version: "001",
              displayName: id,
              inputTokenLimit: 2048,
              outputTokenLimit: 1,
              supportedGenerationMethods: ["embedContent", "countTextTokens", "countTokens"],
            })),
          ],
        });
      }
      const embed = /^\/v1(?:beta)?\/models\/([^/:]+):(embedContent|batchEmbedContents)$/.exec(
        request.path,
      );
      if (embed) return geminiEmbeddings(embed[1]!, embed[2]!, request.json ?? {});
      const predict = /^\/v1beta\/models\/(imagen-[^/:]+):predict$/.exec(request.path);
      if (predict) return imagenPredict(request);
      const filesAnswer = files.handle(request, keyOf(request) ?? "");
      if (filesAnswer) return filesAnswer;
      const match =
        /^\/v1(?:beta)?\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(
          request.path,
        );
      if (!match) return invalid(`${request.path} is not found`, 404, "NOT_FOUND");
      const [, model, method] = match as unknown as [string, string, string];
      if (model === MISSING_MODEL)
        return invalid(
          `models/${MISSING_MODEL} is not found for API version v1beta, or is not supported for ${method}.`,
          404,
          "NOT_FOUND",
        );
      if (method === "countTokens")
        return jsonReply({
          totalTokens: 7,
          promptTokensDetails: [{ modality: "TEXT", tokenCount: 7 }],
        });
      // Gemini's limit on a request with inline data (its audio guide: larger files go through the Files API).
      if (request.bytes.byteLength > INLINE_REQUEST_MAX)
        return invalid(`Request payload size exceeds the limit: ${INLINE_REQUEST_MAX} bytes.`);
      if (isGeminiImageModel(model))
        return geminiImageModel(model, request, method === "streamGenerateContent", streamed);
      const body = request.json ?? {};
      const heard = transcribe(body, files, keyOf(request) ?? "");
      if (heard) return heard;
      const signerMark =
        options.signer === undefined
          ? undefined
          : `${SIGNATURE_PREFIX}${digest(`${options.signer}|${fakeModelFamily(model)}`)}.`;
      const refused = validate(body, signerMark);
      if (refused) return refused;

      const prompt = promptOf(model, body);
      const reply = answer(prompt);
      const grounding = groundingFields(body, prompt.text, reply.text ?? "");
      const parts: any[] = [];
      if (reply.thinking)
        parts.push({
          text: reply.thinking,
          thought: true,
          ...(signerMark ? { thoughtSignature: `${signerMark}${digest(reply.thinking)}` } : {}),
        });
      if (reply.text !== undefined) parts.push({ text: reply.text });
      for (const [i, call] of reply.calls.entries()) {
        parts.push({
          functionCall: { name: call.name, args: call.args },
          ...(i === 0
            ? {
                thoughtSignature: signerMark
                  ? `${signerMark}${digest(call.name + JSON.stringify(call.args))}`
                  : sign(call.name + JSON.stringify(call.args)),
              }
            : {}),
        });
      }
      const output = words(reply.text ?? "").length + reply.calls.length * 5;
      const thoughts = words(reply.thinking ?? "").length;
      const reported = options.usage;
      // promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount is beside candidatesTokenCount.
      const usage = (n: number) =>
        reported
          ? {
              promptTokenCount: reported.input,
              candidatesTokenCount: reported.output - reported.reasoning,
              totalTokenCount: reported.input + reported.output,
              ...(reported.cached ? { cachedContentTokenCount: reported.cached } : {}),
              ...(reported.reasoning ? { thoughtsTokenCount: reported.reasoning } : {}),
            }
          : {
              promptTokenCount: 5,
              candidatesTokenCount: n,
              totalTokenCount: 5 + n + thoughts,
              ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
            };
      const chunk = (chunkParts: any[], i: number, last: boolean) => ({
        candidates: [
          {
            content: { role: "model", parts: chunkParts },
            ...(last ? { finishReason: "STOP", ...grounding } : {}),
            index: 0,
          },
        ],
        usageMetadata: usage(i),
        modelVersion: model,
        responseId: "fake-response-1",
      });
      if (method === "generateContent") return jsonReply(chunk(parts, output, true));
      // Streamed: thoughts and text word by word, each function call whole, finishReason on the last chunk.
      const pieces: any[][] = [];
      for (const part of parts) {
        if (part.functionCall) pieces.push([part]);
        else
          for (const [n, w] of words(part.text).entries()) {
            // A signed thought streams its signature once, with its last piece.
            const { thoughtSignature, ...rest } = part;
            const last = n === words(part.text).length - 1;
            pieces.push([
              { ...rest, text: w, ...(last && thoughtSignature ? { thoughtSignature } : {}) },
            ]);
          }
      }
      const chunks = pieces.map((p, i) =>
        chunk(p, Math.min(i + 1, output), i === pieces.length - 1),
      );
      if (request.query.get("alt") === "sse")
        return streamed(
          chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`),
          "text/event-stream",
        );
      return streamed(
        chunks.map(
          (c, i) =>
            (i === 0 ? "[" : ",\r\n") +
            JSON.stringify(c, null, 2) +
            (i === chunks.length - 1 ? "]" : ""),
        ),
        "application/json; charset=UTF-8",
      );
    },
  });
}

interface FakeFile {
  name: string;
  uri: string;
  mimeType: string;
  bytes: Uint8Array;
  /** A file belongs to the key (the project) that uploaded it. */
  key: string;
}

/**
 * Gemini's Files API as its documentation describes the resumable upload: a start request with
 * the X-Goog-Upload-* headers answered with an upload URL, then the bytes to that URL with
 * "upload, finalize", answered with the file (ACTIVE). A file is its uploader's only: another
 * key asking for it, in generateContent or DELETE, gets Gemini's 403.
 */
export class FakeFiles {
  private readonly pending = new Map<string, { size: number; mimeType: string; key: string }>();
  readonly stored = new Map<string, FakeFile>();
  private next = 1;

  handle(request: RecordedRequest, key: string): Response | undefined {
    const origin = `http://${request.headers.get("host")}`;
    if (/^\/upload\/v1(beta)?\/files$/.test(request.path) && request.method === "POST") {
      const uploadId = request.query.get("upload_id");
      if (uploadId === null) {
        if (request.headers.get("x-goog-upload-protocol") !== "resumable")
          return invalid("Upload protocol must be resumable or multipart.");
        if (request.headers.get("x-goog-upload-command") !== "start")
          return invalid("Invalid upload command.");
        const id = `upload-${this.next++}`;
        this.pending.set(id, {
          size: Number(request.headers.get("x-goog-upload-header-content-length")),
          mimeType: request.headers.get("x-goog-upload-header-content-type") ?? "",
          key,
        });
        return new Response("", {
          headers: {
            "x-goog-upload-url": `${origin}${request.path}?upload_id=${id}&upload_protocol=resumable`,
            "x-goog-upload-status": "active",
          },
        });
      }
      const started = this.pending.get(uploadId);
      if (!started) return invalid("Upload not found.", 404, "NOT_FOUND");
      if (request.headers.get("x-goog-upload-command") !== "upload, finalize")
        return invalid("Invalid upload command.");
      if (request.bytes.byteLength !== started.size)
        return invalid(
          `Upload size ${request.bytes.byteLength} does not match the declared ${started.size}.`,
        );
      this.pending.delete(uploadId);
      const id = `audio${this.next++}`;
      const file: FakeFile = {
        name: `files/${id}`,
        uri: `${origin}/v1beta/files/${id}`,
        mimeType: started.mimeType,
        bytes: request.bytes,
        key: started.key,
      };
      this.stored.set(file.name, file);
      return jsonReply({
        file: {
          name: file.name,
          mimeType: file.mimeType,
          sizeBytes: String(file.bytes.byteLength),
          uri: file.uri,
          state: "ACTIVE",
          source: "UPLOADED",
        },
      });
    }
    const own = /^\/v1(?:beta)?\/(files\/[^/]+)$/.exec(request.path);
    if (own && request.method === "DELETE") {
      const file = this.stored.get(own[1]!);
      if (!file || file.key !== key) return this.notYours(own[1]!);
      this.stored.delete(own[1]!);
      return jsonReply({});
    }
    return undefined;
  }

  byUri(uri: string, key: string): FakeFile | undefined {
    const file = [...this.stored.values()].find((f) => f.uri === uri);
    return file && file.key === key ? file : undefined;
  }

  notYours(what: string): Response {
    const id = what.split("/").pop();
    return invalid(
      `You do not have permission to access the File ${id} or it may not exist.`,
      403,
      "PERMISSION_DENIED",
    );
  }
}
