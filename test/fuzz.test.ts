import { afterAll, beforeAll, expect, test } from "bun:test";
import { startSoakUpstream, type SoakUpstream } from "../bench/soak-upstream.ts";
import { startGateway, upstreamsYaml, type TestGateway } from "./support/gateway.ts";
import { expectErrorShape, type Family } from "./support/error-shape.ts";
import { mulberry32 } from "./support/prng.ts";

/*
 * A mutation fuzzer: valid requests of every dialect, each mutated one to three times (a field
 * removed, retyped, nested deep, made huge; the JSON text cut or a byte flipped), sent to the
 * real server, which forwards them to an upstream of their own dialect or translates them for
 * echo. No answer may be a 5xx, every error must be in the client's own shape, and the gateway
 * must still be serving at the end. Seeded and reproducible:
 *   LEVITY_FUZZ_SEED=<n> LEVITY_FUZZ_CASES=<n> bun test test/fuzz.test.ts
 */

const SEED = Number(process.env.LEVITY_FUZZ_SEED ?? 20261121);
const CASES = Number(process.env.LEVITY_FUZZ_CASES ?? 20_000);
const CONCURRENCY = 32;

let gw: TestGateway;
let upstream: SoakUpstream;
beforeAll(() => {
  // The chat, messages and Gemini seeds' models go to upstreams of their own dialect, so their
  // mutations are forwarded as they are; the Responses and completions seeds, and any mutated
  // model name, go to echo through translation. The upstreams answer every request with a fixed,
  // valid answer: what is fuzzed is levity, not a fake.
  upstream = startSoakUpstream({ faultEvery: Number.MAX_SAFE_INTEGER, paceMs: 0 });
  gw = startGateway({
    gateway:
      "proxy:\n  auth_mode: off\n  max_body_mb: 1\n" +
      upstreamsYaml([
        { name: "echo", protocol: "echo" },
        {
          name: "oa",
          protocol: "openai",
          base_url: `${upstream.url}/v1`,
          accounts: [{ name: "a", key: "sk-fuzz-openai-01" }],
        },
        {
          name: "an",
          protocol: "anthropic",
          base_url: upstream.url,
          accounts: [{ name: "a", key: "sk-fuzz-anthropic-01" }],
        },
        {
          name: "gm",
          protocol: "gemini",
          base_url: upstream.url,
          accounts: [{ name: "a", key: "gm-fuzz-gemini-01" }],
        },
      ]),
    mappings:
      "exact:\n  gpt-4o: oa/soak\n  claude-sonnet-4-5: an/soak\n  gemini-2.5-flash: gm/soak\n",
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.stop();
});

interface Seed {
  family: Family;
  path: string;
  body: Record<string, unknown>;
}

const tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const SEEDS: Seed[] = [
  {
    family: "openai",
    path: "/v1/chat/completions",
    body: {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "hi" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          ],
        },
      ],
      max_tokens: 50,
      temperature: 0.5,
      tools: [tool],
      stream: false,
    },
  },
  {
    family: "openai",
    path: "/v1/chat/completions",
    body: {
      model: "gpt-4o",
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: "user", content: 'use the tool get_weather for "Paris"' },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
      tools: [tool],
    },
  },
  {
    family: "openai",
    path: "/v1/completions",
    body: {
      model: "gpt-3.5-turbo-instruct",
      prompt: ["Say hi", "twice"],
      max_tokens: 16,
      stream: false,
    },
  },
  {
    family: "openai",
    path: "/v1/responses",
    body: {
      model: "o3",
      instructions: "Be brief.",
      input: [
        { role: "user", content: [{ type: "input_text", text: "hi" }] },
        { type: "function_call", call_id: "c1", name: "get_weather", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: "sunny" },
      ],
      tools: [
        { type: "function", name: "get_weather", parameters: { type: "object", properties: {} } },
      ],
      reasoning: { effort: "low" },
      stream: true,
    },
  },
  {
    family: "anthropic",
    path: "/v1/messages",
    body: {
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      system: [{ type: "text", text: "Be brief." }],
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "hi" },
            {
              type: "image",
              source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
            },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "sunny" }],
        },
      ],
      tools: [
        {
          name: "get_weather",
          input_schema: { type: "object", properties: { city: { type: "string" } } },
        },
      ],
      stream: true,
    },
  },
  {
    family: "anthropic",
    path: "/v1/messages/count_tokens",
    body: { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "count me" }] },
  },
  {
    family: "gemini",
    path: "/v1beta/models/gemini-2.5-flash:generateContent",
    body: {
      systemInstruction: { parts: [{ text: "Be brief." }] },
      contents: [
        {
          role: "user",
          parts: [{ text: "hi" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }],
        },
        {
          role: "model",
          parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }],
        },
        {
          role: "user",
          parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: "get_weather",
              parameters: { type: "OBJECT", properties: { city: { type: "STRING" } } },
            },
          ],
        },
      ],
      generationConfig: {
        maxOutputTokens: 64,
        thinkingConfig: { thinkingBudget: 128, includeThoughts: true },
      },
    },
  },
  {
    family: "gemini",
    path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    body: { contents: [{ role: "user", parts: [{ text: "stream to me" }] }] },
  },
  {
    family: "gemini",
    path: "/v1beta/models/gemini-2.5-flash:countTokens",
    body: { contents: [{ role: "user", parts: [{ text: "count me" }] }] },
  },
];

type Json = unknown;

function randomValue(random: () => number): Json {
  const pick = Math.floor(random() * 14);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return true;
    case 2:
      return -1;
    case 3:
      return 1e308;
    case 4:
      return "";
    case 5:
      return "x".repeat(Math.floor(random() * 200_000));
    case 6:
      return "\u0000\ud800\uffff☃";
    case 7:
      return [];
    case 8:
      return {};
    case 9:
      return [null, 1, "a", {}];
    case 10: {
      let nested: Json = "bottom";
      for (let i = 0, depth = Math.floor(random() * 5000); i < depth; i++)
        nested = random() < 0.5 ? [nested] : { a: nested };
      return nested;
    }
    case 11:
      return { type: "text", text: 5 };
    case 12:
      return "__proto__";
    default:
      return Math.floor(random() * 1e6) - 5e5;
  }
}

/** Every place in the tree a mutation can land: [container, key]. */
function places(root: Json): [Record<string, Json> | Json[], string | number][] {
  const out: [Record<string, Json> | Json[], string | number][] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) {
      for (const [i, child] of node.entries()) {
        out.push([node, i]);
        walk(child);
      }
    } else if (node && typeof node === "object") {
      for (const [key, child] of Object.entries(node)) {
        out.push([node as Record<string, Json>, key]);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

function mutate(
  seed: Seed,
  random: () => number,
): { path: string; body: string | Uint8Array; headers: Record<string, string> } {
  const body = structuredClone(seed.body) as Record<string, Json>;
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    const all = places(body);
    if (all.length === 0) break;
    const [container, key] = all[Math.floor(random() * all.length)]!;
    const action = random();
    const target = container as Record<string | number, Json>;
    if (action < 0.25) {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete target[key];
    } else if (action < 0.8) target[key] = randomValue(random);
    else if (action < 0.9) target[key] = [target[key]];
    else target[key] = { value: target[key] };
  }
  let text: string | Uint8Array = JSON.stringify(body);
  const textual = random();
  if (textual < 0.08) text = text.slice(0, Math.floor(random() * text.length));
  else if (textual < 0.14) {
    const bytes = new TextEncoder().encode(text);
    bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    text = bytes;
  }
  const headers: Record<string, string> = {
    "content-type": [
      "application/json",
      "text/plain",
      "application/json; charset=latin1",
      "application/octet-stream",
    ][Math.floor(random() * 4)]!,
  };
  return { path: seed.path, body: text, headers };
}

interface Finding {
  index: number;
  path: string;
  status: number;
  problem: string;
  body: string;
}

test(`${CASES} mutated requests (seed ${SEED}): no 5xx, every error in the client's shape, still serving`, async () => {
  const random = mulberry32(SEED);
  // Generated up front, in order, so a case index names the same request on every run.
  const cases = Array.from({ length: CASES }, (_, index) => {
    const seed = SEEDS[index % SEEDS.length]!;
    return { index, family: seed.family, ...mutate(seed, random) };
  });
  const findings: Finding[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let status = 0;
      let text = "";
      try {
        const response = await fetch(gw.origin + c.path, {
          method: "POST",
          body: c.body,
          headers: c.headers,
        });
        status = response.status;
        text = await response.text();
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) throw new Error("a 5xx");
        if (status >= 400) expectErrorShape(c.family, JSON.parse(text), status);
      } catch (error) {
        findings.push({
          index: c.index,
          path: c.path,
          status,
          problem: (error as Error).message.slice(0, 300),
          body: text.slice(0, 300),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (findings.length > 0) {
    console.error(`fuzz seed ${SEED}: ${findings.length} findings; first:`, findings.slice(0, 5));
    const errors = [
      ...new Set(
        gw.log.lines.filter((line) => line.startsWith("ERROR")).map((line) => line.slice(0, 600)),
      ),
    ];
    console.error(
      `the gateway's errors (${errors.length} distinct):\n${errors.slice(0, 8).join("\n---\n")}`,
    );
  }
  console.log(
    `fuzz seed ${SEED}: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`,
  );
  expect(findings).toEqual([]);
  // The mutations must reach both sides: requests refused, and requests served, some of them forwarded.
  expect(statuses.get(200) ?? 0).toBeGreaterThan(CASES / 20);
  expect(upstream.served()).toBeGreaterThan(CASES / 50);
  expect(statuses.get(400) ?? 0).toBeGreaterThan(CASES / 20);
  expect((await fetch(`${gw.origin}/healthz`)).status).toBe(200);
}, 240_000);
