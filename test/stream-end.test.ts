import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeGemini } from "./support/fake-gemini.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import {
  ALL_OPENAI_APIS,
  startGateway,
  upstreamsYaml,
  type TestGateway,
} from "./support/gateway.ts";
import type { BodyEnd, BodyKind, NetworkProfile, Release } from "./support/network.ts";

/*
 * A stream is over at its final event: `data: [DONE]` (OpenAI chat and completions),
 * `response.completed` (Responses), `message_stop` (Anthropic), Gemini's chunk with finishReason
 * and usageMetadata (its JSON array's closing bracket without ?alt=sse). The HTTP body may end
 * later or not at all (a proxy or an HTTP/2 hop holding it). Neither may turn a whole answer into
 * an error for the client, or count against the account. Every client dialect, each against the
 * upstream of its own dialect (forwarded byte for byte) and against the two others (translated).
 */

const TEXT = "naïve café — 日本語 ✓ 🚀 done";
const PROMPT = `Reply with exactly this text and nothing else: ${TEXT}`;
const KEYS = { oa: "sk-stream-end-openai", an: "sk-stream-end-anthropic", ge: "stream-end-gemini" };
/** How long a finished answer may take to reach the client: far above a working gateway's few ms, far below the idle limit. */
const FINISH_WITHIN_MS = 2000;

type UpstreamName = "oa" | "an" | "ge";
const MODELS: Record<UpstreamName, string> = { oa: "to-oa", an: "to-an", ge: "to-ge" };

interface ClientEvent {
  /** The event's name (`event:` line or its JSON `type`), or "[DONE]". */
  name?: string;
  data: any;
}

interface ClientDialect {
  name: string;
  /** The upstream that speaks this dialect: the exchange is then forwarded byte for byte. */
  native: UpstreamName;
  request(origin: string, model: string): Request;
  /** The client's answer as events; throws if it is not well formed. */
  events(body: string): ClientEvent[];
  text(events: ClientEvent[]): string;
  isError(event: ClientEvent): boolean;
  isFinal(event: ClientEvent): boolean;
}

/** SSE as the SDKs read it: blocks split on blank lines, comments skipped, `event:` and `data:` fields. */
function sseEvents(body: string): ClientEvent[] {
  const events: ClientEvent[] = [];
  for (const block of body.split(/\r\n\r\n|\n\n|\r\r/)) {
    let name: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) continue;
    const joined = data.join("\n");
    events.push(
      joined === "[DONE]" ? { name: "[DONE]", data: joined } : { name, data: JSON.parse(joined) },
    );
  }
  return events;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

const geminiText = (events: ClientEvent[]) =>
  events
    .map((e) =>
      (e.data?.candidates?.[0]?.content?.parts ?? [])
        .filter((p: any) => !p.thought)
        .map((p: any) => p.text ?? "")
        .join(""),
    )
    .join("");
const geminiFinal = (e: ClientEvent) =>
  e.data?.candidates?.[0]?.finishReason !== undefined && e.data?.usageMetadata !== undefined;

const CLIENTS: ClientDialect[] = [
  {
    name: "OpenAI chat",
    native: "oa",
    request: (origin, model) =>
      post(`${origin}/v1/chat/completions`, {
        model,
        stream: true,
        messages: [{ role: "user", content: PROMPT }],
      }),
    events: sseEvents,
    text: (events) => events.map((e) => e.data?.choices?.[0]?.delta?.content ?? "").join(""),
    isError: (e) => e.data?.error !== undefined,
    isFinal: (e) => e.name === "[DONE]",
  },
  {
    name: "OpenAI responses",
    native: "oa",
    request: (origin, model) =>
      post(`${origin}/v1/responses`, { model, stream: true, input: PROMPT }),
    events: sseEvents,
    text: (events) =>
      events
        .filter((e) => e.data?.type === "response.output_text.delta")
        .map((e) => e.data.delta)
        .join(""),
    isError: (e) =>
      e.data?.type === "error" || e.data?.type === "response.failed" || e.name === "error",
    isFinal: (e) => e.data?.type === "response.completed",
  },
  {
    name: "OpenAI completions",
    native: "oa",
    request: (origin, model) =>
      post(`${origin}/v1/completions`, { model, stream: true, prompt: PROMPT }),
    events: sseEvents,
    text: (events) => events.map((e) => e.data?.choices?.[0]?.text ?? "").join(""),
    isError: (e) => e.data?.error !== undefined,
    isFinal: (e) => e.name === "[DONE]",
  },
  {
    name: "Anthropic messages",
    native: "an",
    request: (origin, model) =>
      post(
        `${origin}/v1/messages`,
        { model, max_tokens: 256, stream: true, messages: [{ role: "user", content: PROMPT }] },
        { "anthropic-version": "2023-06-01" },
      ),
    events: sseEvents,
    text: (events) =>
      events
        .filter((e) => e.data?.delta?.type === "text_delta")
        .map((e) => e.data.delta.text)
        .join(""),
    isError: (e) => e.name === "error" || e.data?.type === "error",
    isFinal: (e) => e.data?.type === "message_stop",
  },
  {
    name: "Gemini streamGenerateContent?alt=sse",
    native: "ge",
    request: (origin, model) =>
      post(`${origin}/v1beta/models/${model}:streamGenerateContent?alt=sse`, {
        contents: [{ role: "user", parts: [{ text: PROMPT }] }],
      }),
    events: sseEvents,
    text: geminiText,
    isError: (e) => e.data?.error !== undefined,
    isFinal: geminiFinal,
  },
  {
    name: "Gemini streamGenerateContent (JSON array)",
    native: "ge",
    request: (origin, model) =>
      post(`${origin}/v1beta/models/${model}:streamGenerateContent`, {
        contents: [{ role: "user", parts: [{ text: PROMPT }] }],
      }),
    // The whole array must parse: nothing may follow its closing bracket.
    events: (body) => (JSON.parse(body) as unknown[]).map((data) => ({ data })),
    text: geminiText,
    isError: (e) => e.data?.error !== undefined,
    isFinal: geminiFinal,
  },
];

const UPSTREAMS: UpstreamName[] = ["oa", "an", "ge"];
const PAIRS = CLIENTS.flatMap((client) =>
  UPSTREAMS.map((upstream) => ({
    client,
    upstream,
    label: `${client.name} client, ${upstream === client.native ? "same dialect" : "translated"} (${upstream} upstream)`,
  })),
);

/** Three single-account upstreams whose fakes deliver every answer through `profile`. */
function startSetup(profile: NetworkProfile): {
  gw: TestGateway;
  fakes: Record<UpstreamName, FakeUpstream>;
  stop(): Promise<void>;
} {
  const options = { network: profile };
  const fakes = {
    oa: fakeOpenAI(KEYS.oa, options),
    an: fakeAnthropic(KEYS.an, options),
    ge: fakeGemini(KEYS.ge, options),
  };
  const gw = startGateway({
    gateway:
      "proxy:\n  cooldown_wait: 0\n" +
      upstreamsYaml([
        // All three OpenAI APIs forwarded as they are, so every OpenAI client has a same-dialect path.
        {
          name: "oa",
          protocol: "openai",
          base_url: `${fakes.oa.url}/v1`,
          apis: ALL_OPENAI_APIS,
          accounts: [{ name: "only", key: KEYS.oa }],
        },
        {
          name: "an",
          protocol: "anthropic",
          base_url: fakes.an.url,
          accounts: [{ name: "only", key: KEYS.an }],
        },
        {
          name: "ge",
          protocol: "gemini",
          base_url: fakes.ge.url,
          accounts: [{ name: "only", key: KEYS.ge }],
        },
      ]),
    mappings: `exact:\n  to-oa: oa/gpt-4o-real\n  to-an: an/claude-sonnet-4-5-real\n  to-ge: ge/gemini-2.5-flash-real\n`,
  });
  return {
    gw,
    fakes,
    async stop() {
      await gw.stop();
      await Promise.all(Object.values(fakes).map((fake) => fake.stop()));
    },
  };
}

/** A promise that fails after `ms` with `message`, for a wait that must end. */
function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const utf8 = new TextEncoder();
const decode = new TextDecoder();

/**
 * Sends the client's request and checks its answer is whole and clean; returns the body. A
 * forwarded stream must be the upstream's bytes up to its final event; `exactly` says nothing may
 * follow them, otherwise only more of what the upstream sent (a comment it sent in the same moment)
 * may, never an event.
 */
async function askAndCheck(
  gw: TestGateway,
  fake: FakeUpstream,
  client: ClientDialect,
  upstream: UpstreamName,
  exactly = true,
): Promise<string> {
  const before = fake.deliveries().length;
  const response = await fetch(client.request(gw.origin, MODELS[upstream]));
  expect(response.status).toBe(200);
  const body = await within(
    response.text(),
    FINISH_WITHIN_MS,
    `the client's stream did not end within ${FINISH_WITHIN_MS} ms of the upstream's final event`,
  );
  const events = client.events(body);
  expect(events.filter((e) => client.isError(e))).toEqual([]);
  expect(client.text(events)).toBe(TEXT);
  // The final event came, once, and nothing after it.
  expect(events.filter((e) => client.isFinal(e)).length).toBe(1);
  expect(client.isFinal(events.at(-1)!)).toBe(true);
  const delivery = fake.deliveries()[before];
  expect(delivery).toBeDefined();
  if (upstream === client.native) {
    // Forwarded byte for byte: exactly what the upstream sent, up to the end of its final event.
    const { text, finalEnd } = await delivery!.wire;
    const upToFinal = decode.decode(utf8.encode(text).subarray(0, finalEnd));
    if (exactly) expect(body).toBe(upToFinal);
    else {
      expect(body.startsWith(upToFinal)).toBe(true);
      expect(text.startsWith(body)).toBe(true);
    }
  }
  return body;
}

/** The account behind `upstream` took no failure and is not cooling. */
async function expectHealthy(gw: TestGateway, upstream: UpstreamName): Promise<void> {
  const accounts = (
    (await (await fetch(`${gw.origin}/levity/accounts`)).json()) as { accounts: any[] }
  ).accounts;
  const account = accounts.find((a) => a.upstream === upstream);
  expect({
    state: account.state,
    failures: account.failures,
    consecutiveFailures: account.consecutiveFailures,
    modelCooldowns: account.modelCooldowns,
  }).toEqual({
    state: "healthy",
    failures: 0,
    consecutiveFailures: 0,
    modelCooldowns: {},
  });
}

/** The upstream's body was let go of (the gateway hung up) or ended by itself, soon after the answer. */
async function expectReleased(fake: FakeUpstream, end: BodyEnd): Promise<void> {
  const delivery = fake.deliveries().at(-1)!;
  const release = await within<Release>(
    delivery.released,
    FINISH_WITHIN_MS,
    "the gateway kept the upstream's open body after its final event",
  );
  if (end.kind === "open") expect(release).toBe("hung-up");
}

/** Data an upstream might send after its final event, in its own format, with text that must never reach the client. */
function trailingFor(kind: BodyKind): string {
  const late = "LATE";
  switch (kind) {
    case "openai-data":
      return `data: ${JSON.stringify({ id: "chatcmpl-late", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: late }, finish_reason: null }] })}\n\n`;
    case "openai-typed":
      return `event: response.output_text.delta\ndata: ${JSON.stringify({ type: "response.output_text.delta", sequence_number: 999, item_id: "msg_fake1", output_index: 0, content_index: 0, delta: late })}\n\n`;
    case "anthropic":
      return `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: late } })}\n\n`;
    case "gemini-sse":
      return `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: late }] }, index: 0 }] })}\r\n\r\n`;
    default:
      return `,\r\n${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: late }] }, index: 0 }] })}]`;
  }
}

const ENDS: [string, BodyEnd][] = [
  ["ends 1 ms after the final event", { kind: "late", ms: 1 }],
  ["ends 5 ms after the final event", { kind: "late", ms: 5 }],
  ["ends 50 ms after the final event", { kind: "late", ms: 50 }],
  ["never ends (kept open until the gateway hangs up)", { kind: "open" }],
];

describe.each(ENDS)("an upstream body that %s", (_name, end) => {
  let setup: ReturnType<typeof startSetup>;
  beforeAll(() => {
    setup = startSetup({ seed: 1, reshape: false, end });
  });
  afterAll(() => setup.stop());

  test.each(PAIRS)(
    "$label: a clean finish, and the account stays healthy",
    async ({ client, upstream }) => {
      await askAndCheck(setup.gw, setup.fakes[upstream], client, upstream);
      await expectReleased(setup.fakes[upstream], end);
      await expectHealthy(setup.gw, upstream);
    },
  );
});

// The extra event comes 5 ms after the final one, or in the same write (one chunk holds both);
// the body ends 50 ms after that.
describe.each<[string, number | "same write"]>([
  ["5 ms after it", 5],
  ["in the same write", "same write"],
])("data after the final event, %s, is ignored", (_when, afterMs) => {
  let setup: ReturnType<typeof startSetup>;
  beforeAll(() => {
    setup = startSetup({
      seed: 2,
      reshape: false,
      end: { kind: "late", ms: 50 },
      trailing: { text: trailingFor, afterMs },
    });
  });
  afterAll(() => setup.stop());

  test.each(PAIRS)("$label", async ({ client, upstream }) => {
    const body = await askAndCheck(setup.gw, setup.fakes[upstream], client, upstream);
    expect(body).not.toContain("LATE");
    await expectReleased(setup.fakes[upstream], { kind: "late", ms: 50 });
    await expectHealthy(setup.gw, upstream);
  });
});

describe("the final event's last bytes arriving one by one (its blank line split, CR from LF)", () => {
  let setup: ReturnType<typeof startSetup>;
  beforeAll(() => {
    setup = startSetup({
      seed: 3,
      reshape: false,
      end: { kind: "open" },
      cutsBeforeFinalEnd: [-3, -2, -1],
    });
  });
  afterAll(() => setup.stop());

  test.each(PAIRS)("$label", async ({ client, upstream }) => {
    await askAndCheck(setup.gw, setup.fakes[upstream], client, upstream);
    await expectReleased(setup.fakes[upstream], { kind: "open" });
    await expectHealthy(setup.gw, upstream);
  });
});

// The same exchanges through the whole simulated network: bytes cut anywhere (inside this text's
// multi-byte characters too), paused, compressed, with comments, pings and event lines, and
// every kind of end. LEVITY_NET_SEEDS=a,b,... replaces the default seeds.
const NET_SEEDS = process.env.LEVITY_NET_SEEDS?.split(",").map(Number) ?? [11, 12, 13];

describe.each(NET_SEEDS)("through the simulated network, seed %d", (seed) => {
  let setup: ReturnType<typeof startSetup>;
  beforeAll(() => {
    setup = startSetup({ seed });
  });
  afterAll(() => setup.stop());

  test.each(PAIRS)("$label", async ({ client, upstream }) => {
    const fake = setup.fakes[upstream];
    try {
      await askAndCheck(setup.gw, fake, client, upstream, false);
      await expectReleased(fake, fake.deliveries().at(-1)!.plan.end);
      await expectHealthy(setup.gw, upstream);
    } catch (error) {
      console.error(
        `network seed ${seed} (replay: LEVITY_NET_SEEDS=${seed} npx bun test test/stream-end.test.ts): ${fake.deliveries().at(-1)?.describe()}`,
      );
      throw error;
    }
  });
});
