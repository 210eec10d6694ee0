import { createHash } from "node:crypto";
import {
  jsonReply,
  startFake,
  type FakeOptions,
  type FakeUpstream,
  type RecordedRequest,
} from "./fake-server.ts";
import {
  foreignSearchResult,
  searchesWebSearch,
  webSearchBlockEvents,
  webSearchBlocks,
} from "./anthropic-web-search.ts";
import { answer, MISSING_MODEL, words, type Prompt } from "./scripted-model.ts";
import { breakpointRefusal, PromptCacheModel, type CacheUsage } from "./fake-prompt-cache.ts";
import { digest, fakeModelFamily, type SigningOptions } from "./fake-signing.ts";

/*
 * Anthropic's wire format (PROTOCOLS.md §5): x-api-key auth, anthropic-version required, SSE with
 * an `event:` line per event, a ping in the middle, usage on message_start and message_delta.
 * It refuses what Anthropic refuses: a missing max_tokens, a temperature over 1, tool_use without
 * its tool_result right after, tool results not first, thinking blocks it did not sign, and (with
 * thinking on) a tool loop whose assistant turn does not start with its signed thinking.
 */

export const ANTHROPIC_MODELS = ["claude-sonnet-4-5-real", "claude-haiku-4-5-real"];
export const SIGNATURE_PREFIX = "anthropic-sig-";

const invalid = (message: string, status = 400, type = "invalid_request_error") =>
  jsonReply({ type: "error", error: { type, message }, request_id: "req_fake" }, status);

function sign(text: string): string {
  return SIGNATURE_PREFIX + createHash("sha256").update(text).digest("hex").slice(0, 24);
}

function blocks(content: any): any[] {
  return typeof content === "string"
    ? [{ type: "text", text: content }]
    : Array.isArray(content)
      ? content
      : [];
}

function validate(body: any, signed: (text: string) => string = sign): Response | undefined {
  if (typeof body.max_tokens !== "number") return invalid("max_tokens: Field required");
  if (typeof body.temperature === "number" && (body.temperature < 0 || body.temperature > 1))
    return invalid("temperature: Input should be less than or equal to 1");
  const thinking = body.thinking?.type === "enabled";
  if (thinking) {
    if (!(body.thinking.budget_tokens >= 1024))
      return invalid(
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
      );
    if (body.thinking.budget_tokens >= body.max_tokens)
      return invalid("`max_tokens` must be greater than `thinking.budget_tokens`.");
    if (body.temperature !== undefined && body.temperature !== 1)
      return invalid("`temperature` may only be set to 1 when thinking is enabled.");
  }
  // System messages may sit among the turns (Claude Code puts tool and skill listings there); they are not turns.
  const messages: any[] = (body.messages ?? []).filter((m: any) => m.role !== "system");
  if (messages[0]?.role !== "user")
    return invalid('messages: first message must use the "user" role');
  for (const [i, message] of messages.entries()) {
    const content = blocks(message.content);
    if (content.length === 0)
      return invalid(
        `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      );
    for (const [j, block] of content.entries()) {
      if (block.type === "text" && block.text === "")
        return invalid(`messages.${i}.content.${j}.text: text content blocks must be non-empty`);
      // Anthropic checks the thinking against its signature: a block that lost or changed its text is refused.
      if (block.type === "thinking" && block.signature !== signed(String(block.thinking ?? "")))
        return invalid(`messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
    }
    if (message.role === "user") {
      const firstOther = content.findIndex((b) => b.type !== "tool_result");
      if (firstOther >= 0 && content.slice(firstOther).some((b) => b.type === "tool_result"))
        return invalid(
          `messages.${i}: tool_result blocks must come first in the user message content`,
        );
    }
    if (message.role === "assistant") {
      const uses = content.filter((b) => b.type === "tool_use").map((b) => b.id);
      const next = blocks(messages[i + 1]?.content);
      const missing = uses.filter(
        (id) => !next.some((b) => b.type === "tool_result" && b.tool_use_id === id),
      );
      if (missing.length > 0 && i + 1 < messages.length)
        return invalid(
          `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        );
    }
  }
  const lastAssistant = [...messages].reverse().find((m) => m.role === "assistant");
  if (
    thinking &&
    lastAssistant &&
    blocks(lastAssistant.content).some((b) => b.type === "tool_use")
  ) {
    const first = blocks(lastAssistant.content)[0];
    if (first?.type !== "thinking" && first?.type !== "redacted_thinking") {
      return invalid(
        `messages.${messages.lastIndexOf(lastAssistant)}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first?.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block.`,
      );
    }
  }
  return undefined;
}

function promptOf(body: any): Prompt {
  const messages: any[] = (body.messages ?? []).filter((m: any) => m.role !== "system");
  const last = blocks(messages.at(-1)?.content);
  const systemMessages = (body.messages ?? [])
    .filter((m: any) => m.role === "system")
    .flatMap((m: any) => blocks(m.content).map((b) => b.text ?? ""));
  return {
    model: body.model,
    system: [
      typeof body.system === "string"
        ? body.system
        : blocks(body.system)
            .map((b) => b.text ?? "")
            .join("\n"),
      ...systemMessages,
    ].join("\n"),
    text: last
      .filter((b) => b.type === "text")
      .map((b) => b.text)
      .join(""),
    images: last
      .filter((b) => b.type === "image" && b.source?.type === "base64")
      .map((b) => b.source.data),
    toolResults: last
      .filter((b) => b.type === "tool_result")
      .map((b) =>
        typeof b.content === "string"
          ? b.content
          : blocks(b.content)
              .map((c) => c.text ?? "")
              .join(""),
      ),
    tools: (body.tools ?? []).map((t: any) => ({ name: t.name, parameters: t.input_schema })),
    thinking: body.thinking?.type === "enabled",
  };
}

export function fakeAnthropic(
  key: string | string[],
  options: FakeOptions &
    SigningOptions & {
      promptCache?: boolean;
      /**
       * Thinking `{ type: "adaptive" }` (Claude Code's default) thinks as `enabled` does: a real
       * model decides whether to; this one then always does (scripts/record-cli-traffic.ts).
       */
      adaptiveThinking?: boolean;
      /**
       * Anthropic's tool_use ids are unique across messages; this fake's are `toolu_fake_<i>`,
       * the same in every answer, unless this is set (then `toolu_fake<message>_<i>`).
       */
      uniqueToolIds?: boolean;
    } = {},
): FakeUpstream {
  const keys = new Set(Array.isArray(key) ? key : [key]);
  // With promptCache, usage follows Anthropic's prompt cache (fake-prompt-cache.ts); else 11 uncached input tokens.
  const promptCache = options.promptCache ? new PromptCacheModel() : undefined;
  let messageCount = 0;
  const keyOf = (request: RecordedRequest) =>
    request.headers.get("x-api-key") ??
    request.headers.get("authorization")?.replace(/^Bearer /, "");
  return startFake({
    dialect: "anthropic",
    network: options.network,
    keyOf,
    checkKey(request) {
      if (keys.has(keyOf(request) ?? "")) return undefined;
      return invalid("invalid x-api-key", 401, "authentication_error");
    },
    handle(request, streamed) {
      if (!request.headers.get("anthropic-version"))
        return invalid("anthropic-version: header is required");
      const body = request.json ?? {};
      if (request.method === "GET" && request.path === "/v1/models") {
        const data = ANTHROPIC_MODELS.map((id) => ({
          type: "model",
          id,
          display_name: id,
          created_at: "2025-09-29T00:00:00Z",
        }));
        return jsonReply({
          data,
          has_more: false,
          first_id: data[0]!.id,
          last_id: data.at(-1)!.id,
        });
      }
      if (body.model === MISSING_MODEL)
        return invalid(`model: ${MISSING_MODEL}`, 404, "not_found_error");
      if (request.path === "/v1/messages/count_tokens") return jsonReply({ input_tokens: 42 });
      if (request.path !== "/v1/messages")
        return invalid(`${request.path} not found`, 404, "not_found_error");
      // With a signer, a signature is this fake's for this model family only.
      const signed = (text: string) =>
        options.signer === undefined
          ? sign(text)
          : SIGNATURE_PREFIX + digest(`${options.signer}|${fakeModelFamily(body.model)}|${text}`);
      const refused = validate(body, signed);
      if (refused) return refused;
      const badBreakpoints = breakpointRefusal(body);
      if (badBreakpoints) return invalid(badBreakpoints);
      const reported = options.usage;
      const cacheUsage: CacheUsage = reported
        ? {
            input_tokens: reported.input - reported.cached - reported.cacheWrite,
            cache_creation_input_tokens: reported.cacheWrite,
            cache_read_input_tokens: reported.cached,
          }
        : (promptCache?.usage(keyOf(request) ?? "", body) ?? {
            input_tokens: 11,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          });
      const foreign = foreignSearchResult(body.messages ?? []);
      if (foreign) return invalid(foreign);

      const prompt = promptOf(body);
      if (options.adaptiveThinking && body.thinking?.type === "adaptive") prompt.thinking = true;
      const reply = answer(prompt);
      // Anthropic's message ids are unique: Claude Code tells its turns apart by them (a resumed
      // session merges messages sharing an id, and /compact finds nothing to compact).
      const id = `msg_fake${++messageCount}`;
      const searched = searchesWebSearch(body) && reply.calls.length === 0;
      const content: any[] = [];
      if (reply.thinking)
        content.push({
          type: "thinking",
          thinking: reply.thinking,
          signature: signed(reply.thinking),
        });
      if (searched) content.push(...webSearchBlocks(prompt.text, reply.text ?? ""));
      else if (reply.text !== undefined) content.push({ type: "text", text: reply.text });
      for (const [i, call] of reply.calls.entries()) {
        content.push({
          type: "tool_use",
          id: options.uniqueToolIds ? `toolu_fake${messageCount}_${i}` : `toolu_fake_${i}`,
          name: call.name,
          input: call.args,
        });
      }
      const stop = reply.calls.length > 0 ? "tool_use" : "end_turn";
      // Anthropic counts thinking inside output_tokens and reports no share of it.
      const output =
        reported?.output ??
        words(reply.text ?? "").length +
          words(reply.thinking ?? "").length +
          reply.calls.length * 5;
      if (!body.stream) {
        return jsonReply(
          {
            id,
            type: "message",
            role: "assistant",
            model: body.model,
            content,
            stop_reason: stop,
            stop_sequence: null,
            usage: {
              ...cacheUsage,
              output_tokens: output,
              service_tier: "standard",
              ...(searched ? { server_tool_use: { web_search_requests: 1 } } : {}),
            },
          },
          200,
          { "request-id": "req_upstream_anthropic" },
        );
      }
      const event = (data: { type: string; [field: string]: unknown }) =>
        `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
      const events = [
        event({
          type: "message_start",
          message: {
            id,
            type: "message",
            role: "assistant",
            model: body.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { ...cacheUsage, output_tokens: 1, service_tier: "standard" },
          },
        }),
      ];
      content.forEach((block, index) => {
        const searchEvents = webSearchBlockEvents(block, index, event, words);
        if (searchEvents) events.push(...searchEvents);
        else if (block.type === "thinking") {
          events.push(
            event({
              type: "content_block_start",
              index,
              content_block: { type: "thinking", thinking: "", signature: "" },
            }),
          );
          for (const w of words(block.thinking))
            events.push(
              event({
                type: "content_block_delta",
                index,
                delta: { type: "thinking_delta", thinking: w },
              }),
            );
          events.push(
            event({
              type: "content_block_delta",
              index,
              delta: { type: "signature_delta", signature: block.signature },
            }),
          );
        } else if (block.type === "text") {
          events.push(
            event({
              type: "content_block_start",
              index,
              content_block: { type: "text", text: "" },
            }),
          );
          events.push('event: ping\ndata: {"type": "ping"}\n\n');
          for (const w of words(block.text))
            events.push(
              event({ type: "content_block_delta", index, delta: { type: "text_delta", text: w } }),
            );
        } else {
          const args = JSON.stringify(block.input);
          events.push(
            event({
              type: "content_block_start",
              index,
              content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
            }),
          );
          events.push(
            event({
              type: "content_block_delta",
              index,
              delta: { type: "input_json_delta", partial_json: "" },
            }),
          );
          events.push(
            event({
              type: "content_block_delta",
              index,
              delta: { type: "input_json_delta", partial_json: args.slice(0, 4) },
            }),
          );
          events.push(
            event({
              type: "content_block_delta",
              index,
              delta: { type: "input_json_delta", partial_json: args.slice(4) },
            }),
          );
        }
        events.push(event({ type: "content_block_stop", index }));
      });
      events.push(
        event({
          type: "message_delta",
          delta: { stop_reason: stop, stop_sequence: null },
          usage: {
            output_tokens: output,
            ...(searched ? { server_tool_use: { web_search_requests: 1 } } : {}),
          },
        }),
      );
      events.push(event({ type: "message_stop" }));
      return streamed(events);
    },
  });
}
