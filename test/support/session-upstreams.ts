import { createHash, createHmac } from "node:crypto";
import { mulberry32 } from "./prng.ts";

/*
 * Loopback fakes of the four upstream dialects levity forwards to (Anthropic Messages, a chat-only
 * OpenAI-compatible provider, OpenAI Responses, Gemini), for the long-session test. Unlike the
 * conformance fakes, which follow instructions in the prompt, each of these plays a model through
 * a seeded script: every answer thinks, then either calls `read_file` (always when the user says
 * TOOL_NUDGE) or says something, and after a tool result it always says something. Each fake
 *
 * - streams as its provider does (PROTOCOLS.md §1.3, §3.3, §5.4, §6.4): Anthropic thinking with a
 *   signature_delta and usage in message_start and message_delta; Responses reasoning items with
 *   encrypted_content (when `include` asks for it, as the real API does); Chat reasoning_content
 *   and tool_calls deltas with usage in a last chunk; Gemini thought parts, a thoughtSignature and
 *   cumulative usageMetadata;
 * - signs with its own secret, binding the signature to its name and the model's family, and
 *   refuses one it cannot verify with its provider's error (Anthropic "Invalid `signature`",
 *   OpenAI `invalid_encrypted_content`, Gemini "Corrupted thought signature."); refuses, as the
 *   real APIs do, a Gemini 3 function call of the current turn without a signature, an Anthropic
 *   tool loop with thinking on whose assistant turn does not start with thinking, and more than
 *   four Anthropic cache breakpoints;
 * - reports usage it made up from the request (its prompt, with a cached prefix when the request
 *   allows one), and records it beside the answer so a test can compare it with what a client got;
 * - records every request: the account key, the body, the status it answered and every
 *   signature-like value in the body with who issued it (from a registry the fakes share);
 * - fails on demand: a 429 or a 503 (Anthropic: 529) with the provider's own body, per account
 *   key, or refuses connections.
 */

/** What a user says to have the fakes call a tool. */
export const TOOL_NUDGE = "Use a tool now.";

export type UpstreamDialect = "anthropic" | "chat" | "responses" | "gemini";

/** Token counts in one shape for every dialect: `input` is the whole prompt, cache reads and writes included. */
export interface Usage {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  /** Output tokens, reasoning included. */
  output: number;
  reasoning: number;
}

export interface ToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

export interface Answer {
  key: string;
  model: string;
  thinking: string;
  text: string;
  toolCalls: ToolCall[];
  usage: Usage;
  /** The signature (or encrypted reasoning) this answer carried, if any. */
  signature?: string;
}

export interface SeenSignature {
  field: string;
  value: string;
  /** `name/family` of the fake that issued it, or undefined for a value no fake issued. */
  issuer?: string;
}

export interface ReceivedRequest {
  key: string;
  path: string;
  body: any;
  status: number;
  signatures: SeenSignature[];
}

/** A 429, a 503 (Anthropic: 529), or the server gone: connections refused from then on, for good. */
export type Failure = "rate-limit" | "unavailable" | "refused";

/** The failures answered with an error body. */
type Answered = Exclude<Failure, "refused">;

/** Every signature any fake issued, and by whom, so a fake can tell a foreign one from garbage. */
export type SignatureRegistry = Map<string, string>;

export interface SessionUpstream {
  name: string;
  dialect: UpstreamDialect;
  /** base_url for gateway.yaml. */
  baseUrl: string;
  requests: ReceivedRequest[];
  answers: Answer[];
  /**
   * From now on, requests with this key (every key when omitted) fail this way; undefined heals.
   * "refused" closes the server, so it is for every key and cannot be healed.
   */
  fail(failure: Failure | undefined, key?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SessionUpstreamOptions {
  name: string;
  dialect: UpstreamDialect;
  seed: number;
  registry: SignatureRegistry;
  /** Account keys it accepts. */
  keys: string[];
}

const encoder = new TextEncoder();

/** claude-sonnet-4-5 -> claude-sonnet: a signature is valid for the model family that made it. */
export function modelFamily(model: string): string {
  return model.split("-").slice(0, 2).join("-");
}

const WORDS =
  "the module exports a parser that reads each token and the cache keeps its prefix while tests check every branch of the loop".split(
    " ",
  );

function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function sse(events: string[], contentType = "text/event-stream"): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < events.length) controller.enqueue(encoder.encode(events[i++]));
      else controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": contentType } });
}

const tokens = (value: unknown): number => Math.ceil(JSON.stringify(value ?? "").length / 4);

/** Each provider's error bodies, as its API sends them (PROTOCOLS.md §1.4, §5.5, §6.6). */
const ERRORS: Record<
  UpstreamDialect,
  {
    failure(failure: Answered, model: string): Response;
    badSignature(where: string, value: string): Response;
    badKey(): Response;
  }
> = {
  anthropic: {
    failure: (failure) =>
      failure === "rate-limit"
        ? json(
            {
              type: "error",
              error: {
                type: "rate_limit_error",
                message:
                  "This request would exceed the rate limit for your organization of 50 requests per minute.",
              },
              request_id: "req_session_fake",
            },
            429,
          )
        : json(
            {
              type: "error",
              error: { type: "overloaded_error", message: "Overloaded" },
              request_id: "req_session_fake",
            },
            529,
          ),
    badSignature: (where) =>
      json(
        {
          type: "error",
          error: {
            type: "invalid_request_error",
            message: `${where}: Invalid \`signature\` in \`thinking\` block`,
          },
          request_id: "req_session_fake",
        },
        400,
      ),
    badKey: () =>
      json(
        {
          type: "error",
          error: { type: "authentication_error", message: "invalid x-api-key" },
          request_id: "req_session_fake",
        },
        401,
      ),
  },
  chat: openaiErrors(),
  responses: openaiErrors(),
  gemini: {
    failure: (failure) =>
      failure === "rate-limit"
        ? json(
            {
              error: {
                code: 429,
                message:
                  "You exceeded your current quota, please check your plan and billing details.",
                status: "RESOURCE_EXHAUSTED",
              },
            },
            429,
          )
        : json(
            {
              error: {
                code: 503,
                message: "The model is overloaded. Please try again later.",
                status: "UNAVAILABLE",
              },
            },
            503,
          ),
    badSignature: () =>
      json(
        {
          error: { code: 400, message: "Corrupted thought signature.", status: "INVALID_ARGUMENT" },
        },
        400,
      ),
    badKey: () =>
      json(
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
      ),
  },
};

function openaiErrors() {
  const error = (status: number, message: string, type: string, code: string | null) =>
    json({ error: { message, type, param: null, code } }, status);
  return {
    failure: (failure: Answered, model: string) =>
      failure === "rate-limit"
        ? error(
            429,
            `Rate limit reached for ${model} on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.`,
            "requests",
            "rate_limit_exceeded",
          )
        : error(503, "The server is overloaded or not ready yet.", "server_error", null),
    badSignature: (_where: string, value: string) =>
      error(
        400,
        `The encrypted content ${value.slice(0, 4)}...${value.slice(-4)} could not be verified.`,
        "invalid_request_error",
        "invalid_encrypted_content",
      ),
    badKey: () =>
      error(
        401,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
      ),
  };
}

/**
 * Where each dialect carries signatures in a request: the field, the value, where it sits (for an
 * error) and, for an Anthropic thinking block, the text it signs.
 */
function signaturesIn(
  dialect: UpstreamDialect,
  body: any,
): [string, string, string, string | undefined][] {
  const found: [string, string, string, string | undefined][] = [];
  if (dialect === "anthropic")
    for (const [i, message] of (body.messages ?? []).entries())
      for (const [j, block] of (Array.isArray(message.content) ? message.content : []).entries()) {
        const where = `messages.${i}.content.${j}`;
        if (block.type === "thinking")
          found.push([
            "thinking.signature",
            String(block.signature ?? ""),
            where,
            String(block.thinking ?? ""),
          ]);
        if (block.type === "redacted_thinking")
          found.push(["redacted_thinking.data", String(block.data ?? ""), where, undefined]);
      }
  if (dialect === "responses")
    for (const [i, item] of (Array.isArray(body.input) ? body.input : []).entries())
      if (item.type === "reasoning" && item.encrypted_content)
        found.push([
          "reasoning.encrypted_content",
          String(item.encrypted_content),
          `input.${i}`,
          undefined,
        ]);
  if (dialect === "gemini")
    for (const [i, content] of (body.contents ?? []).entries())
      for (const [j, part] of (content.parts ?? []).entries())
        if (part.thoughtSignature)
          found.push([
            "thoughtSignature",
            String(part.thoughtSignature),
            `contents.${i}.parts.${j}`,
            undefined,
          ]);
  return found;
}

/** The values Google documents for a function call whose signature is lost (history from another model). */
export const GEMINI_SKIP = [
  "skip_thought_signature_validator",
  "context_engineering_is_the_way_to_go",
];

/**
 * What each provider refuses in an unfinished tool loop: Anthropic, with thinking on, an assistant
 * turn answered by tool results that does not start with its thinking; Gemini 3, a function call
 * of the current turn (since the last user text) without a thought signature.
 */
function refuseLoop(dialect: UpstreamDialect, body: any): Response | undefined {
  if (
    dialect === "anthropic" &&
    body.thinking?.type === "enabled" &&
    lastIsToolResult(dialect, body)
  ) {
    const index = body.messages.length - 2;
    const content = body.messages[index]?.content;
    const first = Array.isArray(content) ? content[0]?.type : "text";
    if (first !== "thinking" && first !== "redacted_thinking")
      return json(
        {
          type: "error",
          error: {
            type: "invalid_request_error",
            message: `messages.${index}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`,
          },
          request_id: "req_session_fake",
        },
        400,
      );
  }
  if (dialect === "gemini") {
    const contents: any[] = body.contents ?? [];
    const turnStart = contents.findLastIndex(
      (c) => c.role !== "model" && (c.parts ?? []).some((p: any) => typeof p.text === "string"),
    );
    for (let i = Math.max(turnStart, 0); i < contents.length; i++) {
      if (contents[i].role !== "model") continue;
      const call = (contents[i].parts ?? []).find((p: any) => p.functionCall);
      if (call && !call.thoughtSignature)
        return json(
          {
            error: {
              code: 400,
              message: `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`${call.functionCall.name}\` , position ${i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
              status: "INVALID_ARGUMENT",
            },
          },
          400,
        );
    }
  }
  return undefined;
}

/** Every string in a body that some fake issued as a signature, or that levity wrapped (lv1./lv2.): none may sit anywhere else. */
function strayValues(value: unknown, registry: SignatureRegistry, out: string[]): void {
  if (typeof value === "string") {
    if (registry.has(value) || /^lv[12]\./.test(value)) out.push(value);
  } else if (Array.isArray(value)) for (const v of value) strayValues(v, registry, out);
  else if (value && typeof value === "object")
    for (const v of Object.values(value)) strayValues(v, registry, out);
}

function lastInput(dialect: UpstreamDialect, body: any): unknown {
  if (dialect === "anthropic" || dialect === "chat") return body.messages?.at(-1);
  if (dialect === "responses") return Array.isArray(body.input) ? body.input.at(-1) : body.input;
  return body.contents?.at(-1);
}

/** What the model was last given: a tool result (so it answers in words) or a user's words. */
function lastIsToolResult(dialect: UpstreamDialect, body: any): boolean {
  if (dialect === "anthropic") {
    const content = body.messages?.at(-1)?.content;
    return Array.isArray(content) && content.some((b: any) => b.type === "tool_result");
  }
  if (dialect === "chat") return body.messages?.at(-1)?.role === "tool";
  if (dialect === "responses")
    return Array.isArray(body.input) && body.input.at(-1)?.type === "function_call_output";
  return (body.contents?.at(-1)?.parts ?? []).some((p: any) => p.functionResponse);
}

/** The stable prefix a provider may cache: tools and system prompt; Anthropic only with a breakpoint. */
function cacheablePrefix(dialect: UpstreamDialect, body: any): unknown | undefined {
  if (dialect === "anthropic")
    return JSON.stringify(body).includes('"cache_control"') ? [body.tools, body.system] : undefined;
  if (dialect === "chat")
    return [
      body.tools,
      body.messages?.filter((m: any) => m.role === "system" || m.role === "developer"),
    ];
  if (dialect === "responses") return [body.tools, body.instructions, body.prompt_cache_key];
  return [body.tools, body.systemInstruction];
}

function keyOf(dialect: UpstreamDialect, request: Request, url: URL): string {
  if (dialect === "anthropic") return request.headers.get("x-api-key") ?? "";
  if (dialect === "gemini")
    return request.headers.get("x-goog-api-key") ?? url.searchParams.get("key") ?? "";
  return (request.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
}

const PATHS: Record<UpstreamDialect, RegExp> = {
  anthropic: /^\/v1\/messages$/,
  chat: /^\/v1\/chat\/completions$/,
  responses: /^\/v1\/responses$/,
  gemini: /^\/v1beta\/models\/([^/:]+):streamGenerateContent$/,
};

export function startSessionUpstream(options: SessionUpstreamOptions): SessionUpstream {
  const { name, dialect, registry } = options;
  const random = mulberry32(options.seed);
  const secret = createHash("sha256").update(`${name}:${options.seed}:secret`).digest();
  const requests: ReceivedRequest[] = [];
  const answers: Answer[] = [];
  const failures = new Map<string, Answered>();
  const cachedPrefixes = new Set<string>();
  let counter = 0;

  const mac = (family: string, content: string): string =>
    // Shaped like the real values: opaque base64 (Gemini, Anthropic) or Fernet-like (OpenAI).
    (dialect === "responses" ? "gAAAAAB" : "") +
    createHmac("sha256", secret).update(`${name}|${family}|${content}`).digest("base64");
  const sign = (family: string, content: string): string => {
    const value = mac(family, content);
    registry.set(value, `${name}/${family}`);
    return value;
  };
  // Anthropic checks a thinking block's text against its signature, so changed text is refused too.
  const verified = (family: string, value: string, thinking: string | undefined): boolean =>
    registry.get(value) === `${name}/${family}` &&
    (thinking === undefined || value === mac(family, thinking));

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      const match = PATHS[dialect].exec(url.pathname);
      const key = keyOf(dialect, request, url);
      const text = await request.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const record: ReceivedRequest = { key, path: url.pathname, body, status: 0, signatures: [] };
      requests.push(record);
      const reply = (response: Response): Response => {
        record.status = response.status;
        return response;
      };
      if (!match || request.method !== "POST" || body === undefined)
        return reply(json({ error: { message: `not served by ${name}` } }, 404));
      if (!options.keys.includes(key)) return reply(ERRORS[dialect].badKey());
      const model = dialect === "gemini" ? decodeURIComponent(match[1]!) : String(body.model);
      const family = modelFamily(model);

      const stray: string[] = [];
      strayValues(body, registry, stray);
      const fields = signaturesIn(dialect, body);
      for (const [field, value] of fields)
        record.signatures.push({
          field,
          value,
          issuer: GEMINI_SKIP.includes(value) ? "google:skip-validator" : registry.get(value),
        });
      for (const value of stray)
        if (!fields.some(([, v]) => v === value))
          record.signatures.push({ field: "elsewhere", value, issuer: registry.get(value) });

      const failure = failures.get(key) ?? failures.get("*");
      if (failure) {
        // Long enough that levity does not come back to this account within a session, so what
        // each fake receives does not depend on how fast the machine runs the session.
        const response = ERRORS[dialect].failure(failure, model);
        response.headers.set("retry-after", "120");
        return reply(response);
      }
      for (const [, value, where, thinking] of fields)
        if (!verified(family, value, thinking) && !GEMINI_SKIP.includes(value))
          return reply(ERRORS[dialect].badSignature(where, value));
      const refused = refuseLoop(dialect, body);
      if (refused) return reply(refused);
      const breakpoints = JSON.stringify(body).split('"cache_control"').length - 1;
      if (dialect === "anthropic" && breakpoints > 4)
        return reply(
          json(
            {
              type: "error",
              error: {
                type: "invalid_request_error",
                message: `A maximum of 4 blocks with cache_control may be provided. Found ${breakpoints}.`,
              },
              request_id: "req_session_fake",
            },
            400,
          ),
        );
      if (dialect !== "gemini" && body.stream !== true)
        return reply(json({ error: { message: `${name} plays streamed answers only` } }, 400));

      const answer = script(body, key, model, family);
      answers.push(answer);
      if (dialect === "anthropic") return reply(anthropicStream(answer));
      if (dialect === "chat") return reply(chatStream(answer, body));
      if (dialect === "responses") return reply(responsesStream(answer, body));
      return reply(geminiStream(answer, url.searchParams.get("alt") === "sse"));
    },
  });

  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
  const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(" ");

  function script(body: any, key: string, model: string, family: string): Answer {
    const n = ++counter;
    const thinking = `${name} thinks (${n}): ${sentence(6)}.`;
    // A user's turn asks for a tool six times in ten, or always when it says TOOL_NUDGE; a tool
    // result is always answered in words.
    const roll = random();
    const callTool =
      !lastIsToolResult(dialect, body) &&
      (roll < 0.6 || JSON.stringify(lastInput(dialect, body)).includes(TOOL_NUDGE));
    const toolCalls: ToolCall[] = callTool
      ? [
          {
            id:
              dialect === "anthropic"
                ? `toolu_${name}_${n}`
                : dialect === "gemini"
                  ? ""
                  : `call_${name}_${n}`,
            name: "read_file",
            args: { path: `src/${pick(WORDS)}-${n}.ts`, lines: 1 + Math.floor(random() * 200) },
          },
        ]
      : [];
    const text = callTool ? "" : `${name} says (${n}): ${sentence(8)}.`;
    const prompt = tokens([body.tools, body.system, body.messages, body.input, body.contents]);
    const prefix = cacheablePrefix(dialect, body);
    let cacheRead = 0;
    let cacheWrite = 0;
    if (prefix !== undefined) {
      const digest = createHash("sha256").update(JSON.stringify(prefix)).digest("hex");
      const size = Math.min(tokens(prefix), prompt);
      // OpenAI caches in steps of 128 tokens after the first 1,024; Anthropic writes then reads.
      if (cachedPrefixes.has(digest))
        cacheRead = dialect === "chat" || dialect === "responses" ? size - (size % 128) : size;
      else if (dialect === "anthropic") cacheWrite = size;
      cachedPrefixes.add(digest);
    }
    const reasoning = 20 + Math.floor(random() * 80);
    const output = reasoning + 5 + Math.floor(random() * 60);
    const signed = toolCalls.length > 0 ? JSON.stringify(toolCalls) : text;
    const signature =
      dialect === "anthropic"
        ? sign(family, thinking)
        : dialect === "gemini"
          ? sign(family, signed)
          : dialect === "responses" && body.include?.includes("reasoning.encrypted_content")
            ? sign(family, thinking)
            : undefined;
    return {
      key,
      model,
      thinking,
      text,
      toolCalls,
      usage: { input: prompt, cacheRead, cacheWrite, output, reasoning },
      signature,
    };
  }

  return {
    name,
    dialect,
    baseUrl:
      dialect === "chat" || dialect === "responses"
        ? `http://127.0.0.1:${server.port}/v1`
        : `http://127.0.0.1:${server.port}`,
    requests,
    answers,
    async fail(failure, key = "*") {
      if (failure === "refused") await server.stop(true);
      else if (failure) failures.set(key, failure);
      else failures.delete(key);
    },
    async stop() {
      await server.stop(true);
    },
  };
}

/** Splits a text in two pieces, as streams deliver it. */
const halves = (text: string): string[] => {
  const cut = Math.ceil(text.length / 2);
  return [text.slice(0, cut), text.slice(cut)].filter(Boolean);
};

function anthropicStream(answer: Answer): Response {
  const { usage } = answer;
  const event = (data: any) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
  const cacheUsage = {
    input_tokens: usage.input - usage.cacheRead - usage.cacheWrite,
    cache_creation_input_tokens: usage.cacheWrite,
    cache_read_input_tokens: usage.cacheRead,
  };
  const events = [
    event({
      type: "message_start",
      message: {
        id: `msg_${createHash("sha256").update(answer.thinking).digest("hex").slice(0, 24)}`,
        type: "message",
        role: "assistant",
        model: answer.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...cacheUsage, output_tokens: 1, service_tier: "standard" },
      },
    }),
    event({
      type: "content_block_start",
      index: 0,
      content_block: { type: "thinking", thinking: "", signature: "" },
    }),
    ...halves(answer.thinking).map((thinking) =>
      event({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking } }),
    ),
    event({
      type: "content_block_delta",
      index: 0,
      delta: { type: "signature_delta", signature: answer.signature },
    }),
    event({ type: "content_block_stop", index: 0 }),
    event({ type: "ping" }),
  ];
  if (answer.text) {
    events.push(
      event({ type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }),
      ...halves(answer.text).map((text) =>
        event({ type: "content_block_delta", index: 1, delta: { type: "text_delta", text } }),
      ),
      event({ type: "content_block_stop", index: 1 }),
    );
  }
  for (const [i, call] of answer.toolCalls.entries()) {
    const index = i + 1;
    events.push(
      event({
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: call.id, name: call.name, input: {} },
      }),
      ...halves(JSON.stringify(call.args)).map((partial_json) =>
        event({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json },
        }),
      ),
      event({ type: "content_block_stop", index }),
    );
  }
  events.push(
    event({
      type: "message_delta",
      delta: {
        stop_reason: answer.toolCalls.length ? "tool_use" : "end_turn",
        stop_sequence: null,
      },
      usage: { ...cacheUsage, output_tokens: usage.output },
    }),
    event({ type: "message_stop" }),
  );
  return sse(events);
}

function chatStream(answer: Answer, body: any): Response {
  const base = {
    id: `chatcmpl-${answer.thinking.length}${answer.usage.output}`,
    object: "chat.completion.chunk",
    created: 1_764_000_000,
    model: answer.model,
    system_fingerprint: "fp_session",
  };
  const withUsage = body.stream_options?.include_usage === true;
  const chunk = (delta: any, finish: string | null = null) =>
    `data: ${JSON.stringify({
      ...base,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(withUsage ? { usage: null } : {}),
    })}\n\n`;
  const events = [
    chunk({ role: "assistant", content: "" }),
    ...halves(answer.thinking).map((reasoning_content) => chunk({ reasoning_content })),
    ...halves(answer.text).map((content) => chunk({ content })),
  ];
  for (const [index, call] of answer.toolCalls.entries()) {
    const [first, ...rest] = halves(JSON.stringify(call.args));
    events.push(
      chunk({
        tool_calls: [
          { index, id: call.id, type: "function", function: { name: call.name, arguments: first } },
        ],
      }),
      ...rest.map((piece) => chunk({ tool_calls: [{ index, function: { arguments: piece } }] })),
    );
  }
  events.push(chunk({}, answer.toolCalls.length ? "tool_calls" : "stop"));
  if (withUsage) {
    const { usage } = answer;
    events.push(
      `data: ${JSON.stringify({
        ...base,
        choices: [],
        usage: {
          prompt_tokens: usage.input,
          completion_tokens: usage.output,
          total_tokens: usage.input + usage.output,
          prompt_tokens_details: { cached_tokens: usage.cacheRead },
          completion_tokens_details: { reasoning_tokens: usage.reasoning },
        },
      })}\n\n`,
    );
  }
  events.push("data: [DONE]\n\n");
  return sse(events);
}

function responsesStream(answer: Answer, body: any): Response {
  let sequence = 0;
  const event = (data: any) =>
    `event: ${data.type}\ndata: ${JSON.stringify({ ...data, sequence_number: sequence++ })}\n\n`;
  const id = `resp_${answer.thinking.length}${answer.usage.output}${answer.usage.input}`;
  const response = (status: string, output: any[], usage: any) => ({
    id,
    object: "response",
    created_at: 1_764_000_000,
    status,
    completed_at: status === "completed" ? 1_764_000_001 : null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: answer.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: body.tools ?? [],
    top_p: 1,
    truncation: "disabled",
    usage,
    user: null,
    metadata: {},
  });
  const events = [
    event({ type: "response.created", response: response("in_progress", [], null) }),
    event({ type: "response.in_progress", response: response("in_progress", [], null) }),
  ];
  const output: any[] = [];
  const reasoningId = `rs_${id.slice(5)}`;
  const summary = [{ type: "summary_text", text: answer.thinking }];
  const reasoning = {
    id: reasoningId,
    type: "reasoning",
    summary,
    ...(answer.signature ? { encrypted_content: answer.signature } : {}),
  };
  events.push(
    event({
      type: "response.output_item.added",
      output_index: 0,
      item: { ...reasoning, summary: [] },
    }),
    event({
      type: "response.reasoning_summary_part.added",
      item_id: reasoningId,
      output_index: 0,
      summary_index: 0,
      part: { type: "summary_text", text: "" },
    }),
    ...halves(answer.thinking).map((delta) =>
      event({
        type: "response.reasoning_summary_text.delta",
        item_id: reasoningId,
        output_index: 0,
        summary_index: 0,
        delta,
      }),
    ),
    event({
      type: "response.reasoning_summary_text.done",
      item_id: reasoningId,
      output_index: 0,
      summary_index: 0,
      text: answer.thinking,
    }),
    event({
      type: "response.reasoning_summary_part.done",
      item_id: reasoningId,
      output_index: 0,
      summary_index: 0,
      part: summary[0],
    }),
    event({ type: "response.output_item.done", output_index: 0, item: reasoning }),
  );
  output.push(reasoning);
  if (answer.text) {
    const itemId = `msg_${id.slice(5)}`;
    const part = { type: "output_text", text: answer.text, annotations: [], logprobs: [] };
    const message = {
      id: itemId,
      type: "message",
      status: "completed",
      role: "assistant",
      content: [part],
    };
    events.push(
      event({
        type: "response.output_item.added",
        output_index: 1,
        item: { ...message, status: "in_progress", content: [] },
      }),
      event({
        type: "response.content_part.added",
        item_id: itemId,
        output_index: 1,
        content_index: 0,
        part: { ...part, text: "" },
      }),
      ...halves(answer.text).map((delta) =>
        event({
          type: "response.output_text.delta",
          item_id: itemId,
          output_index: 1,
          content_index: 0,
          delta,
          logprobs: [],
        }),
      ),
      event({
        type: "response.output_text.done",
        item_id: itemId,
        output_index: 1,
        content_index: 0,
        text: answer.text,
        logprobs: [],
      }),
      event({
        type: "response.content_part.done",
        item_id: itemId,
        output_index: 1,
        content_index: 0,
        part,
      }),
      event({ type: "response.output_item.done", output_index: 1, item: message }),
    );
    output.push(message);
  }
  for (const call of answer.toolCalls) {
    const output_index = output.length;
    const itemId = `fc_${call.id.slice(5)}`;
    const args = JSON.stringify(call.args);
    const item = {
      id: itemId,
      type: "function_call",
      status: "completed",
      call_id: call.id,
      name: call.name,
      arguments: args,
    };
    events.push(
      event({
        type: "response.output_item.added",
        output_index,
        item: { ...item, status: "in_progress", arguments: "" },
      }),
      ...halves(args).map((delta) =>
        event({
          type: "response.function_call_arguments.delta",
          item_id: itemId,
          output_index,
          delta,
        }),
      ),
      event({
        type: "response.function_call_arguments.done",
        item_id: itemId,
        output_index,
        name: call.name,
        arguments: args,
      }),
      event({ type: "response.output_item.done", output_index, item }),
    );
    output.push(item);
  }
  const { usage } = answer;
  events.push(
    event({
      type: "response.completed",
      response: response("completed", output, {
        input_tokens: usage.input,
        input_tokens_details: { cached_tokens: usage.cacheRead },
        output_tokens: usage.output,
        output_tokens_details: { reasoning_tokens: usage.reasoning },
        total_tokens: usage.input + usage.output,
      }),
    }),
  );
  return sse(events);
}

function geminiStream(answer: Answer, asSse: boolean): Response {
  const { usage } = answer;
  const usageMetadata = {
    promptTokenCount: usage.input,
    candidatesTokenCount: usage.output - usage.reasoning,
    thoughtsTokenCount: usage.reasoning,
    totalTokenCount: usage.input + usage.output,
    ...(usage.cacheRead ? { cachedContentTokenCount: usage.cacheRead } : {}),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: usage.input }],
  };
  const responseId = createHash("sha256").update(answer.thinking).digest("base64url").slice(0, 22);
  const chunk = (parts: any[], last = false) => ({
    candidates: [
      {
        content: { role: "model", parts },
        ...(last ? { finishReason: "STOP" } : {}),
        index: 0,
      },
    ],
    usageMetadata,
    modelVersion: answer.model,
    responseId,
  });
  const chunks = [chunk([{ text: answer.thinking, thought: true }])];
  if (answer.toolCalls.length > 0)
    chunks.push(
      chunk(
        answer.toolCalls.map((call, i) => ({
          functionCall: { name: call.name, args: call.args },
          // Gemini signs the first function call of a turn.
          ...(i === 0 ? { thoughtSignature: answer.signature } : {}),
        })),
        true,
      ),
    );
  else {
    const [first, second] = halves(answer.text);
    chunks.push(chunk([{ text: first }]));
    // Without a call, the signature rides on the last part.
    chunks.push(chunk([{ text: second ?? "", thoughtSignature: answer.signature }], true));
  }
  if (asSse) return sse(chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`));
  return sse(
    chunks.map(
      (c, i) =>
        `${i === 0 ? "[" : ",\r\n"}${JSON.stringify(c, null, 2)}${i === chunks.length - 1 ? "]" : ""}`,
    ),
    "application/json",
  );
}
