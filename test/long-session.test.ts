import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import {
  CLIENT_DIALECTS,
  startClientSession,
  type ClientDialect,
  type Observed,
} from "./support/session-clients.ts";
import {
  modelFamily,
  startSessionUpstream,
  type Answer,
  type SessionUpstream,
  type SignatureRegistry,
  type UpstreamDialect,
  type Usage,
} from "./support/session-upstreams.ts";

/*
 * Issue 16's long session: for each client dialect (through its SDK's stream helper) and each
 * upstream dialect, 50 turns with the whole history resent each time, thinking on, tool calls
 * answered by the test, a cacheable prefix, the primary upstream's first account answering 429
 * from turn 20 (its second account takes over) and the whole primary answering 503 (Anthropic:
 * 529; a chat upstream's server goes away instead) from turn 35 (the mapping's second target, of
 * another dialect, takes over); each failover starts at the first turn from there that carries a
 * tool result, inside a tool loop. All 16 sessions run at once, each against its own gateway and
 * fakes; then each property is checked on what the clients got and what every fake received.
 */
const TURNS = 50;
const ACCOUNT_FAILOVER_TURN = 20;
const UPSTREAM_FAILOVER_TURN = 35;
const UPSTREAM_DIALECTS: UpstreamDialect[] = ["anthropic", "chat", "responses", "gemini"];
/** The second target of each session's mapping: another dialect, one that signs where possible. */
const SECONDARY: Record<UpstreamDialect, UpstreamDialect> = {
  anthropic: "gemini",
  gemini: "responses",
  responses: "anthropic",
  chat: "anthropic",
};
const MODELS: Record<UpstreamDialect, string> = {
  anthropic: "claude-sonnet-4-5",
  chat: "deepseek-chat-v3",
  responses: "gpt-5-codex",
  gemini: "gemini-3-pro-preview",
};
const CLIENT_KEY = "sk-long-session-client";

interface Turn {
  number: number;
  observed?: Observed;
  error?: string;
  /** The fake that answered, and its answer. */
  upstream?: SessionUpstream;
  answer?: Answer;
}

interface Session {
  client: ClientDialect;
  primary: SessionUpstream;
  secondary: SessionUpstream;
  gateway: TestGateway;
  turns: Turn[];
  /** The turns at which the first account, then the first upstream, started failing. */
  accountFailover?: number;
  upstreamFailover?: number;
}

const registry: SignatureRegistry = new Map();
const sessions: Session[] = [];

function protocolYaml(dialect: UpstreamDialect): string[] {
  if (dialect === "anthropic") return ["    protocol: anthropic"];
  if (dialect === "gemini") return ["    protocol: gemini"];
  if (dialect === "chat") return ["    protocol: openai", "    apis: [chat]"];
  // It stands in for OpenAI's own API, whose profile a loopback URL cannot name.
  return [
    "    protocol: openai",
    "    profile: openai",
    "    apis: [responses]",
    "    wire_api: responses",
  ];
}

function gatewayYaml(primary: SessionUpstream, secondary: SessionUpstream, keys: string[]): string {
  const upstream = (name: string, fake: SessionUpstream, accountKeys: string[]) => [
    `  - name: ${name}`,
    ...protocolYaml(fake.dialect),
    `    base_url: ${fake.baseUrl}`,
    "    strategy: fill_first",
    "    accounts:",
    ...accountKeys.map((key, i) => `      - { name: account-${i + 1}, key: ${key} }`),
  ];
  return [
    "proxy:",
    "  cooldown_wait: 0",
    "  auth_mode: strict",
    `  api_key: ${CLIENT_KEY}`,
    "upstreams:",
    ...upstream("primary", primary, keys.slice(0, 2)),
    ...upstream("secondary", secondary, keys.slice(2)),
    "",
  ].join("\n");
}

async function runSession(client: ClientDialect, dialect: UpstreamDialect, seed: number) {
  const tag = `${client}-${dialect}`;
  const keys = [`${tag}-key-one-0001`, `${tag}-key-two-0002`, `${tag}-key-three-0003`];
  const primary = startSessionUpstream({
    name: `${tag}-primary`,
    dialect,
    seed,
    registry,
    keys: keys.slice(0, 2),
  });
  const secondary = startSessionUpstream({
    name: `${tag}-secondary`,
    dialect: SECONDARY[dialect],
    seed: seed + 1,
    registry,
    keys: keys.slice(2),
  });
  const gateway = startGateway({
    gateway: gatewayYaml(primary, secondary, keys),
    mappings: `exact:\n  session-model: [primary/${MODELS[dialect]}, secondary/${MODELS[SECONDARY[dialect]]}]\n`,
  });
  const session: Session = { client, primary, secondary, gateway, turns: [] };
  sessions.push(session);
  const driver = startClientSession(client, {
    origin: gateway.origin,
    apiKey: CLIENT_KEY,
    model: "session-model",
    nudge: (turn) =>
      (turn >= ACCOUNT_FAILOVER_TURN - 3 && turn < ACCOUNT_FAILOVER_TURN + 3) ||
      (turn >= UPSTREAM_FAILOVER_TURN - 3 && turn < UPSTREAM_FAILOVER_TURN + 3),
  });
  for (let number = 1; number <= TURNS; number++) {
    // Each failover comes inside a tool loop (the turn carries a tool result), the hardest place
    // for it: the nudges before it make sure one comes within two turns.
    const inLoop = (session.turns.at(-1)?.observed?.toolCalls.length ?? 0) > 0;
    if (!session.accountFailover && number >= ACCOUNT_FAILOVER_TURN && inLoop) {
      session.accountFailover = number;
      await primary.fail("rate-limit", keys[0]);
    }
    if (!session.upstreamFailover && number >= UPSTREAM_FAILOVER_TURN && inLoop) {
      session.upstreamFailover = number;
      // A chat-only provider is often a server of one's own: it goes away rather than answer 503.
      await primary.fail(dialect === "chat" ? "refused" : "unavailable");
    }
    const before = [primary.answers.length, secondary.answers.length];
    const turn: Turn = { number };
    session.turns.push(turn);
    try {
      turn.observed = await driver.turn();
    } catch (error) {
      turn.error = String(error);
      break;
    }
    for (const [i, fake] of [primary, secondary].entries())
      if (fake.answers.length > before[i]!) {
        turn.upstream = fake;
        turn.answer = fake.answers.at(-1);
      }
  }
}

beforeAll(async () => {
  // Each pair has its own seeds, so one session's script does not depend on another's.
  await Promise.all(
    CLIENT_DIALECTS.flatMap((client, c) =>
      UPSTREAM_DIALECTS.map((dialect, u) => runSession(client, dialect, 1600 + 16 * c + 2 * u)),
    ),
  );
}, 120_000);

afterAll(async () => {
  for (const session of sessions) {
    await session.gateway.stop();
    await session.primary.stop();
    await session.secondary.stop();
  }
});

const sessionOf = (client: ClientDialect, dialect: UpstreamDialect): Session =>
  sessions.find((s) => s.client === client && s.primary.dialect === dialect)!;
const answered = (session: Session) => session.turns.filter((t) => t.observed && t.answer);

/** What a client of this dialect should see for the usage a fake reported. */
function expectedUsage(client: ClientDialect, usage: Usage, upstream: UpstreamDialect) {
  // Anthropic reports no separate reasoning count: the others then see none.
  const reasoning = upstream === "anthropic" ? undefined : usage.reasoning;
  if (client === "anthropic")
    return {
      input_tokens: usage.input - usage.cacheRead - usage.cacheWrite,
      cache_read_input_tokens: usage.cacheRead,
      cache_creation_input_tokens: usage.cacheWrite,
      output_tokens: usage.output,
    };
  if (client === "chat")
    return {
      prompt_tokens: usage.input,
      cached_tokens: usage.cacheRead,
      completion_tokens: usage.output,
      reasoning_tokens: reasoning,
    };
  if (client === "responses")
    return {
      input_tokens: usage.input,
      cached_tokens: usage.cacheRead,
      output_tokens: usage.output,
      reasoning_tokens: reasoning,
    };
  return {
    promptTokenCount: usage.input,
    cachedContentTokenCount: usage.cacheRead,
    outputTokens: usage.output,
    thoughtsTokenCount: reasoning,
  };
}

/** The same fields from what the client got, absent counts as 0 where the dialect leaves zeros out. */
function clientUsage(client: ClientDialect, usage: Record<string, any>, upstream: UpstreamDialect) {
  const withReasoning = upstream !== "anthropic";
  if (client === "anthropic")
    return {
      input_tokens: usage.input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
      output_tokens: usage.output_tokens,
    };
  if (client === "chat")
    return {
      prompt_tokens: usage.prompt_tokens,
      cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
      completion_tokens: usage.completion_tokens,
      reasoning_tokens: withReasoning
        ? (usage.completion_tokens_details?.reasoning_tokens ?? 0)
        : undefined,
    };
  if (client === "responses")
    return {
      input_tokens: usage.input_tokens,
      cached_tokens: usage.input_tokens_details?.cached_tokens ?? 0,
      output_tokens: usage.output_tokens,
      reasoning_tokens: withReasoning
        ? (usage.output_tokens_details?.reasoning_tokens ?? 0)
        : undefined,
    };
  return {
    promptTokenCount: usage.promptTokenCount,
    cachedContentTokenCount: usage.cachedContentTokenCount ?? 0,
    // candidatesTokenCount leaves the thoughts out.
    outputTokens: (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
    thoughtsTokenCount: withReasoning ? (usage.thoughtsTokenCount ?? 0) : undefined,
  };
}

function cacheBreakpoints(body: any): string[] {
  const where: string[] = [];
  for (const [i, tool] of (body.tools ?? []).entries())
    if (tool.cache_control) where.push(`tools.${i}`);
  for (const [i, block] of (Array.isArray(body.system) ? body.system : []).entries())
    if (block.cache_control) where.push(`system.${i}`);
  for (const [i, message] of (body.messages ?? []).entries())
    for (const [j, block] of (Array.isArray(message.content) ? message.content : []).entries())
      if (block.cache_control) where.push(`messages.${i}.content.${j}`);
  return where;
}

/** A property checked for every pair. */
function property(name: string, check: (session: Session) => void): void {
  describe(name, () => {
    for (const client of CLIENT_DIALECTS)
      for (const dialect of UPSTREAM_DIALECTS)
        test(`${client} client, ${dialect} upstream`, () => check(sessionOf(client, dialect)));
  });
}

property("completes 50 turns", (session) => {
  const failed = session.turns.find((t) => t.error);
  expect(failed ? `turn ${failed.number}: ${failed.error}` : undefined).toBeUndefined();
  expect(answered(session).length).toBe(TURNS);
});

property("answers are what the fake scripted", (session) => {
  for (const turn of answered(session)) {
    const { observed, answer } = turn as Required<Turn>;
    expect({ turn: turn.number, text: observed.text, calls: observed.toolCalls }).toEqual({
      turn: turn.number,
      text: answer.text,
      calls: answer.toolCalls.map((c) => ({ name: c.name, args: c.args })),
    });
  }
});

property("thinking reaches the client", (session) => {
  for (const turn of answered(session))
    expect({ turn: turn.number, thinking: turn.observed!.thinking }).toEqual({
      turn: turn.number,
      thinking: turn.answer!.thinking,
    });
});

property("usage equals what the fake reported", (session) => {
  for (const turn of answered(session)) {
    const upstream = turn.upstream!.dialect;
    expect({
      turn: turn.number,
      usage: clientUsage(session.client, turn.observed!.usage, upstream),
    }).toEqual({
      turn: turn.number,
      usage: expectedUsage(session.client, turn.answer!.usage, upstream),
    });
  }
});

property("fails over to the second account", (session) => {
  const { accountFailover, upstreamFailover } = session;
  expect(accountFailover).toBeLessThanOrEqual(ACCOUNT_FAILOVER_TURN + 2);
  const first = session.primary.requests[0]!.key;
  // The first account's 429 came at the failover turn, and no earlier.
  expect(session.primary.requests.find((r) => r.status === 429)?.key).toBe(first);
  for (const turn of session.turns) {
    if (turn.number >= (upstreamFailover ?? TURNS + 1)) continue;
    expect({
      turn: turn.number,
      upstream: turn.upstream?.name,
      account: turn.answer?.key === first ? "first" : "second",
    }).toEqual({
      turn: turn.number,
      upstream: session.primary.name,
      account: turn.number < accountFailover! ? "first" : "second",
    });
  }
});

property("fails over to the second upstream", (session) => {
  const { upstreamFailover } = session;
  expect(upstreamFailover).toBeLessThanOrEqual(UPSTREAM_FAILOVER_TURN + 2);
  for (const turn of session.turns.filter((t) => t.number >= upstreamFailover!))
    expect({ turn: turn.number, upstream: turn.upstream?.name }).toEqual({
      turn: turn.number,
      upstream: session.secondary.name,
    });
  if (session.primary.dialect !== "chat")
    expect(session.primary.requests.some((r) => r.status === 503 || r.status === 529)).toBeTrue();
  expect(session.turns.at(-1)?.number).toBe(TURNS);
});

property("no foreign signature reaches an upstream", (session) => {
  for (const fake of [session.primary, session.secondary])
    for (const [i, request] of fake.requests.entries())
      for (const seen of request.signatures)
        expect({
          fake: fake.name,
          request: i,
          field: seen.field,
          // A value no fake issued is shown, so a wrapper or a made-up value can be recognised.
          issuer: seen.issuer ?? `no fake's: ${seen.value.slice(0, 40)}`,
        }).toEqual({
          fake: fake.name,
          request: i,
          field: seen.field,
          issuer:
            // Google's documented stand-in, for a call whose signature another model never made.
            seen.issuer === "google:skip-validator" && fake.dialect === "gemini"
              ? seen.issuer
              : `${fake.name}/${modelFamily(MODELS[fake.dialect])}`,
        });
});

property("an upstream's own signature comes back in its tool loop", (session) => {
  let loops = 0;
  for (const [i, turn] of session.turns.entries()) {
    const next = session.turns[i + 1];
    const fake = turn.upstream;
    if (!fake || !turn.answer?.signature || !turn.answer.toolCalls.length) continue;
    if (!next?.answer || next.upstream !== fake) continue;
    // The fake's n-th answer came from its n-th request that it answered with 200.
    const request = fake.requests.filter((r) => r.status === 200)[
      fake.answers.indexOf(next.answer)
    ]!;
    loops++;
    expect({
      turn: next.number,
      signed: request.signatures.some((s) => s.value === turn.answer!.signature),
    }).toEqual({ turn: next.number, signed: true });
  }
  // Every session has a signing upstream (SECONDARY pairs chat with Anthropic), and its tool loops.
  expect(loops).toBeGreaterThan(0);
});

property("a cached prefix is read on every upstream", (session) => {
  for (const fake of [session.primary, session.secondary]) {
    const turns = session.turns.filter((t) => t.upstream === fake);
    expect({
      fake: fake.name,
      read: turns.slice(1).some((t) => t.answer!.usage.cacheRead > 0),
    }).toEqual({ fake: fake.name, read: true });
  }
});

property("cache breakpoints on an Anthropic upstream", (session) => {
  for (const fake of [session.primary, session.secondary]) {
    if (fake.dialect !== "anthropic") continue;
    for (const [i, request] of fake.requests.entries()) {
      const where = cacheBreakpoints(request.body);
      const lastMessage = `messages.${request.body.messages.length - 1}.`;
      // Claude Code's own three (last tool, system, newest turn) arrive as it set them; other
      // clients get levity's: the tools, the system prompt and the last turns, at most four.
      expect({
        request: i,
        tools: where.some((w) => w.startsWith("tools.")),
        system: where.some((w) => w.startsWith("system.")),
        lastTurn: where.some((w) => w.startsWith(lastMessage)),
        atMostFour: where.length <= 4,
      }).toEqual({ request: i, tools: true, system: true, lastTurn: true, atMostFour: true });
    }
  }
});

property("a stable prompt_cache_key on an OpenAI Responses upstream", (session) => {
  if (session.client !== "anthropic" && session.client !== "gemini") return;
  for (const fake of [session.primary, session.secondary]) {
    if (fake.dialect !== "responses") continue;
    const keys = new Set(fake.requests.map((r) => r.body.prompt_cache_key));
    expect({ fake: fake.name, keys: [...keys].map((k) => typeof k) }).toEqual({
      fake: fake.name,
      keys: ["string"],
    });
  }
});

// The fakes themselves, asked directly: what the properties above rely on them to notice.
describe("the session fakes", () => {
  const plain: Record<UpstreamDialect, any> = {
    anthropic: {
      model: MODELS.anthropic,
      max_tokens: 4096,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    },
    chat: { model: MODELS.chat, stream: true, messages: [{ role: "user", content: "hi" }] },
    responses: {
      model: MODELS.responses,
      stream: true,
      include: ["reasoning.encrypted_content"],
      input: [{ role: "user", content: "hi" }],
    },
    gemini: { contents: [{ role: "user", parts: [{ text: "hi" }] }] },
  };
  /** A follow-up turn that hands the fake `signature` where its dialect carries one. */
  const signed: Record<
    Exclude<UpstreamDialect, "chat">,
    (signature: string, thinking: string) => any
  > = {
    anthropic: (signature, thinking) => ({
      ...plain.anthropic,
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: [{ type: "thinking", thinking, signature }] },
        { role: "user", content: "again" },
      ],
    }),
    responses: (signature) => ({
      ...plain.responses,
      input: [
        { role: "user", content: "hi" },
        { type: "reasoning", summary: [], encrypted_content: signature },
        { role: "user", content: "again" },
      ],
    }),
    gemini: (signature) => ({
      contents: [
        { role: "user", parts: [{ text: "hi" }] },
        { role: "model", parts: [{ text: "ok", thoughtSignature: signature }] },
        { role: "user", parts: [{ text: "again" }] },
      ],
    }),
  };
  const refusals = {
    anthropic: "messages.1.content.0: Invalid `signature` in `thinking` block",
    responses: "could not be verified",
    gemini: "Corrupted thought signature.",
  };
  const send = (fake: SessionUpstream, body: unknown) =>
    fetch(
      fake.dialect === "gemini"
        ? `${fake.baseUrl}/v1beta/models/${MODELS.gemini}:streamGenerateContent?alt=sse`
        : `${fake.baseUrl}${{ anthropic: "/v1/messages", chat: "/chat/completions", responses: "/responses" }[fake.dialect]}`,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": "k",
          "x-goog-api-key": "k",
          authorization: "Bearer k",
        },
        body: JSON.stringify(body),
      },
    );
  const pair = (dialect: UpstreamDialect, shared: SignatureRegistry) =>
    ["self", "other"].map((name, seed) =>
      startSessionUpstream({ name, dialect, seed, registry: shared, keys: ["k"] }),
    ) as [SessionUpstream, SessionUpstream];

  for (const dialect of ["anthropic", "responses", "gemini"] as const)
    test(`${dialect}: takes back its own signature, refuses and records another fake's (and, for Anthropic, its own on changed thinking)`, async () => {
      const shared: SignatureRegistry = new Map();
      const [self, other] = pair(dialect, shared);
      try {
        for (const fake of [self, other]) await (await send(fake, plain[dialect])).text();
        const [mine, theirs] = [self, other].map((fake) => fake.answers[0]!);
        const own = await send(self, signed[dialect](mine!.signature!, mine!.thinking));
        expect(own.status).toBe(200);
        await own.text();
        if (dialect === "anthropic") {
          const changed = await send(self, signed[dialect](mine!.signature!, "other words"));
          expect(await changed.text()).toContain(refusals[dialect]);
        }
        const foreign = await send(self, signed[dialect](theirs!.signature!, theirs!.thinking));
        expect(foreign.status).toBe(400);
        expect(await foreign.text()).toContain(refusals[dialect]);
        expect(self.requests.at(-1)!.signatures.map((s) => s.issuer)).toEqual([
          `other/${modelFamily(MODELS[dialect])}`,
        ]);
      } finally {
        await self.stop();
        await other.stop();
      }
    });

  for (const dialect of UPSTREAM_DIALECTS)
    test(`${dialect}: fails on demand with its provider's body and a Retry-After, heals, then refuses connections`, async () => {
      const [fake, other] = pair(dialect, new Map());
      try {
        fake.fail("rate-limit");
        const limited = await send(fake, plain[dialect]);
        expect(limited.status).toBe(429);
        expect(limited.headers.get("retry-after")).toBe("120");
        expect(JSON.stringify(await limited.json())).toMatch(
          /rate_limit_error|rate_limit_exceeded|RESOURCE_EXHAUSTED/,
        );
        fake.fail("unavailable");
        expect((await send(fake, plain[dialect])).status).toBe(dialect === "anthropic" ? 529 : 503);
        fake.fail(undefined);
        const healed = await send(fake, plain[dialect]);
        expect(healed.status).toBe(200);
        await healed.text();
        expect(fake.answers).toHaveLength(1);
        await fake.fail("refused");
        await expect(send(fake, plain[dialect])).rejects.toThrow();
      } finally {
        await fake.stop();
        await other.stop();
      }
    });
});
