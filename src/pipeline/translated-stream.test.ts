import { expect, test } from "bun:test";
import type { ClientContext } from "../codecs/codec.ts";
import { ChatStreamRenderer } from "../codecs/openai-chat/render-chat-stream.ts";
import { openaiChatUpstream } from "../codecs/openai-chat/upstream.ts";
import type { Account, Upstream } from "../config/snapshot.ts";
import { GatewayError } from "../failure.ts";
import type { ChatRequest, StreamEvent } from "../ir.ts";
import type { Lease, Outcome } from "../pool/lease.ts";
import { guardedSourceOf } from "../../test/support/guarded-source.ts";
import { type EventBatches, ParsedBatches } from "./event-batches.ts";
import { TranslatedStream, untilCommit } from "./translated-stream.ts";
import { clientBody } from "./client-body.ts";

/*
 * A translated stream after its commit point, with the chat renderer: what the client reads and
 * how the attempt's lease finishes when the upstream's stream breaks.
 */

const UPSTREAM = { name: "up", protocol: "openai", baseUrl: "" } as Upstream;
const TARGET = { name: "up", issuer: "up", protocol: "openai", baseUrl: "http://up" } as const;
const RENDER = {
  request: { tools: [] } as unknown as ChatRequest,
  includeUsage: false,
  framing: "sse",
} as ClientContext;

function leaseRecording(outcomes: Outcome[]): Lease {
  return {
    upstream: UPSTREAM,
    account: { name: "a", key: "sk-upstream-secret-0001" } as Account,
    model: "m",
    finish: (outcome) => outcomes.push(outcome),
    pinResponse: () => undefined,
  };
}

function bodyOf(batches: EventBatches, held: StreamEvent[], outcomes: Outcome[]) {
  return clientBody(
    new TranslatedStream(batches, held, UPSTREAM, leaseRecording(outcomes), {
      remember: () => undefined,
      renderer: (write) => new ChatStreamRenderer(RENDER, write),
    }),
  );
}

test("content before a break in the same chunk commits the answer: the client reads it, then the error", async () => {
  // [DONE] without a finish_reason: the parser breaks after handing on the start and the text.
  const chunk =
    'data: {"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n' +
    "data: [DONE]\n\n";
  const batches = new ParsedBatches(guardedSourceOf([chunk]), (emit) =>
    openaiChatUpstream.streamParser(emit, TARGET, "text/event-stream"),
  );
  const committed = await untilCommit(batches, "up");
  expect(committed.kind).toBe("content");
  if (committed.kind !== "content") return;
  expect(committed.held.map((event) => event.type)).toEqual(["start", "text"]);
  const outcomes: Outcome[] = [];
  const text = await new Response(bodyOf(batches, committed.held, outcomes)).text();
  expect(text).toContain('"content":"Hi"');
  expect(text).toMatch(/data: \{"error":\{"message":".*ended before its finish_reason/);
  expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  expect(outcomes).toHaveLength(1);
  expect(outcomes[0]).toMatchObject({ ok: false });
});

test("a read that fails because the client left finishes the lease once, blameless", async () => {
  const outcomes: Outcome[] = [];
  const batches: EventBatches = {
    next: () => Promise.reject(new GatewayError(499, "The client closed the request.")),
    stop: () => {},
  };
  const held: StreamEvent[] = [
    { type: "start", id: "c", model: "m", created: 1, usage: { input: 0, output: 0 } },
    { type: "text", text: "Hi" },
  ];
  const reader = bodyOf(batches, held, outcomes).getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain('"content":"Hi"');
  await expect(reader.read()).rejects.toBeInstanceOf(GatewayError);
  expect(outcomes).toEqual([{ neutral: true }]);
});
