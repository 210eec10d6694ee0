/*
 * What the kit needs to know about each wire dialect, in one shape: how to read a request (to check
 * what a gateway sent upstream, and to let a fake decide its answer), how to write a provider's
 * answer (the fakes), how to read an answer a client got (to check what the gateway returned), and
 * how a client continues the conversation after a tool call.
 */

export const DIALECTS = ["anthropic", "openai-responses", "openai-chat", "gemini"] as const;
export type Dialect = (typeof DIALECTS)[number];

// biome-ignore lint/suspicious/noExplicitAny: JSON of four wire dialects from any gateway, read field by field behind guards
export type Json = Record<string, any>;

/** A function tool as the model sees it: its name and the names of its top-level parameters. */
export interface ToolView {
  name: string;
  /** Undefined for a tool without a JSON schema (a Responses custom/freeform tool). */
  properties?: string[];
  required?: string[];
  /** The schema as sent, for a fake that calls the tool. */
  schema?: unknown;
}

export interface ImageView {
  mediaType?: string;
  data: string;
}

export interface RequestView {
  model?: string;
  stream: boolean;
  /** Gemini: the stream is SSE (`?alt=sse`), not a JSON array. */
  sse?: boolean;
  /** Tools the client runs itself; a provider's hosted tools (web search, ...) are not here. */
  tools: ToolView[];
  system: string[];
  /** Values of the dialect's own signature fields in the history (thinking, thought, reasoning). */
  signatures: string[];
  /** The ids (Gemini: the names) the tool results answer, in order. */
  toolResults: string[];
  /** The last turn is a tool result: the model answers it rather than calling again. */
  endsWithToolResult: boolean;
  thinking: boolean;
  cacheControl: boolean;
  promptCacheKey?: string;
  images: ImageView[];
}

export interface ToolCallView {
  id?: string;
  name: string;
}

export interface AnswerView {
  /** What is wrong with the answer's shape or its event order, first problem first. */
  problems: string[];
  stop?: string;
  toolCalls: ToolCallView[];
  usage?: { input: unknown; output: unknown };
  signatures: string[];
  text: string;
  /** The assistant's turn, in the dialect's request form, for the next request. */
  turn: Json[];
}

/**
 * What every dialect's reader does first: a status other than 200 is the problem, and a stream
 * and a whole body each go to the dialect's own reader of them.
 */
export function readAnswerWith(
  status: number,
  contentType: string,
  text: string,
  read: {
    stream(text: string, view: AnswerView): void;
    whole(text: string, view: AnswerView): void;
  },
): AnswerView {
  const view: AnswerView = { problems: [], toolCalls: [], signatures: [], text: "", turn: [] };
  if (status !== 200) view.problems.push(`status ${status}: ${text.slice(0, 200)}`);
  else if (contentType.includes("text/event-stream")) read.stream(text, view);
  else read.whole(text, view);
  return view;
}

/** What a fake decided to answer. */
export interface Plan {
  thinking?: { text: string; signature?: string };
  call?: { id: string; name: string; args: Json };
  text?: string;
  usage: { input: number; output: number };
  /** Gemini 3 signs its function calls even without thoughts shown. */
  callSignature?: string;
  /** A Codex compaction trigger: answer with one compaction item. */
  compaction?: string;
}

export interface WireAnswer {
  status: number;
  contentType: string;
  body: string;
}

export interface DialectModule {
  dialect: Dialect;
  readRequest(path: string, body: Json): RequestView;
  /** The provider's answer for a plan: its exact bytes, streamed or whole. */
  writeAnswer(model: string, plan: Plan, request: RequestView, body: Json): WireAnswer;
  readAnswer(status: number, contentType: string, text: string): AnswerView;
  /** The next request after `answer`: its turn appended, each tool call answered with `result`. */
  continueBody(body: Json, answer: AnswerView, result: string): Json;
}

export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

// biome-ignore lint/suspicious/noExplicitAny: as Json: list items are read behind guards
export const list = (value: unknown): any[] => (Array.isArray(value) ? value : []);

export function schemaView(name: string, schema: unknown): ToolView {
  if (!isObject(schema)) return { name, properties: [], schema };
  return {
    name,
    schema,
    properties: isObject(schema.properties) ? Object.keys(schema.properties).sort() : [],
    required: Array.isArray(schema.required) ? [...schema.required].sort() : [],
  };
}

/** Arguments that satisfy a schema's required properties, so the call looks like a model's. */
export function argsFor(schema: unknown): Json {
  const args: Json = {};
  if (!isObject(schema) || !isObject(schema.properties)) return args;
  for (const key of list(schema.required)) {
    const type = schema.properties[key]?.type;
    const first = Array.isArray(type) ? type[0] : type;
    args[key] =
      first === "number" || first === "integer"
        ? 1
        : first === "boolean"
          ? true
          : first === "array"
            ? []
            : first === "object"
              ? {}
              : "kit";
  }
  return args;
}

/** One SSE event as providers write it. */
export function sse(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
}

export interface SseEvent {
  event?: string;
  data: string;
}

/** The events of an SSE body; comments and blank keep-alives are skipped. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n\n+/)) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length > 0) events.push({ event, data: data.join("\n") });
  }
  return events;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const isCount = (value: unknown): boolean =>
  typeof value === "number" && Number.isFinite(value) && value >= 0;

/** Text of an Anthropic/Chat/Responses content that may be a string or a list of text parts. */
export function textsOf(content: unknown): string[] {
  if (typeof content === "string") return [content];
  return list(content)
    .map((part) => (typeof part === "string" ? part : isObject(part) ? part.text : undefined))
    .filter((text): text is string => typeof text === "string");
}
