import {
  type AnswerView,
  type DialectModule,
  type ImageView,
  isObject,
  type Json,
  list,
  parseJson,
  parseSse,
  type Plan,
  type RequestView,
  schemaView,
  readAnswerWith,
} from "../dialect.ts";

/* Gemini: POST /v1beta/models/{model}:generateContent | :streamGenerateContent (SSE or JSON array). */

const MODEL_PATH = /\/models\/([^/:?]+):(\w+)/;

const signatureOf = (part: Json): unknown => part.thoughtSignature ?? part.thought_signature;

function readRequest(path: string, body: Json): RequestView {
  const match = MODEL_PATH.exec(path);
  const contents = list(body.contents);
  const signatures: string[] = [];
  const toolResults: string[] = [];
  const images: ImageView[] = [];
  for (const content of contents)
    for (const part of list(content?.parts)) {
      if (!isObject(part)) continue;
      const signature = signatureOf(part);
      if (typeof signature === "string") signatures.push(signature);
      const response = part.functionResponse ?? part.function_response;
      if (isObject(response)) toolResults.push(String(response.name));
      const inline = part.inlineData ?? part.inline_data;
      if (isObject(inline))
        images.push({ mediaType: inline.mimeType ?? inline.mime_type, data: String(inline.data) });
    }
  const system = body.systemInstruction ?? body.system_instruction;
  const thinking = body.generationConfig?.thinkingConfig;
  return {
    model: match ? decodeURIComponent(match[1]!) : undefined,
    stream: match?.[2] === "streamGenerateContent",
    sse: /[?&]alt=sse\b/.test(path),
    tools: list(body.tools).flatMap((tool) =>
      list(tool?.functionDeclarations ?? tool?.function_declarations).map((d) =>
        schemaView(String(d?.name), d?.parametersJsonSchema ?? d?.parameters),
      ),
    ),
    system:
      typeof system === "string"
        ? [system]
        : list(system?.parts)
            .map((part) => part?.text)
            .filter((text): text is string => typeof text === "string"),
    signatures,
    toolResults,
    endsWithToolResult: list(contents.at(-1)?.parts).some((p) => isObject(p?.functionResponse)),
    thinking:
      isObject(thinking) &&
      (thinking.includeThoughts === true ||
        (thinking.thinkingBudget ?? 0) > 0 ||
        !!thinking.thinkingLevel),
    cacheControl: false,
    images,
  };
}

function partsOf(plan: Plan): Json[] {
  const parts: Json[] = [];
  if (plan.thinking) parts.push({ text: plan.thinking.text, thought: true });
  const signature = plan.thinking?.signature ?? plan.callSignature;
  if (plan.text !== undefined) parts.push({ text: plan.text });
  if (plan.call) parts.push({ functionCall: { name: plan.call.name, args: plan.call.args } });
  // Gemini puts the signature on the first function call, else on the last part.
  if (signature && parts.length > 0) {
    const target = parts.find((p) => p.functionCall) ?? parts.at(-1)!;
    target.thoughtSignature = signature;
  }
  return parts;
}

function writeAnswer(model: string, plan: Plan, request: RequestView) {
  const usageMetadata = {
    promptTokenCount: plan.usage.input,
    candidatesTokenCount: plan.usage.output,
    totalTokenCount: plan.usage.input + plan.usage.output,
  };
  const chunk = (parts: Json[], finishReason?: string) => ({
    candidates: [
      { content: { role: "model", parts }, ...(finishReason ? { finishReason } : {}), index: 0 },
    ],
    usageMetadata,
    modelVersion: model,
    responseId: `kit-${plan.usage.input}`,
  });
  const parts = partsOf(plan);
  if (!request.stream)
    return {
      status: 200,
      contentType: "application/json",
      body: JSON.stringify(chunk(parts, "STOP")),
    };
  const thought = parts.filter((p) => p.thought);
  const rest = parts.filter((p) => !p.thought);
  const chunks = [...(thought.length ? [chunk(thought)] : []), chunk(rest, "STOP")];
  // Google frames its SSE with CRLF, as it does the JSON array's separators.
  if (request.sse)
    return {
      status: 200,
      contentType: "text/event-stream",
      body: chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join(""),
    };
  // Without ?alt=sse, a JSON array of pretty-printed chunks as Google frames it: each chunk's
  // closing brace on its own line, then ",\r\n" (readers such as Portkey's split on CRLF).
  return {
    status: 200,
    contentType: "application/json; charset=UTF-8",
    body: `[${chunks.map((c) => JSON.stringify(c, null, 2)).join("\n,\r\n")}\n]`,
  };
}

function fromChunks(chunks: unknown[], view: AnswerView, streamed: boolean): void {
  const parts: Json[] = [];
  let finished = false;
  for (const chunk of chunks) {
    if (!isObject(chunk)) {
      view.problems.push("a chunk that is not a JSON object");
      continue;
    }
    if (chunk.error) {
      view.problems.push(`error: ${JSON.stringify(chunk.error).slice(0, 160)}`);
      continue;
    }
    if (chunk.usageMetadata)
      view.usage = {
        input: chunk.usageMetadata.promptTokenCount,
        output: chunk.usageMetadata.candidatesTokenCount ?? 0,
      };
    const candidate = list(chunk.candidates)[0];
    if (!isObject(candidate)) {
      if (!chunk.usageMetadata) view.problems.push("a chunk with neither candidates nor usage");
      continue;
    }
    if (finished && list(candidate.content?.parts).length > 0)
      view.problems.push("parts after the chunk with finishReason");
    if (candidate.content && candidate.content.role !== "model")
      view.problems.push(`content role ${candidate.content.role}, not model`);
    parts.push(...list(candidate.content?.parts));
    if (candidate.finishReason) {
      finished = true;
      view.stop = candidate.finishReason;
    }
  }
  if (!finished) view.problems.push(streamed ? "no chunk had a finishReason" : "no finishReason");
  for (const part of parts) {
    if (typeof part.text === "string" && !part.thought) view.text += part.text;
    const signature = signatureOf(part);
    if (typeof signature === "string") view.signatures.push(signature);
    if (isObject(part.functionCall)) {
      view.toolCalls.push({ id: part.functionCall.id, name: part.functionCall.name });
      if (!isObject(part.functionCall.args ?? {}))
        view.problems.push(`functionCall ${part.functionCall.name}'s args are not an object`);
    }
  }
  view.turn = [{ role: "model", parts }];
}

function readAnswer(status: number, contentType: string, text: string): AnswerView {
  return readAnswerWith(status, contentType, text, { stream: readStreamed, whole: readWhole });
}

function readStreamed(text: string, view: AnswerView): void {
  const chunks = parseSse(text).map((event) => parseJson(event.data));
  fromChunks(chunks, view, true);
}

function readWhole(text: string, view: AnswerView): void {
  const json = parseJson(text);
  if (Array.isArray(json)) fromChunks(json, view, true);
  else if (isObject(json)) fromChunks([json], view, false);
  else view.problems.push(`not JSON: ${text.slice(0, 160)}`);
}

function continueBody(body: Json, answer: AnswerView, result: string): Json {
  return {
    ...body,
    contents: [
      ...list(body.contents),
      ...answer.turn,
      {
        role: "user",
        parts: answer.toolCalls.map((call) => ({
          functionResponse: {
            ...(call.id ? { id: call.id } : {}),
            name: call.name,
            response: { result },
          },
        })),
      },
    ],
  };
}

export const gemini: DialectModule = {
  dialect: "gemini",
  readRequest,
  writeAnswer,
  readAnswer,
  continueBody,
};
