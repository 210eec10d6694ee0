import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import OpenAI from "openai";
import { type CuttableFront, cuttableFront } from "./support/cuttable-front.ts";
import { fakeAnthropic } from "./support/fake-anthropic.ts";
import { fakeOpenAI } from "./support/fake-openai.ts";
import type { FakeUpstream } from "./support/fake-server.ts";
import { type Instance, type Instances, startInstances } from "./support/instances.ts";
import { redisAvailable, TestRedis } from "./support/redis.ts";
import { waitUntil } from "./support/wait.ts";
import { toolCallRequest, toolResultRequest } from "./support/weather-tool-loop.ts";

/*
 * A client answered by one instance that at once asks another, as behind a load balancer: what
 * the first instance kept for the conversation (a stored response, a tool call's signed thinking,
 * which account holds a response stored upstream) must already be in Redis when its client has
 * the answer. Instance A reaches Redis through a front that delays what A sends by LAG_MS, so a
 * write A did not wait for is still on its way when the client asks B; B reaches Redis directly.
 */

const READY = redisAvailable("shared-read-your-writes.test.ts");
const LAG_MS = 200;
const KEYS = ["sk-an-ryw-1"];
const MODEL = "claude-sonnet-4-5";
const OPENAI_KEYS = ["sk-oa-ryw-1", "sk-oa-ryw-2", "sk-oa-ryw-3"];
const OPENAI_MODEL = "gpt-4o-real";

let redis: TestRedis;
let front: CuttableFront;
let stalling: CuttableFront;
let an: FakeUpstream;
let oa: FakeUpstream;
const started: Instances[] = [];
let A: Instance;
let B: Instance;
let C: Instance;

/**
 * The OpenAI upstream fills its first account first, and A lists them in another order than B:
 * a response A stores is on an account B would not pick unless the pin sends it there.
 */
const gateway = (stateUrl: string, timeoutMs: number, openaiOrder: number[]) => `proxy:
  data_dir: {{DATA_DIR}}
  cooldown_wait: 0
state: { url: "${stateUrl}", timeout_ms: ${timeoutMs} }
upstreams:
  - name: an
    protocol: anthropic
    base_url: ${an.url}
    accounts:
      - { name: a1, key: ${KEYS[0]} }
  - name: oa
    protocol: openai
    base_url: ${oa.url}/v1
    apis: [chat, responses]
    strategy: fill_first
    accounts:
${openaiOrder.map((i) => `      - { name: o${i + 1}, key: ${OPENAI_KEYS[i]} }`).join("\n")}
`;

async function instanceOn(
  stateUrl: string,
  { timeoutMs = 5000, openaiOrder = [0, 1, 2] } = {},
): Promise<Instance> {
  const instances = await startInstances(1, {
    gateway: gateway(stateUrl, timeoutMs, openaiOrder),
    mappings: `exact:\n  ${OPENAI_MODEL}: [oa/${OPENAI_MODEL}]\n`,
  });
  started.push(instances);
  const instance = instances.all[0]!;
  await waitUntil(
    "the instance to reach Redis",
    () => instance.output().includes("is reachable"),
    10_000,
  );
  return instance;
}

beforeAll(async () => {
  if (!READY) return;
  redis = new TestRedis();
  await redis.start();
  front = await cuttableFront(redis.url, LAG_MS);
  // Each answer's tool calls their own ids, as Anthropic's are: a call id B had learned from an
  // earlier case would let a later one pass without its own write.
  an = fakeAnthropic(KEYS, { uniqueToolIds: true });
  oa = fakeOpenAI(OPENAI_KEYS);
  A = await instanceOn(front.url, { openaiOrder: [1, 0, 2] });
  B = await instanceOn(redis.url);
  stalling = await cuttableFront(redis.url);
  C = await instanceOn(stalling.url, { timeoutMs: 300 });
}, 60_000);

afterAll(async () => {
  if (!READY) return;
  for (const instances of started) await instances.stop();
  await front?.stop();
  await stalling?.stop();
  await an?.stop();
  await oa?.stop();
  await redis?.stop();
});

const client = (instance: Instance) =>
  new OpenAI({ baseURL: `${instance.origin}/v1`, apiKey: "sk-unused", maxRetries: 0 });

/** The tool's result, sent to B for a call A answered: the upstream refuses it without A's signed thinking. */
async function toolResultOnB(call: OpenAI.Chat.ChatCompletionMessageToolCall): Promise<void> {
  await client(B).chat.completions.create(toolResultRequest(MODEL, call));
  const turn = an.last().json.messages[1].content;
  expect(turn[0].type).toBe("thinking");
  expect(turn[1].type).toBe("tool_use");
}

describe.skipIf(!READY)("an instance answers once Redis has what the answer left", () => {
  test("a Responses answer stored on A is continued on B at once", async () => {
    const first = await client(A).responses.create({ model: MODEL, input: "The word is: larch." });
    const continued = await client(B).responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: "Which word?",
    });
    expect(continued.previous_response_id).toBe(first.id);
    const sent = JSON.stringify(an.last().json);
    expect(sent).toContain("The word is: larch.");
    expect(sent).toContain(first.output_text);
  });

  test("a streamed Responses answer stored on A is continued on B as soon as its stream ends", async () => {
    const stream = await client(A).responses.create({
      model: MODEL,
      input: "The word is: rowan.",
      stream: true,
    });
    let id: string | undefined;
    for await (const event of stream)
      if (event.type === "response.completed") id = event.response.id;
    expect(id).toBeDefined();
    const continued = await client(B).responses.create({
      model: MODEL,
      previous_response_id: id,
      input: "Which word?",
    });
    expect(continued.previous_response_id).toBe(id!);
    expect(JSON.stringify(an.last().json)).toContain("The word is: rowan.");
  });

  test("a tool call's signed thinking kept by A reaches the upstream when B has the tool's result", async () => {
    const first = await client(A).chat.completions.create(toolCallRequest(MODEL));
    await toolResultOnB(first.choices[0]!.message.tool_calls![0]!);
  });

  test("the same from a streamed answer", async () => {
    const stream = client(A).chat.completions.stream(toolCallRequest(MODEL));
    const assembled = await stream.finalChatCompletion();
    await toolResultOnB(assembled.choices[0]!.message.tool_calls![0]!);
  });

  // OpenAI keeps a stored response on the account that made it, and the fake answers 404 from any
  // other, as OpenAI does. A stores on o2, and only the pin brings B, which picks o1, there.
  test("a response an OpenAI account stored through A is continued through B on that account", async () => {
    const { data: first, response } = await client(A)
      .responses.create({ model: OPENAI_MODEL, input: "one" })
      .withResponse();
    const holder = response.headers.get("x-account")!;
    expect(holder).toBe("o2");
    const next = await client(B)
      .responses.create({ model: OPENAI_MODEL, input: "more", previous_response_id: first.id })
      .withResponse();
    expect(next.response.headers.get("x-account")).toBe(holder);
  });

  test("the same from a streamed response, continued as soon as its stream ends", async () => {
    const { data: stream, response } = await client(A)
      .responses.create({ model: OPENAI_MODEL, input: "two", stream: true })
      .withResponse();
    const holder = response.headers.get("x-account")!;
    expect(holder).toBe("o2");
    let id: string | undefined;
    for await (const event of stream)
      if (event.type === "response.completed") id = event.response.id;
    const next = await client(B)
      .responses.create({ model: OPENAI_MODEL, input: "more", previous_response_id: id })
      .withResponse();
    expect(next.response.headers.get("x-account")).toBe(holder);
  });

  test("a Redis that stalls holds the answer no longer than timeout_ms, and the write it missed is pushed once Redis answers again", async () => {
    const reader = new RedisClient(redis.url);
    const stored = async (id: string) =>
      (await reader.send("EXISTS", [`levity:response:${id}`])) === 1;
    stalling.lag(3000);
    try {
      const started = performance.now();
      const answered = await client(C).responses.create({ model: MODEL, input: "Stalled?" });
      expect(answered.status).toBe("completed");
      // Its deadline is 300 ms (test/shared-link.test.ts holds a script's retry to the one deadline).
      expect(performance.now() - started).toBeLessThan(1500);
      expect(await stored(answered.id)).toBe(false);
      // The stalled connection is let go when the link reconnects, its late bytes with it: what
      // reaches Redis is the write pushed again.
      stalling.lag(0);
      await waitUntil(
        "C to push the response it could not write",
        () => stored(answered.id),
        15_000,
      );
    } finally {
      stalling.lag(0);
      reader.close();
    }
  }, 20_000);

  test("a pin Redis did not take in its deadline is pushed once Redis answers again", async () => {
    const reader = new RedisClient(redis.url);
    stalling.lag(3000);
    try {
      // C fills its first account, o1; the pin's write misses the 300 ms deadline.
      const { data: stored, response } = await client(C)
        .responses.create({ model: OPENAI_MODEL, input: "pin me while stalled" })
        .withResponse();
      expect(response.headers.get("x-account")).toBe("o1");
      const pin = `levity:pin:2:oa:${stored.id}`;
      expect(await reader.send("GET", [pin])).toBeNull();
      stalling.lag(0);
      await waitUntil(
        "C to push the pin it could not write",
        async () => (await reader.send("GET", [pin])) === "o1",
        15_000,
      );
    } finally {
      stalling.lag(0);
      reader.close();
    }
  }, 20_000);

  test("a pin made while Redis was out of reach is pushed once it is back", async () => {
    const reader = new RedisClient(redis.url);
    const unreachable = () => C.output().split("is unreachable").length - 1;
    const before = unreachable();
    stalling.cut();
    try {
      await waitUntil("C to find Redis gone", () => unreachable() > before, 10_000);
      const stored = await client(C).responses.create({
        model: OPENAI_MODEL,
        input: "pin me while cut off",
      });
      const pin = `levity:pin:2:oa:${stored.id}`;
      expect(await reader.send("GET", [pin])).toBeNull();
      stalling.heal();
      await waitUntil(
        "C to push the pin it made while cut off",
        async () => (await reader.send("GET", [pin])) === "o1",
        15_000,
      );
    } finally {
      stalling.heal();
      reader.close();
    }
  }, 30_000);
});
